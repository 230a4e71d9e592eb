"""Shared fixtures. `lab`: one simulated Internet for the whole test session (starts in about a second)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from goldens import scan_cases
from labscan import start_lab

from auditor.findings import Audit
from auditor.lab import Lab
from auditor.lab.hostile import HostileLab
from auditor.settings import Settings, load_settings


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    started = start_lab()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def hostile_lab() -> Iterator[HostileLab]:
    """The hostile providers and receivers (auditor/lab/hostile.py), never on net 77 where `lab` usually is."""
    started = start_lab(HostileLab, nets=random.sample(range(100, 250), 8))
    assert isinstance(started, HostileLab)
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
