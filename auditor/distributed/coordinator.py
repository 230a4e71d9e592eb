"""`auditor scan --broker`: send each provider unit to each vantage's queue, gather the signed reports, build
ONE audit (docs/distributed.md). The coordinator never probes; workers never score.

The audit begins in the store once every vantage has sent its first result (the store records each
vantage's characterisation with the audit), then grows provider by provider as each provider's units are
all in. Whatever happens, it ends: at the deadline, unfinished units become `error` findings; when no
worker answered at all, nothing is stored and the scan stops with one line (exit 3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.catalog import Provider
from auditor.console import warn
from auditor.distributed.campaign import Ledger, Stats, UnitState
from auditor.distributed.engine import TASK_NAME, BrokerError, check_connection, describe, make_app
from auditor.distributed.messages import (
    MAX_MESSAGE_BYTES,
    BadMessage,
    Report,
    Unit,
    check_vantage_name,
    open_report,
    reply_queue,
    signed_unit,
    unit_queue,
)
from auditor.findings import Audit, ProviderResult
from auditor.redact import redact
from auditor.scan import new_audit_id, now_utc
from auditor.settings import Settings
from auditor.vantages import merge_vantage_results

if TYPE_CHECKING:
    from celery import Celery
    from kombu import Connection

POLL = 1.0  # seconds one wait for a report lasts (the deadline is checked between two)
IDLE_WARNING = 60.0  # seconds without any report before saying that no worker seems to listen
REVOKE_BATCH = 1000  # task ids per revoke broadcast
MAX_REFUSAL_LINES = 10  # refused reports said one by one; the rest counted

Observer = Callable[[Report], None]


@dataclass(frozen=True)
class CampaignOptions:
    url: str
    key: bytes
    vantages: Sequence[str] = ()  # named vantage queues; empty: the shared queue, any worker
    ca_file: Path | None = None
    attempts: int = 3  # failures (or vanished deliveries) before a unit ends as an error finding
    deadline: float = 86400.0  # seconds for the whole campaign
    unit_timeout: float = 3600.0  # the broker's visibility timeout (see engine.make_app)
    quiet: bool = False
    observer: Observer | None = field(default=None, compare=False)  # sees each valid report (tests, bench)


class _Intake:
    """The campaign's reply queue, read one message at a time, reconnecting when the broker goes away."""

    def __init__(self, app: Celery, queue: str) -> None:
        from kombu import Exchange, Queue

        self.app, self.queue = app, Queue(queue, Exchange(""), routing_key=queue)
        self.conn: Connection | None = None
        self.simple: Any = None
        self.lost_since: float | None = None

    def _open(self) -> None:
        self.conn = self.app.connection_for_write()
        self.conn.ensure_connection(max_retries=1)
        self.simple = self.conn.SimpleQueue(self.queue)

    def _close(self) -> None:
        for closing in (self.simple, self.conn):
            try:
                if closing is not None:
                    closing.close()
            except Exception:  # already broken: nothing left to release
                pass
        self.simple = self.conn = None

    def _lost(self, exc: Exception, pause: float) -> None:
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            warn(f"the broker connection was lost ({describe(exc)}); reconnecting until the deadline")
        self._close()
        time.sleep(pause)

    def get(self, timeout: float) -> bytes | None:
        """One raw message body, or None after `timeout` (or while the broker is unreachable)."""
        from queue import Empty

        try:
            if self.simple is None:
                self._open()
                if self.lost_since is not None:
                    warn(f"the broker is back after {time.monotonic() - self.lost_since:.0f}s")
                    self.lost_since = None
            assert self.simple is not None
            message = self.simple.get(block=True, timeout=timeout)
        except Empty:
            return None
        except Exception as exc:  # connection refused, reset, timeouts: the broker is restarting or away
            self._lost(exc, min(timeout, POLL))
            return None
        body = message.body
        try:
            message.ack()
        except Exception as exc:  # kept unacknowledged: it may come again, and is then ignored as a duplicate
            self._lost(exc, 0)
        return body if isinstance(body, bytes) else str(body).encode()

    def delete(self) -> None:
        """The reply queue is the campaign's own: removed at its end (late reports then go nowhere we read)."""
        try:
            if self.simple is None:
                self._open()
            assert self.conn is not None
            self.queue.bind(self.conn.default_channel).delete()
        except Exception:  # best effort: the broker may be gone by now
            pass
        self._close()


