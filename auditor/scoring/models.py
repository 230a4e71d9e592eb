"""Typed models of the scoring data: criteria (what a finding must show) and profiles (what counts, how much).

The rule language is deliberately tiny and lives in these pydantic models, not in a string DSL: a rule
names one check id and one or more `Expect` predicates over each finding's `value` (or a field of it) or
its `status`. Loading keeps YAML line numbers so a bad user profile is reported as "FILE:LINE: …".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditor.errors import ConfigError
from auditor.findings import Status

SCORING_DIR = Path(__file__).parent
CRITERIA_FILE = SCORING_DIR / "criteria.yaml"
PROFILES_DIR = SCORING_DIR / "profiles"

Grade = Literal["A+", "A", "B", "C", "D", "E", "F"]
GRADES: tuple[Grade, ...] = ("A+", "A", "B", "C", "D", "E", "F")  # best first
Kind = Literal["mail", "chat"]
CHECK_ID = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"
FIELD_PATH = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
DATE = r"^\d{4}-\d{2}-\d{2}$"

# The predicates an Expect may carry; exactly one per Expect, so each reads as one plain sentence.
OPERATORS = ("value", "equals", "in_", "not_in", "empty", "subset_of", "gte", "lte", "status")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Frozen):
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.fr if lang == "fr" else self.en


class Reference(_Frozen):
    label: str = Field(min_length=1)
    label_fr: str | None = Field(default=None, min_length=1)  # the label in French, when it differs
    url: str = Field(pattern=r"^https://")  # the text as read when `checked` is set (a copy says so in the label)
    checked: str | None = Field(default=None, pattern=DATE)  # when the statement was checked against the text

    def label_in(self, lang: str) -> str:
        return self.label_fr if lang == "fr" and self.label_fr else self.label


class Advice(_Frozen):
    """What a criterion not met means for a client, and what to ask the provider or do (report text)."""

    meaning: Text
    action: Text


class Expect(_Frozen):
    """One predicate over one finding.

    `field` is a dotted path into `value` (a dict); without it the predicate reads `value` itself.
    `value: X` is shorthand for `equals: X` on the whole value. A `null` observed value fails every
    predicate that does not name null explicitly (`equals: null`, `in: [.., null]`): a missing fact is
    never a good one.
    """

    field: str | None = Field(default=None, pattern=FIELD_PATH)
    value: Any = None
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Any] | None = Field(default=None, min_length=1)
    empty: bool | None = None
    subset_of: list[Any] | None = Field(default=None, min_length=1)
    gte: float | None = None
    lte: float | None = None
    status: list[Status] | None = Field(default=None, min_length=1)
    # optional: the field may be absent (e.g. `parent_country` of a company without a parent); the predicate
    # then does not apply. Without it an absent field leaves the finding "not verified", never passed.
    optional: bool = False
    # if_null: not_verified: a null here means "not known" (a catalog claim recorded as `unknown`), so the
    # finding leaves the rule not verified rather than not met, unless another predicate fails on a known
    # value. Without it a null fails the predicate: a missing fact is never a good one.
    if_null: Literal["fail", "not_verified"] = "fail"

    @model_validator(mode="after")
    def _one_operator(self) -> Expect:
        given = [name for name in OPERATORS if name in self.model_fields_set]
        if len(given) != 1:
            shown = ", ".join("in" if n == "in_" else n for n in OPERATORS)
            raise ValueError(f"an expect needs exactly one of: {shown} (got {len(given)})")
        if self.operator in ("value", "status") and self.field is not None:
            raise ValueError(f"`{self.operator}` reads the whole finding; drop `field` or use `equals`")
        if self.optional and self.field is None:
            raise ValueError("`optional` applies to a field that may be absent; name the `field`")
        if self.if_null != "fail" and self.field is None:
            raise ValueError("`if_null` applies to a field whose value may be null; name the `field`")
        return self

    @property
    def operator(self) -> str:
        return next(name for name in OPERATORS if name in self.model_fields_set)

    def describe(self) -> str:
        """The expectation in words, for reasons: `mode in [enforce]`, `value = true`."""
        subject = self.field or ("status" if self.operator == "status" else "value")
        op = self.operator
        arg = getattr(self, op)
        if op == "empty":
            return f"{subject} {'empty' if arg else 'not empty'}"
        words = {"value": "=", "equals": "=", "in_": "in", "not_in": "not in", "subset_of": "only from",
                 "gte": "≥", "lte": "≤", "status": "in"}
        return f"{subject} {words[op]} {show(arg)}"


def show(value: Any) -> str:
    """A short JSON-like rendering of a value for one-line reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


