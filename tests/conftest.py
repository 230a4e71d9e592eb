"""Shared fixtures. `lab`: one simulated Internet for the whole test session (starts in about a second)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from auditor.lab import Lab
from auditor.settings import Settings


def _candidate_nets() -> list[int]:
    """AUDITOR_LAB_NET when set, else 77 then random others: several test runs may share this machine."""
    if os.environ.get("AUDITOR_LAB_NET"):
        return [int(os.environ["AUDITOR_LAB_NET"])]
    others = random.sample([n for n in range(100, 250) if n != 77], 8)
    return [77, *others]


def start_lab(**kwargs: object) -> Lab:
    """Start a lab on the first free 127.<net>.0.0/16 (an address in use raises OSError: try the next)."""
    last: OSError | None = None
    for net in _candidate_nets():
        lab = Lab(net=net, **kwargs)  # type: ignore[arg-type]
        try:
            return lab.start()
        except OSError as exc:
            last = exc
    raise RuntimeError(f"no free lab network on loopback: {last}")


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
