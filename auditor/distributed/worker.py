"""`auditor worker`: runs the units of one vantage queue (or the shared one) with this machine's own settings.

The worker characterises its vantage point once at start (`auditor.net.vantage.characterise`) and sends it
with every result. Each unit is checked (HMAC, protocol, vantage) before anything is probed: a unit that is
not signed with the shared key is dropped and said on stderr, never run. For each unit it publishes
`started`, then `result` or `failure`, all signed, on the campaign's reply queue; the unit's message is
acknowledged only after that (late acknowledgement): a worker killed in the middle leaves the unit to another.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.campaign import provider_from_json
from auditor.console import warn
from auditor.distributed.engine import TASK_NAME, check_connection, make_app
from auditor.distributed.messages import (
    BadMessage,
    Report,
    Unit,
    check_vantage_name,
    open_unit,
    reply_queue,
    signed_report,
    unit_queue,
)
from auditor.findings import Vantage
from auditor.net.vantage import characterise
from auditor.probes.context import ScanContext
from auditor.redact import redact
from auditor.scan import check_vantage, run_unit
from auditor.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

# How long a report's publication is retried while the broker is away (restarted, unreachable): then the unit
# is handed back, unacknowledged, for another attempt.
PUBLISH_RETRIES = 60
PUBLISH_INTERVAL_MAX = 5.0


@dataclass(frozen=True)
class WorkerConfig:
    url: str
    key: bytes
    settings: Settings
    vantage_name: str | None = None
    ca_file: Path | None = None
    units: int = 1  # units at once (threads); 1: the unit runs in the worker's own process loop
    unit_timeout: float = 3600.0

    @property
    def queue(self) -> str:
        return unit_queue(self.vantage_name)


def _log(text: str) -> None:
    print(f"auditor worker: {redact(text)}", file=sys.stderr, flush=True)


class UnitHandler:
    """What the Celery task does with one message; kept apart from Celery so its rules read in one place."""

    def __init__(self, app: Celery, config: WorkerConfig, vantage: Vantage) -> None:
        self.app, self.config, self.vantage = app, config, vantage
        self.name = f"{socket.gethostname()}/{os.getpid()}"

    def __call__(self, message: Any, redelivered: bool) -> None:
        try:
            unit = open_unit(self.config.key, message)
        except BadMessage as exc:
            _log(f"refused a unit that is not ours ({exc}); dropped without running it")
            return
        if unit.vantage != self.config.vantage_name:
            _log(f"refused unit {unit.unit}: meant for vantage {unit.vantage or 'any'}, this worker is "
                 f"{self.config.vantage_name or 'any'}")
            return
        self._publish(unit, "started", redelivered=redelivered)
        started = time.monotonic()
        try:
            provider = provider_from_json(unit.provider)  # a catalog entry or a campaign's domain
            check_vantage(self.vantage, [provider], self.config.settings)
            result = run_unit(provider, self.config.settings, self.vantage)
        except Exception as exc:  # a unit that cannot run is reported, never lost
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            _log(f"unit {unit.unit} attempt {unit.attempt} failed: {reason}")
            self._publish(unit, "failure", reason=reason, vantage=self.vantage.model_dump(mode="json"))
            return
        _log(f"unit {unit.unit} attempt {unit.attempt}: {len(result.checks)} findings in "
             f"{time.monotonic() - started:.1f}s")
        self._publish(unit, "result", result=result.model_dump(mode="json"),
                      vantage=self.vantage.model_dump(mode="json"))

    def _publish(self, unit: Unit, kind: str, **fields: Any) -> None:
        report = Report(kind=kind, campaign=unit.campaign, unit=unit.unit, attempt=unit.attempt,  # type: ignore[arg-type]
                        vantage_name=self.config.vantage_name, worker=self.name, **fields)
        from celery.exceptions import Reject

        try:
            with self.app.producer_or_acquire() as producer:
                producer.publish(signed_report(self.config.key, report), exchange="",
                                 routing_key=reply_queue(unit.campaign), serializer="json", retry=True,
                                 retry_policy={"max_retries": PUBLISH_RETRIES, "interval_start": 0.5,
                                               "interval_step": 1.0, "interval_max": PUBLISH_INTERVAL_MAX})
        except Exception as exc:
            _log(f"unit {unit.unit}: the broker did not take the {kind} report ({exc}); the unit goes back")
            raise Reject(str(exc), requeue=True) from exc


def _check_settings(settings: Settings) -> None:
    """Fail at start, not on every unit, when this worker's own files (CA bundle, trust anchor) are unusable."""

    async def probe() -> None:
        ctx = ScanContext.create(settings)
        await ctx.aclose()

    asyncio.run(probe())


def register(app: Celery, config: WorkerConfig, vantage: Vantage) -> None:
    """The unit task, bound to this worker's key, settings and vantage point."""
    handler = UnitHandler(app, config, vantage)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
    def unit(self: Any, message: Any) -> None:
        handler(message, redelivered=bool((self.request.delivery_info or {}).get("redelivered")))


def serve(config: WorkerConfig) -> int:
    """Characterise, connect, then consume until stopped (SIGTERM: finish the current unit, then leave)."""
    if config.vantage_name:
        check_vantage_name(config.vantage_name)
    settings = config.settings
    if config.vantage_name and settings.vantage_name != config.vantage_name:
        settings = settings.model_copy(update={"vantage_name": config.vantage_name})
        config = WorkerConfig(**{**config.__dict__, "settings": settings})
    _check_settings(settings)
    app = make_app(config.url, ca_file=config.ca_file, unit_timeout=config.unit_timeout)
    check_connection(app, config.url)  # a wrong password is said before the vantage point is measured
    vantage = asyncio.run(characterise(settings))
    register(app, config, vantage)
    if vantage.port25 is False and not settings.smtp_untestable_ok:
        warn("outbound TCP port 25 is blocked here: units with mail domains will fail (--smtp-untestable-ok "
             "to audit the rest)")
    _log(f"vantage {config.vantage_name or '(any)'}: ipv6 {vantage.ipv6}, port 25 {vantage.port25}, resolver "
         f"{vantage.resolver} dnssec {vantage.resolver_dnssec}; consuming {config.queue} on {config.url}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Celery's own warning is a dozen lines; one of ours says the same.
        warnings.filterwarnings("ignore", message=".*superuser privileges")
        warn("running as root: a worker should run as its own unprivileged user (README, 'Several vantage points')")
    worker = app.Worker(hostname=f"auditor-{config.vantage_name or 'any'}@{socket.gethostname()}.{os.getpid()}",
                        queues=[config.queue], pool_cls="solo" if config.units == 1 else "threads",
                        concurrency=config.units, loglevel="WARNING", quiet=True, without_heartbeat=True,
                        without_mingle=True, without_gossip=True, optimization="fair")
    worker.start()
    return int(worker.exitcode or 0)
