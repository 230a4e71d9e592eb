"""Shared fixtures. `lab`: one simulated Internet for the whole test session (starts in about a second)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from goldens import scan_cases
from labscan import start_lab

from auditor.findings import Audit
from auditor.lab import Lab
from auditor.settings import Settings, load_settings


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    started = start_lab()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def lab_settings(lab: Lab) -> Settings:
    """Settings that point every probe at the lab (short timeouts: loopback answers in milliseconds)."""
    return Settings(**lab.overrides(), timeout=3.0)


@pytest.fixture(scope="session")
def cases_audit(lab: Lab) -> Audit:
    """One lab scan of the golden cases (tests/goldens.py), shared by the golden and judgement tests."""
    return scan_cases(load_settings({**lab.overrides(), "timeout": 3.0}, environ={}))
