"""The coordinator's book of one campaign: which unit is where, and what each worker report does to it.

Pure (no broker): `Ledger.on_report` takes a report whose HMAC was already checked and says what to do. The
rules (docs/distributed.md, "Faults"):

- the first valid result of a unit wins; any later one (a redelivered unit finished twice, a stale worker)
  is counted and ignored: never a duplicate finding;
- a `failure` is retried with the next attempt number until `attempts` failures, then the unit ends as an
  `error` finding with the last reason; a report of an older attempt changes nothing;
- a unit started more than `attempts` times beyond its failures (each worker that ran it vanished: killed,
  out of memory) ends as an `error` finding too, rather than killing workers for ever;
- at the deadline, every unfinished unit ends as an `error` finding saying where it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from auditor.catalog import Provider
from auditor.distributed.messages import BadMessage, Report, unit_id
from auditor.findings import ProviderResult, Vantage, error

UNIT_CHECK = "scan.unit"  # the finding of a unit no worker could finish

Outcome = Literal["started", "finished", "retry", "gave_up", "duplicate", "stale"]


@dataclass
class UnitState:
    provider: Provider
    vantage: str | None
    attempt: int = 1
    starts: int = 0
    failures: list[str] = field(default_factory=list)
    result: ProviderResult | None = None
    messages: list[str] = field(default_factory=list)  # the Celery task ids of its messages, one per attempt
    released: bool = False  # done, its result handed over and dropped (`Ledger.release`)

    @property
    def id(self) -> str:
        return unit_id(self.provider.id, self.vantage)

    @property
    def done(self) -> bool:
        return self.result is not None or self.released


@dataclass
class Stats:
    """What the campaign saw; `lost` must stay 0: every unit ends with a result or an error finding."""

    units: int = 0
    sent: int = 0  # unit messages published, first attempts and retries
    finished: int = 0  # units with a worker's result
    errors: int = 0  # units ended as an error finding (failures, vanished workers, deadline)
    redelivered: int = 0  # deliveries the broker made again after a worker stopped without acknowledging
    retried: int = 0  # attempts sent again after a failure report
    duplicates: int = 0  # valid reports for a unit already finished, ignored
    refused: int = 0  # reports whose HMAC, campaign or content did not hold

    @property
    def lost(self) -> int:
        return self.units - self.finished - self.errors

    def line(self) -> str:
        return (f"{self.units} units, {self.sent} sent, {self.finished} finished, {self.errors} ended in error, "
                f"{self.redelivered} redelivered, {self.retried} retried, {self.duplicates} duplicate or stale "
                f"results ignored, {self.refused} refused, {self.lost} lost")


def _error_result(state: UnitState, reason: str) -> ProviderResult:
    p = state.provider
    return ProviderResult(id=p.id, name=p.name, kind=p.kind, checks=[error(UNIT_CHECK, p.id, reason)])


class Ledger:
    def __init__(self, campaign: str, providers: Sequence[Provider], vantages: Sequence[str | None],
                 attempts: int) -> None:
        self.campaign, self.attempts = campaign, attempts
        self.units = {s.id: s for s in (UnitState(p, v) for p in providers for v in vantages)}
        self.by_provider: dict[str, list[UnitState]] = {}
        for s in self.units.values():
            self.by_provider.setdefault(s.provider.id, []).append(s)
        self.open = set(self.units)  # ids of the units without a result yet (bulk campaigns: thousands)
        self.vantages: dict[str | None, Vantage] = {}  # each vantage's characterisation, as first reported
        self.stats = Stats(units=len(self.units))

    def pending(self) -> list[UnitState]:
        return [self.units[i] for i in sorted(self.open)]

    def on_report(self, report: Report) -> tuple[Outcome, UnitState]:
        """What `report` (HMAC already checked) does; BadMessage when it cannot belong to this campaign."""
        if report.campaign != self.campaign:
            raise BadMessage(f"a report for campaign {report.campaign}, not {self.campaign}")
        state = self.units.get(report.unit)
        if state is None or report.vantage_name != state.vantage:
            raise BadMessage(f"a report for unit {report.unit} from vantage {report.vantage_name or 'any'}, "
                             "which this campaign never sent")
        if report.kind == "started":
            self.stats.redelivered += report.redelivered
        if state.done:
            self.stats.duplicates += report.kind != "started"
            return "duplicate", state
        if report.kind == "started":
            return self._started(state)
        if report.attempt != state.attempt:
            self.stats.duplicates += 1
            return "stale", state
        self._note_vantage(state, report)
        if report.kind == "failure":
            return self._failed(state, report.reason or "no reason given")
        return self._finished(state, report)

    def _note_vantage(self, state: UnitState, report: Report) -> None:
        """The worker's characterisation of its vantage point, the first one each vantage sends."""
        if report.vantage is None:
            if report.kind == "result":
                raise BadMessage(f"result of unit {state.id} without the worker's vantage point")
            return
        try:
            vantage = Vantage.model_validate(report.vantage)
        except ValidationError as exc:
            raise BadMessage(f"vantage of unit {state.id}: {exc.errors()[0]['msg']}") from exc
        self.vantages.setdefault(state.vantage, vantage)

    def _started(self, state: UnitState) -> tuple[Outcome, UnitState]:
        state.starts += 1
        vanished = state.starts - 1 - len(state.failures)
        if vanished >= self.attempts:
            return self._give_up(state, f"{vanished} deliveries of this unit ended without a result (the workers "
                                        "running it stopped: killed, out of memory?); not retried")
        return "started", state

    def _failed(self, state: UnitState, reason: str) -> tuple[Outcome, UnitState]:
        state.failures.append(reason)
        if len(state.failures) >= self.attempts:
            return self._give_up(state, f"the unit failed {len(state.failures)} times on the workers; last: {reason}")
        state.attempt += 1
        self.stats.retried += 1
        return "retry", state

    def _finished(self, state: UnitState, report: Report) -> tuple[Outcome, UnitState]:
        try:
            result = ProviderResult.model_validate(report.result)
        except ValidationError as exc:
            raise BadMessage(f"result of unit {state.id} is not a provider result: {exc.errors()[0]['msg']}") from exc
        if result.id != state.provider.id:
            raise BadMessage(f"result of unit {state.id} is about provider {result.id}")
        state.result = result
        self.open.discard(state.id)
        self.stats.finished += 1
        return "finished", state

    def _give_up(self, state: UnitState, reason: str) -> tuple[Outcome, UnitState]:
        state.result = _error_result(state, reason)
        self.open.discard(state.id)
        self.stats.errors += 1
        return "gave_up", state

    def expire(self, deadline: float) -> list[UnitState]:
        """Every unfinished unit, ended as an error finding at the campaign's deadline."""
        expired = self.pending()
        for state in expired:
            where = (f"started {state.starts} times, no result yet" if state.starts
                     else "still waiting in the queue: no worker of this vantage took it")
            self._give_up(state, f"no result within the campaign's {deadline:g}s deadline ({where}; "
                                 f"vantage {state.vantage or 'any'})")
        return expired

    def release(self, provider_id: str) -> None:
        """Drop a finished provider's results (handed to the store): the ledger keeps its units' state only, so a
        campaign of thousands holds ids, not results (a later report for it is still a duplicate)."""
        for state in self.by_provider[provider_id]:
            if state.done:
                state.released, state.result = True, None

    def provider_done(self, provider_id: str) -> Mapping[str | None, ProviderResult] | None:
        """The provider's result per vantage once every vantage has one, else None."""
        states = self.by_provider[provider_id]
        if not all(s.done for s in states):
            return None
        return {s.vantage: s.result for s in states if s.result is not None}
