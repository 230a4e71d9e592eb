"""Score a provider's findings against a profile. `score_provider` and `rank` are pure (no network, no
files, no clock); `score_audit` only loads the built-in criteria and a profile when given a name.

How a criterion is decided (see criteria.yaml for the rules themselves):
- Each rule looks at every finding with its check id. A finding with status `skip` does not count; one with
  status `error` leaves the rule *unknown*; otherwise the rule's predicates decide met / not met.
- Findings of the same check aggregate worst-of (one failing MX fails the rule): not met, then unknown,
  then met. A rule with no finding at all is unknown: a missing fact is never a pass.
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
from auditor.findings import Audit, CriterionResult, Finding, ProviderResult, Score, Status
from auditor.scoring.models import (
    GRADES,
    Criteria,
    Criterion,
    Expect,
    Grade,
    Profile,
    Rule,
    load_criteria,
    load_profile,
    show,
)

MAX_NAMED = 3  # findings named in one reason before "and N more"


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
    return f"{finding.id} {finding.target or finding.subject}"


def _judge(rule: Rule, finding: Finding) -> tuple[Outcome, str]:
    if finding.status == Status.SKIP:
        return Outcome.NOT_APPLICABLE, f"{_where(finding)}: skipped"
    if finding.status == Status.ERROR:
        return Outcome.UNKNOWN, f"{_where(finding)}: not verified ({finding.summary})"
    failed: list[str] = []
    missing: list[str] = []
    for expect in rule.expect:
        observed = finding.status if expect.operator == "status" else _lookup(finding.value, expect.field)
        if observed is _ABSENT:
            if not expect.optional:
                missing.append(str(expect.field))
            continue  # an optional field that is absent: this predicate does not apply
        if not _holds(expect, finding, observed):
            name = expect.field or ("status" if expect.operator == "status" else "value")
            failed.append(f"{name} is {show(observed)}, expected {expect.describe()}")
    if failed:
        # the first failed predicate is the one a reader needs; the others follow from fixing it or not
        return Outcome.NOT_MET, f"{_where(finding)}: {failed[0]}"
    if missing:
        return Outcome.UNKNOWN, f"{_where(finding)}: not verified ({', '.join(missing)} missing)"
    return Outcome.MET, ""


def evaluate_rule(rule: Rule, findings: Sequence[Finding]) -> RuleResult:
    """One rule over every finding of its check, worst-of."""
    relevant = [f for f in findings if f.id == rule.check]
    if not relevant:
        return RuleResult(rule, Outcome.UNKNOWN, (f"{rule.check}: not verified (no finding)",))
    judged = [_judge(rule, f) for f in relevant]
    worst = max(outcome for outcome, _ in judged)
    why = [text for outcome, text in judged if outcome == worst and text]
    if worst == Outcome.NOT_MET:
        unknown = sum(1 for outcome, _ in judged if outcome == Outcome.UNKNOWN)
        if unknown:
            why.append(f"{unknown} more not verified")
    return RuleResult(rule, worst, tuple(why))


# ---- one criterion ------------------------------------------------------------------------------

def _summarise(why: Sequence[str]) -> str:
    named = list(why[:MAX_NAMED])
    if len(why) > MAX_NAMED:
        named.append(f"and {len(why) - MAX_NAMED} more")
    return "; ".join(named)


def evaluate_criterion(criterion: Criterion, max_points: float, result: ProviderResult) -> CriterionResult:
    checks = criterion.checks
    if result.kind not in criterion.applies_to:
        return CriterionResult(id=criterion.id, points=0, max=0, status="not_applicable", checks=checks)
    rules = [evaluate_rule(rule, result.checks) for rule in criterion.reads]
    counted = [r for r in rules if r.outcome != Outcome.NOT_APPLICABLE]
    if not counted:
        reason = _summarise([w for r in rules for w in r.why]) or None
        return CriterionResult(id=criterion.id, points=0, max=0, status="not_applicable", reason=reason,
                               checks=checks)
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
    if points < max_points:
        reason = _summarise(list(dict.fromkeys(w for r in lost for w in r.why)))
    return CriterionResult(id=criterion.id, points=points, max=max_points, status=status, reason=reason,
                           checks=checks)


# ---- a provider under a profile -----------------------------------------------------------------

def _grade_for(value: float, profile: Profile) -> Grade:
    for grade in GRADES:
        threshold = profile.grades.get(grade)
        if threshold is not None and value >= threshold:
            return grade
    return "F"


def _worse(a: Grade, b: Grade) -> Grade:
    return a if GRADES.index(a) >= GRADES.index(b) else b


def score_provider(result: ProviderResult, profile: Profile, criteria: Criteria) -> Score:
    """The provider's score under `profile`: points, grade (capped by blockers), one result per criterion."""
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
    return Score(profile=profile.id, value=value, grade=grade, blockers=blockers, criteria=rows)


def score_audit(audit: Audit, profile: str | Profile, criteria: Criteria | None = None) -> Audit:
    """A copy of the audit with every provider (re)scored under `profile` (a name, a path or a Profile).

    Re-scoring a stored audit under another profile needs no scan: findings are the only input.
    """
    criteria = criteria or load_criteria()
    prof = profile if isinstance(profile, Profile) else load_profile(profile, criteria)
    providers = [p.model_copy(update={"score": score_provider(p, prof, criteria)}) for p in audit.providers]
    return audit.model_copy(update={"profile": prof.id, "providers": providers})


# ---- ranking ------------------------------------------------------------------------------------

class Ranked(BaseModel):
    """One line of a comparison table; `position` is shared by providers that tie."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position: int | None  # None: not scored
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
    """Providers best first: grade, then score, then fewer blockers, then name.

    Grade comes first because it carries the profile's blockers: a provider capped at D for hosting health
    data outside the EEA must not top the table on the strength of its TLS points.

    Equal scores, grades and blocker counts share a position ("1, 2, 2, 4"); unscored providers come last
    with no position.
    """
    ordered = sorted(results, key=lambda r: (*_rank_key(r), r.name.casefold(), r.id))
    ranked: list[Ranked] = []
    previous: tuple[Any, ...] | None = None
    position = 0
    for index, result in enumerate(ordered, start=1):
        key = _rank_key(result)
        if key != previous:
            position, previous = index, key
        score = result.score
        ranked.append(Ranked(
            position=position if score else None, id=result.id, name=result.name, kind=result.kind,
            value=score.value if score else None, grade=score.grade if score else None,
            blockers=len(score.blockers) if score else 0,
        ))
    return ranked