class Coordinator:
    def __init__(self, options: CampaignOptions, providers: Sequence[Provider], settings: Settings, *,
                 keep: bool = True) -> None:
        """`keep=False` (a bulk campaign): each provider's merged result goes to `on_provider` (the store) and is
        dropped; the audit returned lists no providers (as `run_scan(..., keep=False)`)."""
        for name in options.vantages:
            check_vantage_name(name)
        self.options, self.providers, self.settings, self.keep = options, list(providers), settings, keep
        self.audit_id = new_audit_id()
        self.ledger = Ledger(self.audit_id, self.providers, [*options.vantages] or [None], options.attempts)
        self.app = make_app(options.url, ca_file=options.ca_file, unit_timeout=options.unit_timeout)
        self.outbox: list[UnitState] = []
        self.refusals = 0
        self.reports = 0  # valid reports
        self.handed: set[str] = set()  # providers given to on_provider

    @property
    def stats(self) -> Stats:
        return self.ledger.stats

    def _send_pending(self, remaining: float) -> None:
        """Publish what waits in the outbox; what the broker does not take now is tried again next round."""
        while self.outbox:
            state = self.outbox[0]
            unit = Unit(campaign=self.audit_id, unit=state.id, attempt=state.attempt, vantage=state.vantage,
                        provider=state.provider.model_dump(mode="json"))
            try:
                sent = self.app.send_task(TASK_NAME, args=[signed_unit(self.options.key, unit)],
                                   queue=unit_queue(state.vantage), expires=max(remaining, 1.0),
                                   retry=True, retry_policy={"max_retries": 2, "interval_start": 0.5,
                                                             "interval_step": 1.0, "interval_max": 2.0})
            except Exception as exc:  # the broker is away: keep it for the next round
                warn(f"unit {state.id} not sent yet ({describe(exc)}); trying again")
                return
            self.outbox.pop(0)
            state.messages.append(sent.id)
            self.stats.sent += 1

    def _refuse(self, why: str) -> None:
        self.stats.refused += 1
        self.refusals += 1
        if self.refusals <= MAX_REFUSAL_LINES:
            warn(f"refused a report on {reply_queue(self.audit_id)}: {why}")
        elif self.refusals == MAX_REFUSAL_LINES + 1:
            warn("more reports refused; counted, no longer shown")

    def _report(self, body: bytes) -> UnitState | None:
        """The unit a valid report changed, if any; a bad one is refused and said."""
        if len(body) > MAX_MESSAGE_BYTES:
            self._refuse(f"{len(body)} bytes, more than {MAX_MESSAGE_BYTES}")
            return None
        try:
            report = open_report(self.options.key, json.loads(body))
            outcome, state = self.ledger.on_report(report)
        except (BadMessage, ValueError, RecursionError) as exc:
            self._refuse(str(exc)[:300])
            return None
        self.reports += 1
        if self.options.observer:
            self.options.observer(report)
        if outcome == "retry":
            self.outbox.append(state)
        return state if outcome in ("finished", "gave_up") else None

    def run(self, on_start: Callable[[Audit], None] | None = None,
            on_provider: Callable[[ProviderResult], None] | None = None) -> Audit:
        check_connection(self.app, self.options.url)
        intake = _Intake(self.app, reply_queue(self.audit_id))
        started_at, begun = now_utc(), time.monotonic()
        end = begun + self.options.deadline
        audit: Audit | None = None
        ready: list[str] = []  # providers whose units are all in, waiting for the audit to begin
        self.outbox = list(self.ledger.units.values())
        heard = False  # a valid report came, or the idle warning was given
        try:
            intake.get(0.01)  # declare the reply queue before any worker can answer
            while self.ledger.open and time.monotonic() < end:
                self._send_pending(end - time.monotonic())
                body = intake.get(min(POLL, max(end - time.monotonic(), 0.01)))
                state = self._report(body) if body is not None else None
                heard = heard or self.reports > 0
                if not heard and time.monotonic() - begun > IDLE_WARNING:
                    heard = True
                    self._warn_idle()
                if state is not None and self.ledger.provider_done(state.provider.id) is not None:
                    ready.append(state.provider.id)
                audit = self._progress(audit, ready, started_at, on_start, on_provider)
            if not self.ledger.vantages:
                raise BrokerError(f"no worker returned a result within the {self.options.deadline:g}s deadline "
                                  f"on {redact(self.options.url)}; nothing stored")
            for state in self.ledger.expire(self.options.deadline):
                ready.append(state.provider.id)
            audit = self._progress(audit, ready, started_at, on_start, on_provider, final=True)
        finally:
            self._revoke()
            intake.delete()
        assert audit is not None
        audit.providers = [self._merged(p.id) for p in self.providers] if self.keep else []  # catalog order
        audit.finished_at = now_utc()
        audit.complete = True
        if not self.options.quiet:
            warn(f"broker: {self.stats.line()}")
        return audit

    def _names(self) -> list[str | None]:
        return [*self.options.vantages] or [None]

    def _revoke(self) -> None:
        """Revoke the campaign's unit messages (Celery's remote control, best effort): a scan stopped early or at
        its deadline leaves no work behind for the workers that are up; a worker started later drops them as
        expired (`expires`). Revoking a message already run changes nothing."""
        ids = [i for s in self.ledger.units.values() if s.messages for i in s.messages]
        try:
            for start in range(0, len(ids), REVOKE_BATCH):
                self.app.control.revoke(ids[start:start + REVOKE_BATCH])
        except Exception:  # the broker is gone: the messages expire at the deadline anyway
            pass

    def _warn_idle(self) -> None:
        queues = ", ".join(sorted({unit_queue(v) for v in self._names()}))
        warn(f"no worker has answered yet on {queues} ({redact(self.options.url)}); start "
             "`auditor worker --broker URL [--vantage NAME]` where the units should run")

    def _merged(self, provider_id: str) -> ProviderResult:
        """The shared queue's one result as it came; named vantages' results merged, each finding tagged."""
        results = self.ledger.provider_done(provider_id)
        assert results is not None
        if not self.options.vantages:
            return results[None]
        named = {name: results[name] for name in self.options.vantages}
        return merge_vantage_results(named, self.ledger.by_provider[provider_id][0].provider)

    def _progress(self, audit: Audit | None, ready: list[str], started_at: str,
                  on_start: Callable[[Audit], None] | None, on_provider: Callable[[ProviderResult], None] | None,
                  final: bool = False) -> Audit | None:
        """Begin the audit once every vantage has characterised itself (or at the end), then hand over the
        providers that are complete."""
        names = self._names()
        if audit is None and (final or all(n in self.ledger.vantages for n in names)):
            known = [self.ledger.vantages[n] for n in names if n in self.ledger.vantages]
            audit = Audit(audit_id=self.audit_id, started_at=started_at, tool_version=__version__,
                          profile=self.settings.profile, vantage=known[0],
                          vantages=known if self.options.vantages else [])
            if on_start:
                on_start(audit)
        if audit is not None:
            while ready:
                pid = ready.pop(0)
                if pid in self.handed:
                    continue
                self.handed.add(pid)
                if on_provider:
                    on_provider(self._merged(pid))
                if not self.keep:
                    self.ledger.release(pid)
        return audit
