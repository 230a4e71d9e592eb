"""Notifications are bounded (issue 15): one deadline per notification, no response body read, at most
MAX_REPLY_LINES lines in an SMTP reply. Each against a real hostile receiver of the lab
(auditor/lab/hostile.py: NOTIFY_SINKS and the SMTP tarpit), reached through the lab's resolver."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from auditor.lab.hostile import NOTIFY_SINKS, HostileLab, gzip_bomb
from auditor.notify import MAX_REPLY_LINES, NotifyConfig, NotifyError, build_email, send_email, send_webhook
from auditor.settings import Settings, load_settings

TIMEOUT = 1.0  # one network operation: the trickle's bytes come twice as fast, so only a deadline stops it
DEADLINE = 3.0
SLACK = 1.5  # a loaded 2-core machine
MEMORY_LIMIT = 16 * 1024 * 1024  # peak Python allocations while notifying (the bomb inflates to 400 MiB)


@pytest.fixture
def settings(hostile_lab: HostileLab) -> Settings:
    return load_settings({**hostile_lab.overrides(), "timeout": TIMEOUT, "notify_deadline": DEADLINE}, environ={})


def test_trickling_webhook_is_dropped_at_the_deadline(settings: Settings) -> None:
    url = f"http://{NOTIFY_SINKS['trickle']}/hook"
    t0 = time.monotonic()
    with pytest.raises(NotifyError) as info:
        send_webhook(url, b"{}", settings, None)
    elapsed = time.monotonic() - t0
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + SLACK
    assert str(info.value) == f"webhook {url}: no complete answer within the {DEADLINE:.0f} s deadline"


def test_gzip_bomb_answer_is_never_inflated(settings: Settings) -> None:
    gzip_bomb()  # made once, before measuring: the lab's server lives in this process
    tracemalloc.start()
    try:
        status = send_webhook(f"http://{NOTIFY_SINKS['bomb']}/hook", b"{}", settings, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB allocated while notifying"


def test_endless_smtp_reply_is_cut_at_the_line_limit(settings: Settings) -> None:
    config = NotifyConfig(email="dpo@posteo.de", smtp_host=f"{NOTIFY_SINKS['endless']}:25")
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(NotifyError) as info:
            send_email(build_email(config, "subject", "text"), config, settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < DEADLINE
    assert str(info.value) == (f"SMTP {NOTIFY_SINKS['endless']}:{settings.port(25)}: reply longer than "
                               f"{MAX_REPLY_LINES} lines")
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB allocated while notifying"


def test_smtp_tarpit_is_dropped_at_the_deadline(hostile_lab: HostileLab) -> None:
    """The tarpit sends its banner one byte a second: under a 2 s operation timeout only the deadline ends it."""
    settings = load_settings({**hostile_lab.overrides(), "timeout": 2.0, "notify_deadline": DEADLINE}, environ={})
    config = NotifyConfig(email="dpo@posteo.de", smtp_host="mx.tarpit.example:25")
    t0 = time.monotonic()
    with pytest.raises(NotifyError) as info:
        send_email(build_email(config, "subject", "text"), config, settings)
    elapsed = time.monotonic() - t0
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + SLACK
    assert str(info.value) == (f"SMTP mx.tarpit.example:{hostile_lab.port(25)}: no complete answer within the "
                               f"{DEADLINE:.0f} s deadline")
