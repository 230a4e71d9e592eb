"""Shared by the tests that scan the lab: one scan of chosen providers, finding look-ups, and `start_lab` (a
lab on a free 127.<net>/16, as the demo starts one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from auditor.catalog import load_catalog
from auditor.findings import Audit, Finding, ProviderResult
from auditor.lab import Lab
from auditor.lab.free_net import DEFAULT_NET
from auditor.lab.free_net import start_free as start_lab
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


@contextlib.contextmanager
def default_net_taken() -> Iterator[None]:
    """Another lab on the default 127.77.x.y (ours, unless one is already there: taken either way)."""
    other: Lab | None = Lab(net=DEFAULT_NET, catalogs=[])
    try:
        assert other is not None
        other.start()
    except OSError:
        other = None
    try:
        yield
    finally:
        if other is not None:
            other.stop()


__all__ = ["checks", "default_net_taken", "provider", "scan_lab", "start_lab"]
