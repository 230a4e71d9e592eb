"""Start a lab where it fits: several labs (a demo, `auditor lab serve`, test runs) share one machine, each on
its own 127.<net>.0.0/16. A net whose addresses are taken is skipped; when the caller named the net, that is
one line saying which address is taken and the way out, never a traceback."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from auditor.errors import EXIT_SCAN_FAILED, AuditorError
from auditor.lab.runner import Lab

DEFAULT_NET = 77
OTHER_NETS = range(100, 250)
TRIES = 8


class LabUnavailable(AuditorError):
    """The lab could not start on loopback: the demo or `lab serve` could not run (exit 3)."""

    exit_code = EXIT_SCAN_FAILED


def candidate_nets(environ: Mapping[str, str] | None = None) -> list[int]:
    """AUDITOR_LAB_NET when set, else 77 then random others."""
    env = os.environ if environ is None else environ
    if env.get("AUDITOR_LAB_NET"):
        return [int(env["AUDITOR_LAB_NET"])]
    return [DEFAULT_NET, *random.sample([n for n in OTHER_NETS if n != DEFAULT_NET], TRIES)]


def start_free(factory: Callable[..., Lab] = Lab, nets: Sequence[int] | None = None, **kwargs: Any) -> Lab:
    """A started lab on the first of `nets` (default: `candidate_nets()`) whose addresses are free.

    Raises LabUnavailable (one line) when every net is taken or loopback refuses the addresses."""
    tried = list(nets) if nets is not None else candidate_nets()
    last: OSError | None = None
    for net in tried:
        lab = factory(net=net, **kwargs)
        try:
            return lab.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise LabUnavailable(f"cannot start the lab on 127.{net}.0.0/16: {exc.strerror or exc}") from exc
            last = exc
    detail = (last.strerror or str(last)) if last else "no net to try"
    if len(tried) == 1:
        raise LabUnavailable(f"the lab's addresses 127.{tried[0]}.x.y are taken ({detail}): another lab (`auditor "
                             "lab serve`, `auditor demo`, a test run) holds them; stop it, or leave out --net to take "
                             "free ones")
    raise LabUnavailable(f"no free lab addresses on loopback (tried 127.N.x.y for N in "
                         f"{', '.join(map(str, tried))}: {detail}); stop other labs or set AUDITOR_LAB_NET")
