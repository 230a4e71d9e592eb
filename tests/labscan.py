"""Shared by the tests that scan the lab: one scan of chosen providers, and finding look-ups."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from auditor.catalog import load_catalog
from auditor.findings import Audit, Finding, ProviderResult
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.scan import run_scan
from auditor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def scan_lab(settings: Settings, real: Sequence[str], lab_only: Sequence[str]) -> Audit:
    """Providers from providers.yaml and from the lab's own catalog, scanned together."""
    providers = [*load_catalog(ROOT / "providers.yaml").select(real), *load_catalog(LAB_CATALOG).select(lab_only)]
    return asyncio.run(run_scan(providers, settings))


def provider(audit: Audit, pid: str) -> ProviderResult:
    return next(p for p in audit.providers if p.id == pid)


def checks(audit: Audit, pid: str, check: str) -> list[Finding]:
    found = [c for c in provider(audit, pid).checks if c.id == check]
    assert found, f"{pid} has no {check} finding"
    return found


def _candidate_nets() -> list[int]:
    """AUDITOR_LAB_NET when set, else 77 then random others: several test runs may share this machine."""
    if os.environ.get("AUDITOR_LAB_NET"):
        return [int(os.environ["AUDITOR_LAB_NET"])]
    others = random.sample([n for n in range(100, 250) if n != 77], 8)
    return [77, *others]


def start_lab(factory: Callable[..., Lab] = Lab, nets: Sequence[int] | None = None, **kwargs: object) -> Lab:
    """Start a lab on the first free 127.<net>.0.0/16 (an address in use raises OSError: try the next)."""
    last: OSError | None = None
    for net in nets or _candidate_nets():
        lab = factory(net=net, **kwargs)
        try:
            return lab.start()
        except OSError as exc:
            last = exc
    raise RuntimeError(f"no free lab network on loopback: {last}")
