"""Types shared by every stage: a Finding is one check's verdict about one subject, with its evidence.

The audit document (`Audit`) is the public JSON contract described in CHECKS.md; its JSON Schema is
generated from these models and shipped as `auditor/data/audit.schema.json`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from auditor.errors import NetworkUnavailable

SCHEMA_ID = "auditor.audit/1"


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"
    ERROR = "error"  # the probe could not finish; the reason is in `summary`
    SKIP = "skip"  # not applicable


class Finding(BaseModel):
    """One check about one subject. `value` follows the table in CHECKS.md for its `id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    subject: str
    target: str | None = None
    status: Status
    value: Any = None
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    # The named vantage point that measured it, when an audit has several (`Audit.vantages`); None: the
    # audit's one vantage point, or a finding drawn from the catalog rather than measured (then left out of
    # the document).
    vantage: str | None = Field(default=None, exclude_if=lambda v: v is None)


def error(check_id: str, subject: str, reason: str, target: str | None = None,
          evidence: dict[str, Any] | None = None) -> Finding:
    """A finding for a probe that could not finish: never a pass, the reason in the summary."""
    return Finding(
        id=check_id, subject=subject, target=target, status=Status.ERROR, value=None,
        summary=reason[:500], evidence=evidence or {},
    )


def probe_failure(exc: Exception) -> str:
    """The summary of a finding whose probe raised: a bug or an input nobody foresaw, said as such.
    `NetworkUnavailable` is not a finding: it is raised again, and the scan stops (exit 3)."""
    if isinstance(exc, NetworkUnavailable):
        raise exc
    return f"the probe failed: {type(exc).__name__}: {exc}"


class Detail(BaseModel):
    """Why one finding cost a criterion points, as data a report can phrase in any language.

    `summary_key` says which kind of reason it is: `predicate` (a predicate over the value failed: `field`,
    `observed`, `op` and `expected` say which), `missing` (the field is absent from the value), `unknown` (the
    field is null and the rule reads null as "not known", e.g. a claim the catalog records as `unknown`),
    `error` (the probe could not finish: `observed` is its summary), `no_finding` (the check produced no
    finding at all).
    """

    model_config = ConfigDict(extra="forbid")

    check: str
    target: str | None = None  # the finding's target, else its subject; None for `no_finding`
    outcome: Literal["not_met", "not_verified"]
    summary_key: Literal["predicate", "missing", "unknown", "error", "no_finding"]
    field: str | None = None  # dotted path into the value; None: the value itself (or the status)
    observed: Any = None
    op: str | None = None  # equals | in | not_in | empty | subset_of | gte | lte | status
    expected: Any = None


class CriterionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    points: float
    max: float
    status: str  # met | partial | not_met | not_verified | not_applicable
    reason: str | None = None  # one line (English) for every point lost
    details: list[Detail] = Field(default_factory=list)  # the same reasons, structured (at most a few)
    checks: list[str] = Field(default_factory=list)  # the check ids the criterion read
    version: int | None = None  # the criterion's version in the criteria file


class UseReason(BaseModel):
    """One reason for a use verdict; `code` names it, the other fields fill it in."""

    model_config = ConfigDict(extra="forbid")

    code: Literal["outside_profile", "blocker", "below_threshold", "near_threshold", "not_verified"]
    criterion: str | None = None
    value: float | None = None
    threshold: float | None = None
    profile: str | None = None


class UseVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # a use of the profile (its `uses:` list), e.g. "patients"
    verdict: Literal["fits", "reservations", "unfit", "not_assessed"]
    reasons: list[UseReason] = Field(default_factory=list)


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str
    profile_version: int | None = None
    criteria_version: int | None = None
    value: float = Field(ge=0, le=100)
    grade: str = Field(pattern=r"^(A\+|A|B|C|D|E|F)$")
    blockers: list[str] = Field(default_factory=list)
    # Position among the audit's providers of the same kind (mail, chat): scores compare within a kind only.
    # Shared by ties ("1, 2, 2, 4"); None when the score was computed outside an audit.
    rank: int | None = None
    rank_of: int | None = None
    uses: list[UseVerdict] = Field(default_factory=list)
    criteria: list[CriterionResult] = Field(default_factory=list)


class ProviderResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    kind: str
    score: Score | None = None
    checks: list[Finding] = Field(default_factory=list)


class Vantage(BaseModel):
    """Where an audit was measured from, and what could be tested from there (docs/vantage.md).

    Each characteristic is measured before the scan (`auditor.net.vantage.characterise`); None means "not
    characterised" (audits stored before these fields existed, or a measurement that could not conclude).
    """

    model_config = ConfigDict(extra="forbid")

    resolver: str
    host: str
    lab: bool = False
    name: str | None = None  # the vantage point's name (e.g. "eu-paris"), when several are used
    ipv6: bool | None = None  # IPv6 servers can be reached from here
    port25: bool | None = None  # outbound TCP port 25 (SMTP) is open from here
    resolver_dnssec: bool | None = None  # the resolver returns DNSSEC records (RRSIG, DNSKEY, DS, NSEC)
    resolver_validates: bool | None = None  # the resolver validates (sets AD); informational: we validate ourselves
    stub: bool | None = None  # the resolver is a local stub or forwarder on this machine (e.g. 127.0.0.53)
    resolver_fix: str | None = None  # a resolver that returns DNSSEC records from here, when this one does not
    evidence: dict[str, str] = Field(default_factory=dict)  # how each characteristic was measured


class Audit(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: str = Field(default=SCHEMA_ID, alias="schema")
    audit_id: str
    started_at: str
    finished_at: str | None = None
    complete: bool = False
    tool_version: str
    profile: str
    vantage: Vantage
    # The named vantage points when the audit was measured from several (docs/distributed.md), in the order
    # given; empty for an audit measured from one place (`vantage`).
    vantages: list[Vantage] = Field(default_factory=list)
    providers: list[ProviderResult] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


# Worst first: a definite failure outranks "could not verify", which outranks any success.
_SEVERITY = {Status.FAIL: 5, Status.ERROR: 4, Status.WARN: 3, Status.INFO: 2, Status.PASS: 1, Status.SKIP: 0}


def worst(statuses: list[Status]) -> Status:
    """Worst-of across a provider's servers or a host's addresses; SKIP when there is nothing."""
    return max(statuses, key=_SEVERITY.__getitem__, default=Status.SKIP)
