"""The Celery application both sides share: Redis broker, JSON only, late acknowledgement (docs/distributed.md).

Why these settings:
- `task_acks_late` + `task_reject_on_worker_lost` + prefetch 1: a unit is acknowledged only once its
  report is published; a worker killed in the middle leaves it unacknowledged, and the broker hands it to
  another worker (Redis: once the visibility timeout has passed since delivery, `unit_timeout`).
- `unacked_restore_throttle` 1: every idle worker looks for such units every `RESTORE_INTERVAL` seconds
  (kombu's default looks every tenth time, about every 100 s).
- JSON for every message (`accept_content`): a pickle from the broker would be code run by the worker.
- No result backend: reports are messages on the campaign's own queue, so that each one is checked (HMAC,
  campaign, unit) and the first valid one wins; a second or stale one is simply ignored.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auditor.errors import EXIT_SCAN_FAILED, AuditorError, ConfigError
from auditor.redact import redact

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "auditor.unit"
RESTORE_INTERVAL = 5  # seconds between two looks for the units of a dead worker
CONNECT_TIMEOUT = 10.0  # seconds for the first connection to the broker
SCHEMES = ("redis", "rediss")


class BrokerError(AuditorError):
    """The broker cannot be used (unreachable, wrong password, TLS failure): exit 3, one line."""

    exit_code = EXIT_SCAN_FAILED


def check_url(url: str) -> str:
    """A Redis URL (`redis://user:password@host:port/db`, `rediss://` for TLS); ConfigError otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"--broker {redact(url)}: not a URL ({exc})") from exc
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(f"--broker {redact(url)}: expected redis://USER:PASSWORD@HOST:PORT/DB "
                          "(or rediss:// for TLS)")
    return url


def _celery() -> type[Celery]:
    try:
        from celery import Celery
    except ImportError as exc:
        raise ConfigError("the broker needs Celery: pip install 'auditor[broker]'") from exc
    return Celery


def make_app(url: str, *, ca_file: Path | None = None, unit_timeout: float = 3600.0) -> Celery:
    """The Celery app for `url`. `ca_file`: the CA bundle a `rediss://` broker's certificate is checked against
    (default: the system's); `unit_timeout`: seconds before a delivered, unacknowledged unit goes to another
    worker (longer than a unit can run: the provider deadline plus a margin)."""
    check_url(url)
    app = _celery()("auditor", broker=url, set_as_current=False)
    transport: dict[str, Any] = {
        "visibility_timeout": unit_timeout,
        "unacked_restore_interval": RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": CONNECT_TIMEOUT,
    }
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json", event_serializer="json",
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_ignore_result=True, result_backend=None, task_default_queue="auditor.units",
        worker_hijack_root_logger=False, worker_redirect_stdouts=False,
        broker_transport_options=transport, broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None, worker_send_task_events=False, task_send_sent_event=False,
        enable_utc=True,
    )
    if url.startswith("rediss:"):
        app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                   "ssl_ca_certs": str(ca_file) if ca_file else None}
    return app


def check_connection(app: Celery, url: str) -> None:
    """Connect once, now: a wrong password or an unreachable broker is one line and exit 3, not a retry loop."""
    conn = app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        with conn.channel() as channel:
            channel.client.ping()
    except Exception as exc:  # redis-py, kombu and ssl each raise their own kinds
        raise BrokerError(f"cannot use the broker {redact(url)}: {describe(exc)}") from exc
    finally:
        conn.release()


def describe(exc: BaseException) -> str:
    """One line for a broker failure, its root cause first (e.g. a refused password), never the password.
    Only explicit causes are followed: an exception's context is often a library's own, unrelated, retry."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 4:
        text = str(current).strip().splitlines()[0] if str(current).strip() else type(current).__name__
        if text not in seen:
            seen.append(text)
        current = current.__cause__
    return redact("; ".join(reversed(seen)))[:400]