class Rule(_Frozen):
    """Every finding of `check` must satisfy every `expect`; several findings aggregate worst-of."""

    check: str = Field(pattern=CHECK_ID)
    expect: tuple[Expect, ...] = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)

    @field_validator("expect", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v


class Criterion(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    version: int = Field(ge=1)  # raised whenever what the criterion reads or accepts changes
    reviewed: str = Field(pattern=DATE)  # when its rule and references were last checked
    title: Text
    short: Text | None = None  # a few words, for tables
    explanation: Text
    advice: Advice | None = None  # for the client report's recommendations and action list
    applies_to: tuple[Kind, ...] = Field(min_length=1)
    combine: Literal["all", "any"] = "all"  # all: every rule must hold; any: one rule is enough
    reads: tuple[Rule, ...] = Field(min_length=1)
    references: tuple[Reference, ...] = Field(min_length=1)

    @property
    def checks(self) -> list[str]:
        return list(dict.fromkeys(rule.check for rule in self.reads))


class Criteria(_Frozen):
    version: int
    reviewed: str = Field(pattern=DATE)
    criteria: tuple[Criterion, ...]

    @model_validator(mode="after")
    def _unique(self) -> Criteria:
        ids = [c.id for c in self.criteria]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate criterion ids: {dupes}")
        return self

    def get(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def __contains__(self, criterion_id: object) -> bool:
        return any(c.id == criterion_id for c in self.criteria)


class ProfileCriterion(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    points: float = Field(gt=0)
    # required: the provider is not compliant under this profile unless the criterion is met (or not
    # applicable); failing it, or leaving it unverified, lists it in `blockers` and caps the grade at the
    # profile's `required_cap`. blocker: the same, with this harsher cap instead.
    required: bool = False
    blocker: Grade | None = None
    why: Text | None = None  # why this profile weighs or requires it

    def cap(self, required_cap: Grade) -> Grade | None:
        if self.blocker:
            return self.blocker
        return required_cap if self.required else None


class UseRule(_Frozen):
    """What a client may use a provider for under this profile, and the rule that decides it.

    A use the profile does not cover (e.g. health data under a general GDPR profile) says `assessed: false`
    and why (`reason`): its verdict is always "not assessed", never "fits". Otherwise a provider with a
    blocker does not fit; below `threshold - margin` it does not fit; below `threshold`, or with a criterion
    not verified, it fits with reservations; else it fits.
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: Text
    assessed: bool = True
    reason: Text | None = None  # why the profile does not assess it
    threshold: float | None = Field(default=None, ge=0, le=100)
    margin: float = Field(default=10, ge=0, le=100)

    @model_validator(mode="after")
    def _assessed_or_why(self) -> UseRule:
        if self.assessed and self.threshold is None:
            raise ValueError("an assessed use needs a `threshold` (the score from which it fits)")
        if not self.assessed and (self.reason is None or self.threshold is not None):
            raise ValueError("a use with `assessed: false` needs a `reason` and no `threshold`")
        return self


class Profile(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    title: Text  # the assessment's title, as a client report shows it
    description: Text
    version: int
    reviewed: str = Field(pattern=DATE)
    references: tuple[Reference, ...] = ()
    grades: dict[Grade, float]  # lowest score (0–100) for each grade
    required_cap: Grade
    uses: tuple[UseRule, ...] = ()
    criteria: tuple[ProfileCriterion, ...] = Field(min_length=1)

    @field_validator("grades")
    @classmethod
    def _thresholds(cls, v: dict[Grade, float]) -> dict[Grade, float]:
        if v.get("F") != 0:
            raise ValueError("grades must include F: 0 (every score gets a grade)")
        ordered = [(g, v[g]) for g in GRADES if g in v]
        for (better, high), (worse, low) in pairwise(ordered):
            if not high > low:
                raise ValueError(f"grade {better} ({high}) must need more than {worse} ({low})")
        if any(not 0 <= t <= 100 for t in v.values()):
            raise ValueError("grade thresholds are scores between 0 and 100")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Profile:
        ids = [c.id for c in self.criteria]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"criteria listed twice: {dupes}")
        uses = [u.id for u in self.uses]
        if len(uses) != len(set(uses)):
            raise ValueError("a use is listed twice")
        return self


# ---- loading, with FILE:LINE in every error ---------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _line_of(node: yaml.Node, loc: Sequence[int | str]) -> int:
    """The 1-based line of the YAML node a pydantic error location points at (as deep as it resolves)."""
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if str(k.value) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            child = node.value[key]
        else:
            child = None
        if child is None:
            continue  # a pydantic-internal segment (union member, validator name): keep the current node
        node = child
        line = node.start_mark.line + 1
    return line


def load_yaml_model(path: Path, model: type[M]) -> tuple[M, yaml.Node | None]:
    """Parse and validate one YAML file; every error is a ConfigError "FILE:LINE: what is wrong"."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: not valid YAML ({exc.problem or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:1: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or node is None:
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    try:
        return model.model_validate(data), node
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = re.sub(r"^Value error, ", "", first["msg"])
        raise ConfigError(f"{path}:{_line_of(node, first['loc'])}: {where}: {message}") from exc


@cache
def load_criteria(path: Path = CRITERIA_FILE) -> Criteria:
    """The criteria catalogue (built in, or another file for tests), parsed once."""
    criteria, _ = load_yaml_model(path, Criteria)
    return criteria


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str, criteria: Criteria | None = None) -> Profile:
    """A built-in profile by name (`rgpd`, `sante`) or a user's profile file by path.

    Every criterion the profile lists must exist in the criteria catalogue.
    """
    criteria = criteria or load_criteria()
    looks_like_path = any(sep in name_or_path for sep in ("/", "\\")) or name_or_path.endswith((".yaml", ".yml"))
    if looks_like_path:
        return _load_profile_file(Path(name_or_path), criteria)
    if not re.fullmatch(r"[a-z0-9_-]+", name_or_path) or name_or_path not in builtin_profiles():
        known = ", ".join(builtin_profiles())
        raise ConfigError(f"unknown profile {name_or_path!r}; built-in profiles: {known} (or give a YAML path)")
    path = PROFILES_DIR / f"{name_or_path}.yaml"
    profile, node = _parse_builtin(name_or_path)
    _check_ids(path, profile, node, criteria)
    return profile


@cache
def _parse_builtin(name: str) -> tuple[Profile, yaml.Node | None]:
    return load_yaml_model(PROFILES_DIR / f"{name}.yaml", Profile)


def _load_profile_file(path: Path, criteria: Criteria) -> Profile:
    profile, node = load_yaml_model(path, Profile)
    _check_ids(path, profile, node, criteria)
    return profile


def _check_ids(path: Path, profile: Profile, node: yaml.Node | None, criteria: Criteria) -> None:
    for index, item in enumerate(profile.criteria):
        if item.id not in criteria:
            line = _line_of(node, ["criteria", index, "id"]) if node is not None else 1
            known = ", ".join(c.id for c in criteria.criteria)
            raise ConfigError(f"{path}:{line}: unknown criterion {item.id!r}; known: {known}")
