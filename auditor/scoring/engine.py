"""Score a provider's findings against a profile. `score_provider` and `rank` are pure (no network, no
files, no clock); `score_audit` only loads the built-in criteria and a profile when given a name.

How a criterion is decided (see criteria.yaml for the rules themselves):
- Each rule looks at every finding with its check id. A finding with status `skip` does not count; one with
  status `error` leaves the rule *unknown*; otherwise the rule's predicates decide met / not met.
- Findings of the same check aggregate worst-of (one failing MX fails the rule): not met, then unknown,
  then met. A rule with no finding at all is unknown: a missing fact is never a pass.
- Measured from several vantage points, a check that one vantage could not test (`error`) and another did
  is judged on what was measured (`auditor.vantages.scored_findings`); a failure from any vantage counts.
- A criterion that does not apply to the provider's kind is `not_applicable` and leaves the maximum.
- `combine: all` gives points pro rata to the weight of the rules met; `combine: any` gives all or nothing.
- Status: met, partial, not_met, not_verified (nothing could be established) or not_applicable.
Every point lost comes with a one-line reason naming the finding(s) (check id + target) and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from auditor.errors import ConfigError
from auditor.findings import (
    Audit,
    CriterionResult,
    Detail,
    Finding,
    ProviderResult,
    Score,
    Status,
    UseReason,
    UseVerdict,
)
from auditor.scoring.models import (
    GRADES,
    Criteria,
    Criterion,
    Expect,
    Grade,
    Profile,
    Rule,
    UseRule,
    load_criteria,
    load_profile,
    show,
)
from auditor.vantages import scored_findings

MAX_NAMED = 3  # findings named in one reason before "and N more"
MAX_DETAILS = 5  # structured details kept per criterion


class Outcome(IntEnum):
    """Ordered best to worst so that worst-of is `max`."""

    NOT_APPLICABLE = 0
    MET = 1
    UNKNOWN = 2
    NOT_MET = 3


_ABSENT = object()  # a field missing from the value, distinct from a field that is null


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    outcome: Outcome
    why: tuple[str, ...]  # one phrase per finding that made the outcome (worst ones first)
    details: tuple[Detail, ...] = ()  # the same, structured


# ---- one predicate over one finding --------------------------------------------------------------

def _lookup(value: Any, path: str | None) -> Any:
    if path is None:
        return value
    for part in path.split("."):
        if value is None:
            return None  # a null parent: the field is known to be empty, not missing
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (`true` is not `1`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and bool(a == b)


def _member(item: Any, options: Iterable[Any]) -> bool:
    return any(_same(item, option) for option in options)


def _holds(expect: Expect, finding: Finding, observed: Any) -> bool:
    op = expect.operator
    if op == "status":
        return expect.status is not None and finding.status in expect.status
    target = expect.value if op == "value" else getattr(expect, op)
    if op in ("value", "equals"):
        return _same(observed, target) if observed is not None else target is None
    if op == "in_":
        return _member(observed, target)  # null passes only when the list names null
    if observed is None:
        return False  # a null fact satisfies no other predicate
    if op == "not_in":
        return not _member(observed, target)
    if op == "empty":
        if not isinstance(observed, (list, tuple, dict, str)):
            return False
        return (len(observed) == 0) == target
    if op == "subset_of":
        return isinstance(observed, (list, tuple)) and all(_member(item, target) for item in observed)
    if op in ("gte", "lte"):
        if isinstance(observed, bool) or not isinstance(observed, (int, float)):
            return False
        return observed >= target if op == "gte" else observed <= target
    raise AssertionError(f"unhandled operator {op}")  # models.OPERATORS and this function go together


def _where(finding: Finding) -> str:
    measured_from = f" (from {finding.vantage})" if finding.vantage else ""
    return f"{finding.id} {finding.target or finding.subject}{measured_from}"


_OP_NAMES = {"in_": "in", "value": "equals"}


def _detail(finding: Finding, outcome: Outcome, key: str, expect: Expect | None = None,
            observed: Any = None) -> Detail:
    op = _OP_NAMES.get(expect.operator, expect.operator) if expect else None
    expected = (expect.value if expect.operator == "value" else getattr(expect, expect.operator)) if expect else None
    return Detail.model_validate({
        "check": finding.id, "target": finding.target or finding.subject, "summary_key": key,
        "outcome": "not_met" if outcome == Outcome.NOT_MET else "not_verified",
        "field": expect.field if expect else None, "observed": observed, "op": op, "expected": expected})


def _judge(rule: Rule, finding: Finding) -> tuple[Outcome, str, Detail | None]:
    if finding.status == Status.SKIP:
        return Outcome.NOT_APPLICABLE, f"{_where(finding)}: skipped", None
    if finding.status == Status.ERROR:
        return (Outcome.UNKNOWN, f"{_where(finding)}: not verified ({finding.summary})",
                _detail(finding, Outcome.UNKNOWN, "error", observed=finding.summary))
    failed: list[tuple[str, Detail]] = []
    missing: list[Expect] = []
    unknown: list[Expect] = []
    for expect in rule.expect:
        observed = finding.status if expect.operator == "status" else _lookup(finding.value, expect.field)
        if observed is _ABSENT:
            if not expect.optional:
                missing.append(expect)
            continue  # an optional field that is absent: this predicate does not apply
        if observed is None and expect.if_null == "not_verified":
            unknown.append(expect)  # a fact recorded as not known: not verified, unless a known one fails
            continue
        if not _holds(expect, finding, observed):
            name = expect.field or ("status" if expect.operator == "status" else "value")
            failed.append((f"{name} is {show(observed)}, expected {expect.describe()}",
                           _detail(finding, Outcome.NOT_MET, "predicate", expect, observed)))
    if failed:
        # the first failed predicate is the one a reader needs; the others follow from fixing it or not
        text, detail = failed[0]
        return Outcome.NOT_MET, f"{_where(finding)}: {text}", detail
    if unknown:
        names = ", ".join(str(e.field) for e in unknown)
        return (Outcome.UNKNOWN, f"{_where(finding)}: not verified ({names} not known)",
                _detail(finding, Outcome.UNKNOWN, "unknown", unknown[0]))
    if missing:
        names = ", ".join(str(e.field) for e in missing)
        return (Outcome.UNKNOWN, f"{_where(finding)}: not verified ({names} missing)",
                _detail(finding, Outcome.UNKNOWN, "missing", missing[0]))
    return Outcome.MET, "", None


def evaluate_rule(rule: Rule, findings: Sequence[Finding]) -> RuleResult:
    """One rule over every finding of its check, worst-of."""
    relevant = [f for f in findings if f.id == rule.check]
    if not relevant:
        return RuleResult(rule, Outcome.UNKNOWN, (f"{rule.check}: not verified (no finding)",),
                          (Detail(check=rule.check, outcome="not_verified", summary_key="no_finding"),))
    judged = [_judge(rule, f) for f in relevant]
    worst = max(outcome for outcome, _, _ in judged)
    why = [text for outcome, text, _ in judged if outcome == worst and text]
    details = tuple(d for outcome, _, d in judged if outcome == worst and d is not None)
    if worst == Outcome.NOT_MET:
        unknown = sum(1 for outcome, _, _ in judged if outcome == Outcome.UNKNOWN)
        if unknown:
            why.append(f"{unknown} more not verified")
    return RuleResult(rule, worst, tuple(why), details)


# ---- one criterion ------------------------------------------------------------------------------

def _summarise(why: Sequence[str]) -> str:
    named = list(why[:MAX_NAMED])
    if len(why) > MAX_NAMED:
        named.append(f"and {len(why) - MAX_NAMED} more")
    return "; ".join(named)


def evaluate_criterion(criterion: Criterion, max_points: float, result: ProviderResult) -> CriterionResult:
    checks = criterion.checks

    def row(**fields: Any) -> CriterionResult:
        return CriterionResult(id=criterion.id, checks=checks, version=criterion.version, **fields)

    if result.kind not in criterion.applies_to:
        return row(points=0, max=0, status="not_applicable")
    rules = [evaluate_rule(rule, result.checks) for rule in criterion.reads]
    counted = [r for r in rules if r.outcome != Outcome.NOT_APPLICABLE]
    if not counted:
        reason = _summarise([w for r in rules for w in r.why]) or None
        return row(points=0, max=0, status="not_applicable", reason=reason)
    met = [r for r in counted if r.outcome == Outcome.MET]
    unknown = [r for r in counted if r.outcome == Outcome.UNKNOWN]
    not_met = [r for r in counted if r.outcome == Outcome.NOT_MET]

    if criterion.combine == "any":
        fraction = 1.0 if met else 0.0
        status = "met" if met else ("not_verified" if unknown else "not_met")
        lost = [] if met else counted
    else:
        total = sum(r.rule.weight for r in counted)
        fraction = sum(r.rule.weight for r in met) / total
        if len(met) == len(counted):
            status = "met"
        elif len(unknown) == len(counted):
            status = "not_verified"
        elif not met and not_met:
            status = "not_met"
        else:
            status = "partial"
        lost = not_met + unknown

    points = round(max_points * fraction, 2)
    reason = None
    details: list[Detail] = []
    if points < max_points:
        reason = _summarise(list(dict.fromkeys(w for r in lost for w in r.why)))
        for detail in (d for r in lost for d in r.details):
            if detail not in details and len(details) < MAX_DETAILS:
                details.append(detail)
    return row(points=points, max=max_points, status=status, reason=reason, details=details)


# ---- a provider under a profile -----------------------------------------------------------------

def _grade_for(value: float, profile: Profile) -> Grade:
    for grade in GRADES:
        threshold = profile.grades.get(grade)
        if threshold is not None and value >= threshold:
            return grade
    return "F"


def _worse(a: Grade, b: Grade) -> Grade:
    return a if GRADES.index(a) >= GRADES.index(b) else b


def use_verdict(use: UseRule, profile: Profile, value: float, blockers: Sequence[str],
                rows: Sequence[CriterionResult]) -> UseVerdict:
    """The verdict for one use of the profile (the rule is in `UseRule`'s docstring), with its reasons."""
    if not use.assessed:
        return UseVerdict(id=use.id, verdict="not_assessed",
                          reasons=[UseReason(code="outside_profile", profile=profile.id)])
    assert use.threshold is not None  # UseRule guarantees it for an assessed use
    if blockers:
        return UseVerdict(id=use.id, verdict="unfit",
                          reasons=[UseReason(code="blocker", criterion=b) for b in blockers])
    if value < use.threshold - use.margin:
        return UseVerdict(id=use.id, verdict="unfit",
                          reasons=[UseReason(code="below_threshold", value=value, threshold=use.threshold)])
    reasons = [UseReason(code="not_verified", criterion=r.id) for r in rows if r.status == "not_verified"]
    if value < use.threshold:
        reasons.insert(0, UseReason(code="near_threshold", value=value, threshold=use.threshold))
    return UseVerdict(id=use.id, verdict="reservations" if reasons else "fits", reasons=reasons)


def score_provider(result: ProviderResult, profile: Profile, criteria: Criteria) -> Score:
    """The provider's score under `profile`: points, grade (capped by blockers), one result per criterion,
    and a verdict per use of the profile. `rank` is left to `rank_within_kinds` (it needs the other providers).
    """
    # Several vantage points: what one of them could not test does not hide what another measured.
    result = result.model_copy(update={"checks": scored_findings(result.checks)})
    rows: list[CriterionResult] = []
    blockers: list[str] = []
    cap: Grade = "A+"
    for item in profile.criteria:
        criterion = criteria.get(item.id)
        if criterion is None:
            raise ConfigError(f"profile {profile.id}: unknown criterion {item.id!r}")
        row = evaluate_criterion(criterion, item.points, result)
        rows.append(row)
        item_cap = item.cap(profile.required_cap)
        if item_cap and row.status not in ("met", "not_applicable"):
            blockers.append(item.id)
            cap = _worse(cap, item_cap)
    total = sum(r.max for r in rows)
    value = round(100 * sum(r.points for r in rows) / total, 1) if total else 0.0
    grade = _worse(_grade_for(value, profile), cap)
    uses = [use_verdict(use, profile, value, blockers, rows) for use in profile.uses]
    return Score(profile=profile.id, profile_version=profile.version, criteria_version=criteria.version,
                 value=value, grade=grade, blockers=blockers, uses=uses, criteria=rows)


def score_audit(audit: Audit, profile: str | Profile, criteria: Criteria | None = None) -> Audit:
    """A copy of the audit with every provider (re)scored under `profile` (a name, a path or a Profile).

    Re-scoring a stored audit under another profile needs no scan: findings are the only input.
    """
    criteria = criteria or load_criteria()
    prof = profile if isinstance(profile, Profile) else load_profile(profile, criteria)
    providers = [p.model_copy(update={"score": score_provider(p, prof, criteria)}) for p in audit.providers]
    return audit.model_copy(update={"profile": prof.id, "providers": rank_within_kinds(providers)})


# ---- ranking ------------------------------------------------------------------------------------

class Ranked(BaseModel):
    """One line of a comparison table; `position` is shared by providers of the same kind that tie."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: int | None  # None: not scored
    of: int  # scored providers of this kind
    id: str
    name: str
    kind: str
    value: float | None
    grade: str | None
    blockers: int


def _rank_key(result: ProviderResult) -> tuple[Any, ...]:
    score = result.score
    if score is None:
        return (1, 0.0, len(GRADES), 0)
    return (0, GRADES.index(score.grade), -score.value, len(score.blockers))


def rank(results: Sequence[ProviderResult]) -> list[Ranked]:
    """Providers best first within each kind (kinds in alphabetical order): grade, then score, then fewer
    blockers, then name.

    Scores compare within a kind only: a chat app and a mail provider are judged on different criteria (no
    STARTTLS for chat, no per-endpoint TLS for mail), so one table of both would compare unlike things.
    Grade comes first because it carries the profile's blockers: a provider capped at D for hosting health
    data outside the EEA must not top the table on the strength of its TLS points.

    Equal scores, grades and blocker counts share a position ("1, 2, 2, 4"); unscored providers come last
    in their kind with no position.
    """
    ranked: list[Ranked] = []
    for kind in sorted({r.kind for r in results}):
        same = [r for r in results if r.kind == kind]
        ordered = sorted(same, key=lambda r: (*_rank_key(r), r.name.casefold(), r.id))
        scored = sum(1 for r in same if r.score is not None)
        previous: tuple[Any, ...] | None = None
        position = 0
        for index, result in enumerate(ordered, start=1):
            key = _rank_key(result)
            if key != previous:
                position, previous = index, key
            score = result.score
            ranked.append(Ranked(
                position=position if score else None, of=scored, id=result.id, name=result.name, kind=kind,
                value=score.value if score else None, grade=score.grade if score else None,
                blockers=len(score.blockers) if score else 0,
            ))
    return ranked


def rank_within_kinds(results: Sequence[ProviderResult]) -> list[ProviderResult]:
    """The same providers (same order) with `score.rank` and `score.rank_of` set from `rank`."""
    table = {(r.kind, r.id): r for r in rank(results)}
    out: list[ProviderResult] = []
    for result in results:
        line = table[(result.kind, result.id)]
        if result.score is not None:
            score = result.score.model_copy(update={"rank": line.position, "rank_of": line.of})
            result = result.model_copy(update={"score": score})
        out.append(result)
    return out
