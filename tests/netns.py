"""Network namespaces for the vantage-point tests: a private loopback where the lab and the scanner run
together, with the routes and filters of a real vantage point. Root only (CI is root); tests skip otherwise.

- IPv6 that works: the lab's prefix is local (`ip -6 route add local PREFIX dev lo`);
- an IPv4-only vantage point: the same prefix is an `unreachable` route, as on a host without IPv6;
- outbound port 25 blocked: an nftables rule drops the SYNs to the lab's SMTP port (nothing answers, as
  behind most ISP blocks).
`net.ipv6.ip_nonlocal_bind=1` lets the lab listen on its IPv6 addresses without configuring each one.
Nothing leaves the namespace: it has no interface but its own loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True, timeout=30)


def skip_reason(*, nft: bool = False) -> str | None:
    """Why the namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip): `make test` installs it from Debian when it can"
    if not Path("/proc/sys/net/ipv6").exists():
        return "IPv6 is disabled in this kernel"
    if nft and shutil.which("nft") is None:
        return "needs nftables (nft): `make test` installs it from Debian when it can"
    probe = f"auditor-probe-{secrets.token_hex(3)}"
    try:
        _run("ip", "netns", "add", probe)
        _run("ip", "netns", "del", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"network namespaces unavailable here: {exc}"
    return None


def in_ns(name: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", name, *argv]


@contextlib.contextmanager
def namespace(*, local6: str | None = None, unreachable6: str | None = None,
              drop_tcp_port: int | None = None) -> Iterator[str]:
    name = f"auditor-{os.getpid()}-{secrets.token_hex(3)}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run(*in_ns(name, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/ip_nonlocal_bind"))  # per namespace
        if local6:
            _run("ip", "-n", name, "-6", "route", "add", "local", local6, "dev", "lo")
        if unreachable6:
            _run("ip", "-n", name, "-6", "route", "add", "unreachable", unreachable6)
        if drop_tcp_port is not None:
            ruleset = ("table inet auditor_vantage {\n chain output {\n  type filter hook output priority 0;\n"
                       f"  tcp dport {drop_tcp_port} drop\n }}\n}}\n")
            _run(*in_ns(name, "nft", "-f", "-"), stdin=ruleset)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


@contextlib.contextmanager
def lab_in(name: str, *, net: int = 77, ipv6: bool = False) -> Iterator[list[str]]:
    """`auditor lab serve` inside the namespace; yields the flags a scan needs."""
    argv = in_ns(name, sys.executable, "-m", "auditor", "lab", "serve", "--net", str(net), *(["--ipv6"] * ipv6))
    serve = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        line, deadline = "", time.monotonic() + 60
        while not line.startswith("scan it with:") and time.monotonic() < deadline and serve.poll() is None:
            line = serve.stdout.readline()
        if not line.startswith("scan it with:"):
            raise RuntimeError(f"the lab did not start in the namespace: {serve.stderr.read() if serve.stderr else ''}")
        yield line.removeprefix("scan it with: auditor scan ").split()
    finally:
        serve.terminate()
        serve.wait(timeout=15)


def auditor_in(name: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(in_ns(name, sys.executable, "-m", "auditor", *args), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
