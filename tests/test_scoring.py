"""Scoring: the rule language, criteria and profiles as data, the engine. Golden scores of real pipeline
output are in test_golden.py; the findings stored there (tests/golden/<case>.findings.json) serve as inputs here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import ConfigError
from auditor.findings import Finding, ProviderResult, Score, Status
from auditor.scoring import (
    Criteria,
    Criterion,
    Expect,
    Outcome,
    Profile,
    Rule,
    builtin_profiles,
    evaluate_criterion,
    evaluate_rule,
    load_criteria,
    load_profile,
    rank,
    score_provider,
)

GOLDEN = Path(__file__).parent / "golden"
PROFILES = ["rgpd", "sante"]

# The check ids of CHECKS.md (the floor), plus the claim family: criteria may read nothing else.
KNOWN_CHECKS = {
    "dns.mx", "dns.dnssec", "smtp.starttls", "tls.protocols", "tls.ciphers", "tls.certificate", "mta_sts",
    "tlsrpt", "dane", "spf", "dmarc", "https.hsts", "hosting.location", "hosting.summary",
    "jurisdiction.company", "trust_space", "transfer",
}


# ---- helpers ------------------------------------------------------------------------------------

def finding(check: str, value: Any, status: str = "pass", target: str | None = "t", **kw: Any) -> Finding:
    return Finding(id=check, subject="example.org", target=target, status=Status(status), value=value,
                   summary=kw.pop("summary", "s"), **kw)


def rule(check: str, *expect: dict[str, Any], weight: float = 1.0) -> Rule:
    return Rule.model_validate({"check": check, "expect": list(expect), "weight": weight})


def criterion(*reads: Rule, combine: str = "all", applies_to: tuple[str, ...] = ("mail",)) -> Criterion:
    text = {"fr": "x", "en": "x"}
    return Criterion.model_validate({
        "id": "c", "version": 1, "reviewed": "2026-12-02", "title": text, "explanation": text,
        "applies_to": list(applies_to), "combine": combine,
        "reads": [r.model_dump(by_alias=True, exclude_unset=True) for r in reads],
        "references": [{"label": "RFC", "url": "https://www.rfc-editor.org/"}],
    })


def provider(*checks: Finding, kind: str = "mail") -> ProviderResult:
    return ProviderResult(id="p", name="P", kind=kind, checks=list(checks))


def outcome(expect: dict[str, Any], value: Any, status: str = "pass") -> Outcome:
    return evaluate_rule(rule("x", expect), [finding("x", value, status)]).outcome


# ---- the rule language --------------------------------------------------------------------------

@pytest.mark.parametrize(("expect", "value", "expected"), [
    ({"value": True}, True, Outcome.MET),
    ({"value": True}, False, Outcome.NOT_MET),
    ({"value": True}, 1, Outcome.NOT_MET),  # booleans are not numbers
    ({"value": "secure"}, "secure", Outcome.MET),
    ({"value": "secure"}, "insecure", Outcome.NOT_MET),
    ({"field": "mode", "in": ["enforce"]}, {"mode": "enforce"}, Outcome.MET),
    ({"field": "mode", "in": ["enforce"]}, {"mode": "testing"}, Outcome.NOT_MET),
    ({"field": "mode", "in": ["enforce"]}, {"mode": None}, Outcome.NOT_MET),  # null is a fact: no policy
    ({"field": "pct", "in": [100, None]}, {"pct": None}, Outcome.MET),  # ... unless null is named
    ({"field": "country", "not_in": ["US"]}, {"country": "DE"}, Outcome.MET),
    ({"field": "country", "not_in": ["US"]}, {"country": "US"}, Outcome.NOT_MET),
    ({"field": "country", "not_in": ["US"]}, {"country": None}, Outcome.NOT_MET),  # null is never good
    ({"field": "outside_eu_eea", "empty": True}, {"outside_eu_eea": []}, Outcome.MET),
    ({"field": "outside_eu_eea", "empty": True}, {"outside_eu_eea": ["US"]}, Outcome.NOT_MET),
    ({"field": "outside_eu_eea", "empty": True}, {"outside_eu_eea": None}, Outcome.NOT_MET),
    ({"field": "countries", "empty": False}, {"countries": ["DE"]}, Outcome.MET),
    ({"field": "verified", "equals": True}, {"verified": True}, Outcome.MET),
    ({"field": "verified", "equals": True}, {"verified": None}, Outcome.NOT_MET),
    ({"field": "verified", "equals": None}, {"verified": None}, Outcome.MET),
    ({"subset_of": ["TLSv1.2", "TLSv1.3"]}, ["TLSv1.3"], Outcome.MET),
    ({"subset_of": ["TLSv1.2", "TLSv1.3"]}, ["TLSv1.1", "TLSv1.2"], Outcome.NOT_MET),
    ({"subset_of": ["TLSv1.2"]}, "TLSv1.2", Outcome.NOT_MET),  # not a list
    ({"field": "max_age", "gte": 100}, {"max_age": 100}, Outcome.MET),
    ({"field": "max_age", "gte": 100}, {"max_age": 99}, Outcome.NOT_MET),
    ({"field": "max_age", "gte": 100}, {"max_age": "1000"}, Outcome.NOT_MET),  # strings are not numbers
    ({"field": "max_age", "gte": 1}, None, Outcome.NOT_MET),  # https.hsts null: no HSTS at all
    ({"field": "lookups", "lte": 10}, {"lookups": 11}, Outcome.NOT_MET),
    ({"field": "a.b", "equals": 1}, {"a": {"b": 1}}, Outcome.MET),
    ({"status": ["pass"]}, None, Outcome.MET),
    ({"status": ["pass"]}, True, Outcome.MET),
])
def test_predicates(expect: dict[str, Any], value: Any, expected: Outcome) -> None:
    assert outcome(expect, value) == expected


def test_status_predicate_reads_the_status() -> None:
    assert outcome({"status": ["pass", "info"]}, None, status="warn") == Outcome.NOT_MET


def test_absent_field_is_not_verified_never_met() -> None:
    result = evaluate_rule(rule("x", {"field": "verified", "equals": True}), [finding("x", {"claimed": True})])
    assert result.outcome == Outcome.UNKNOWN
    assert "verified missing" in result.why[0]


def test_null_read_as_not_known_is_not_verified_unless_a_known_fact_fails() -> None:
    claim = rule("claim.hds", {"field": "claimed", "equals": True, "if_null": "not_verified"},
                 {"field": "level", "in": ["attested"], "if_null": "not_verified"})
    unknown = evaluate_rule(claim, [finding("claim.hds", {"claimed": None, "level": None}, "info")])
    assert unknown.outcome == Outcome.UNKNOWN and "claimed, level not known" in unknown.why[0]
    assert [(d.summary_key, d.outcome) for d in unknown.details] == [("unknown", "not_verified")]
    # not claimed: a known fact fails, whatever is null beside it
    assert evaluate_rule(claim, [finding("claim.hds", {"claimed": False, "level": None}, "info")]).outcome \
        == Outcome.NOT_MET
    assert evaluate_rule(claim, [finding("claim.hds", {"claimed": True, "level": "expired"}, "fail")]).outcome \
        == Outcome.NOT_MET
    # without if_null a null still fails: a missing fact is never a good one
    assert outcome({"field": "claimed", "equals": True}, {"claimed": None}) == Outcome.NOT_MET


def test_optional_absent_field_does_not_apply_but_present_one_counts() -> None:
    r = rule("j", {"field": "country", "not_in": ["US"]}, {"field": "parent", "not_in": ["US"], "optional": True})
    assert evaluate_rule(r, [finding("j", {"country": "IE"})]).outcome == Outcome.MET
    assert evaluate_rule(r, [finding("j", {"country": "IE", "parent": "US"})]).outcome == Outcome.NOT_MET


def test_error_finding_is_not_verified_and_names_the_reason() -> None:
    result = evaluate_rule(rule("smtp.starttls", {"value": True}),
                           [finding("smtp.starttls", None, "error", target="mx1", summary="timed out")])
    assert result.outcome == Outcome.UNKNOWN
    assert result.why == ("smtp.starttls mx1: not verified (timed out)",)


def test_error_with_a_value_that_would_pass_is_still_not_verified() -> None:
    assert outcome({"value": True}, True, status="error") == Outcome.UNKNOWN


def test_missing_check_is_not_verified() -> None:
    result = evaluate_rule(rule("dane", {"value": "valid"}), [finding("other", "valid")])
    assert result.outcome == Outcome.UNKNOWN
    assert "no finding" in result.why[0]


def test_skipped_findings_do_not_count() -> None:
    r = rule("x", {"value": True})
    assert evaluate_rule(r, [finding("x", None, "skip")]).outcome == Outcome.NOT_APPLICABLE
    assert evaluate_rule(r, [finding("x", None, "skip"), finding("x", True)]).outcome == Outcome.MET


def test_worst_of_across_servers() -> None:
    r = rule("smtp.starttls", {"value": True})
    ok1, ok2 = finding("smtp.starttls", True, target="mx1"), finding("smtp.starttls", True, target="mx2")
    bad = finding("smtp.starttls", False, "fail", target="mx3")
    err = finding("smtp.starttls", None, "error", target="mx4", summary="refused")
    assert evaluate_rule(r, [ok1, ok2]).outcome == Outcome.MET
    assert evaluate_rule(r, [ok1, bad, ok2]).outcome == Outcome.NOT_MET
    assert evaluate_rule(r, [ok1, err]).outcome == Outcome.UNKNOWN  # one unverified server: no pass
    failed = evaluate_rule(r, [ok1, err, bad])
    assert failed.outcome == Outcome.NOT_MET
    assert failed.why == ("smtp.starttls mx3: value is false, expected value = true", "1 more not verified")


def test_list_of_expects_all_must_hold_and_first_failure_is_named() -> None:
    r = rule("tls.certificate", {"field": "trusted", "equals": True}, {"field": "expired", "equals": False})
    good = finding("tls.certificate", {"trusted": True, "expired": False})
    bad = finding("tls.certificate", {"trusted": True, "expired": True}, target="mx:25")
    assert evaluate_rule(r, [good]).outcome == Outcome.MET
    assert evaluate_rule(r, [bad]).why == ("tls.certificate mx:25: expired is true, expected expired = false",)


@pytest.mark.parametrize("bad", [
    {},  # no operator
    {"value": True, "equals": True},  # two operators
    {"field": "mode", "value": "enforce"},  # value reads the whole value
    {"in": []},  # empty list
    {"equals": 1, "optional": True},  # optional needs a field
    {"equals": 1, "if_null": "not_verified"},  # if_null needs a field
    {"field": "a", "equals": 1, "if_null": "pass"},  # a null is never a pass
    {"field": "a b", "equals": 1},  # not a path
    {"field": "a", "like": "x"},  # unknown operator
    {"status": ["passed"]},  # not a status
])
def test_invalid_expect_is_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Expect.model_validate(bad)


def test_expect_descriptions() -> None:
    assert Expect.model_validate({"field": "mode", "in": ["enforce"]}).describe() == "mode in [enforce]"
    assert Expect.model_validate({"value": True}).describe() == "value = true"
    assert Expect.model_validate({"field": "weak", "empty": True}).describe() == "weak empty"
    assert Expect.model_validate({"field": "m", "gte": 10}).describe() == "m ≥ 10"


# ---- criteria -----------------------------------------------------------------------------------

def test_criterion_not_applicable_to_kind_is_excluded_from_the_max() -> None:
    row = evaluate_criterion(criterion(rule("x", {"value": True})), 10, provider(kind="chat"))
    assert (row.status, row.points, row.max, row.reason) == ("not_applicable", 0, 0, None)


def test_all_findings_in_error_is_not_verified_with_zero_points() -> None:
    c = criterion(rule("a", {"value": True}), rule("b", {"value": True}))
    row = evaluate_criterion(c, 10, provider(finding("a", None, "error", summary="down")))
    assert (row.status, row.points, row.max) == ("not_verified", 0, 10)
    assert row.reason == "a t: not verified (down); b: not verified (no finding)"


def test_weights_give_partial_points_with_a_reason() -> None:
    c = criterion(rule("spf", {"field": "all", "in": ["-all", "~all"]}), rule("spf", {"field": "all", "in": ["-all"]}))
    row = evaluate_criterion(c, 4, provider(finding("spf", {"all": "~all"}, target=None)))
    assert (row.status, row.points) == ("partial", 2)
    assert row.reason == "spf example.org: all is ~all, expected all in [-all]"


def test_met_and_unknown_is_partial_never_met() -> None:
    c = criterion(rule("a", {"value": True}), rule("b", {"value": True}))
    row = evaluate_criterion(c, 10, provider(finding("a", True)))
    assert (row.status, row.points) == ("partial", 5)


def test_combine_any() -> None:
    c = criterion(rule("dane", {"value": "valid"}), rule("mta_sts", {"field": "mode", "in": ["enforce"]}),
                  combine="any")
    met = evaluate_criterion(c, 6, provider(finding("dane", "none"), finding("mta_sts", {"mode": "enforce"})))
    assert (met.status, met.points, met.reason) == ("met", 6, None)
    unknown = evaluate_criterion(c, 6, provider(finding("dane", "none")))
    assert (unknown.status, unknown.points) == ("not_verified", 0)
    failed = evaluate_criterion(c, 6, provider(finding("dane", "none"), finding("mta_sts", {"mode": None})))
    assert failed.status == "not_met" and "dane t: value is none" in (failed.reason or "")


# ---- the data files -----------------------------------------------------------------------------

def test_builtin_criteria_are_valid_and_read_known_checks() -> None:
    criteria = load_criteria()
    assert len(criteria.criteria) >= 18
    for c in criteria.criteria:
        for check in c.checks:
            assert check in KNOWN_CHECKS or check.startswith("claim."), (c.id, check)
        assert c.title.fr != c.title.en or c.title.fr.isascii()
        assert all(ref.url.startswith("https://") for ref in c.references)


def test_required_criteria_exist() -> None:
    ids = {c.id for c in load_criteria().criteria}
    assert {
        "starttls_all_mx", "tls_modern_only", "certificates_valid", "mta_sts_enforce", "dane_valid",
        "dnssec_secure", "spf_strict", "dmarc_enforcing", "tlsrpt", "hosting_eu_eea", "transfer_adequate",
        "no_third_country_parent", "mfa_verified", "e2ee_or_zero_access", "hds_certified", "mssante_member",
        "hsts", "tls_chat_web",
    } <= ids


def test_builtin_profiles() -> None:
    assert {"rgpd", "sante"} <= set(builtin_profiles())
    criteria = load_criteria()
    for name in PROFILES:
        profile = load_profile(name, criteria)
        assert profile.id == name
        applies = {c.id: c.applies_to for c in criteria.criteria}
        mail_points = sum(i.points for i in profile.criteria if "mail" in applies[i.id])
        assert mail_points == 100


def test_sante_blocks_hosting_outside_eu_and_hosting_without_hds() -> None:
    sante = {c.id: c for c in load_profile("sante").criteria}
    assert sante["hosting_eu_eea"].blocker == "F"
    assert sante["hds_certified"].blocker == "F"
    assert sante["mssante_member"].required and sante["transfer_adequate"].required
    assert "health_storage_protected" not in load_criteria()  # E2EE is no substitute for HDS


HYGIENE = ("hsts", "dnssec_secure", "tlsrpt", "spf_strict", "dmarc_enforcing")
LEGAL = ("hds_certified", "hosting_eu_eea", "transfer_adequate", "no_third_country_parent", "mssante_member")


def test_sante_legal_requirements_outweigh_hygiene() -> None:
    """Defect 5: HDS was worth 4 points and HSTS+DNSSEC+TLS-RPT+SPF+DMARC 11."""
    points = {c.id: c.points for c in load_profile("sante").criteria}
    hygiene = sum(points[c] for c in HYGIENE)
    assert points["hds_certified"] > hygiene
    assert sum(points[c] for c in LEGAL) > 3 * hygiene
    # HDS binds chat services as much as mail (L.1111-8 is about hosting, whatever the kind)
    assert set(load_criteria().get("hds_certified").applies_to) == {"mail", "chat"}  # type: ignore[union-attr]


def test_e2ee_does_not_replace_hds() -> None:
    claim = {"claimed": True, "evidence_url": "https://p.example/e2ee", "verified": True, "checked_at": "t",
             "sha256": None, "level": "stated", "publisher": "provider", "valid_until": None}
    result = provider(finding("claim.e2ee", claim, target=None), kind="chat")
    score = score_provider(result, load_profile("sante"), load_criteria())
    rows = {r.id: r.status for r in score.criteria}
    assert rows["e2ee_or_zero_access"] == "met" and rows["hds_certified"] == "not_verified"
    assert "hds_certified" in score.blockers and score.grade == "F"


def _profile_yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(body, encoding="utf-8")
    return path


PROFILE_HEAD = """\
id: mine
version: 1
reviewed: "2026-11-29"
title: {fr: Le mien, en: Mine}
description: {fr: Test, en: Test}
grades: {A: 80, C: 50, F: 0}
required_cap: C
"""


def test_user_profile_from_a_path(tmp_path: Path) -> None:
    path = _profile_yaml(tmp_path, PROFILE_HEAD + "criteria:\n  - {id: starttls_all_mx, points: 5, blocker: E}\n")
    profile = load_profile(str(path))
    assert profile.id == "mine" and profile.criteria[0].blocker == "E"
    score = score_provider(provider(finding("smtp.starttls", False)), profile, load_criteria())
    assert (score.value, score.grade, score.blockers) == (0, "F", ["starttls_all_mx"])


def test_unknown_criterion_names_file_and_line(tmp_path: Path) -> None:
    path = _profile_yaml(tmp_path, PROFILE_HEAD + "criteria:\n  - {id: starttls_all_mx, points: 5}\n"
                                                  "  - {id: telepathy, points: 5}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:10: unknown criterion 'telepathy'")):
        load_profile(str(path))


def test_bad_value_names_file_and_line(tmp_path: Path) -> None:
    path = _profile_yaml(tmp_path, PROFILE_HEAD + "criteria:\n  - id: starttls_all_mx\n    points: -1\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:10: criteria.0.points")):
        load_profile(str(path))


def test_bad_grade_order_names_the_line(tmp_path: Path) -> None:
    body = PROFILE_HEAD.replace("{A: 80, C: 50, F: 0}", "{A: 40, C: 50, F: 0}")
    path = _profile_yaml(tmp_path, body + "criteria:\n  - {id: starttls_all_mx, points: 5}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:6: grades: grade A (40.0) must need more")):
        load_profile(str(path))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _profile_yaml(tmp_path, PROFILE_HEAD + "criteria:\n  - {id: x, points: [\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:") + r"\d+: not valid YAML"):
        load_profile(str(path))


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*rgpd"):
        load_profile("nope")


# ---- the engine ---------------------------------------------------------------------------------

def _tiny_profile(**overrides: Any) -> Profile:
    data: dict[str, Any] = {
        "id": "t", "version": 1, "reviewed": "2026-12-02", "title": {"fr": "t", "en": "t"},
        "description": {"fr": "t", "en": "t"}, "grades": {"A+": 95, "A": 85, "B": 70, "C": 55, "F": 0},
        "required_cap": "C",
        "criteria": [{"id": "starttls_all_mx", "points": 50}, {"id": "dane_valid", "points": 50}],
    }
    data.update(overrides)
    return Profile.model_validate(data)


def test_grade_from_thresholds() -> None:
    result = provider(finding("smtp.starttls", True), finding("dane", "none"))
    score = score_provider(result, _tiny_profile(), load_criteria())
    assert (score.value, score.grade, score.blockers) == (50, "F", [])
    result = provider(finding("smtp.starttls", True), finding("dane", "valid"))
    assert score_provider(result, _tiny_profile(), load_criteria()).grade == "A+"


def test_required_caps_at_required_cap_and_blocker_at_its_own_cap() -> None:
    result = provider(finding("smtp.starttls", True), finding("dane", "none"))
    required = _tiny_profile(grades={"A": 40, "F": 0},
                             criteria=[{"id": "starttls_all_mx", "points": 50},
                                       {"id": "dane_valid", "points": 50, "required": True}])
    assert score_provider(result, required, load_criteria()).grade == "C"
    blocker = _tiny_profile(grades={"A": 40, "F": 0},
                            criteria=[{"id": "starttls_all_mx", "points": 50},
                                      {"id": "dane_valid", "points": 50, "blocker": "E"}])
    score = score_provider(result, blocker, load_criteria())
    assert (score.grade, score.blockers) == ("E", ["dane_valid"])


def test_not_verified_required_criterion_is_a_blocker() -> None:
    result = provider(finding("smtp.starttls", True))
    profile = _tiny_profile(criteria=[{"id": "starttls_all_mx", "points": 50},
                                      {"id": "dane_valid", "points": 50, "blocker": "D"}])
    score = score_provider(result, profile, load_criteria())
    assert score.blockers == ["dane_valid"] and score.grade == "F"


def test_nothing_applicable_scores_zero() -> None:
    score = score_provider(provider(kind="chat"), _tiny_profile(), load_criteria())
    assert (score.value, score.grade) == (0, "F")


def test_scoring_does_not_modify_its_input() -> None:
    result = _input("posteo")
    before = result.model_dump()
    score_provider(result, load_profile("rgpd"), load_criteria())
    assert result.model_dump() == before


def test_unknown_criterion_in_profile_is_a_config_error() -> None:
    profile = _tiny_profile(criteria=[{"id": "telepathy", "points": 5}])
    with pytest.raises(ConfigError, match="telepathy"):
        score_provider(provider(), profile, Criteria(version=1, reviewed="2026-12-02", criteria=()))


# ---- inputs from the golden files (real pipeline output) ----------------------------------------

def _input(name: str) -> ProviderResult:
    path = GOLDEN / f"{name}.findings.json"
    kind = "chat" if name in ("signal", "olvid", "whatsapp") else "mail"
    return ProviderResult.model_validate({"id": name, "name": name, "kind": kind,
                                          "checks": json.loads(path.read_text(encoding="utf-8"))})


def _scored(pid: str, value: float, grade: str, blockers: int = 0, kind: str = "mail") -> ProviderResult:
    score = Score(profile="rgpd", value=value, grade=grade, blockers=["x"] * blockers)
    return ProviderResult(id=pid, name=pid.upper(), kind=kind, score=score)


def test_rank_orders_and_ties() -> None:
    results = [_scored("b", 80, "B"), ProviderResult(id="z", name="Z", kind="mail"), _scored("a", 80, "B"),
               _scored("c", 90, "C", 1), _scored("d", 95, "A+")]
    ranked = rank(results)
    # grade first: a grade capped by a blocker ranks below a clean lower score
    assert [(r.id, r.position, r.of) for r in ranked] == [
        ("d", 1, 4), ("a", 2, 4), ("b", 2, 4), ("c", 4, 4), ("z", None, 4)]


def test_rank_is_per_kind_and_reaches_the_score() -> None:
    """Defect 3: mail and chat were ranked in one table; each kind now has its own positions, and the JSON
    score carries them (rank, rank_of)."""
    from auditor.scoring import rank_within_kinds

    results = [_scored("m1", 70, "B"), _scored("c1", 99, "A+", kind="chat"), _scored("m2", 90, "A"),
               _scored("c2", 50, "D", kind="chat"), _scored("m3", 40, "D")]
    table = {r.id: (r.kind, r.position, r.of) for r in rank(results)}
    assert table == {"c1": ("chat", 1, 2), "c2": ("chat", 2, 2),
                     "m2": ("mail", 1, 3), "m1": ("mail", 2, 3), "m3": ("mail", 3, 3)}
    ranked = rank_within_kinds(results)
    assert [p.id for p in ranked] == [p.id for p in results]  # same order as given
    assert {p.id: (p.score.rank, p.score.rank_of) for p in ranked if p.score} == {
        "m1": (2, 3), "c1": (1, 2), "m2": (1, 3), "c2": (2, 2), "m3": (3, 3)}


def test_uses_come_from_the_profile() -> None:
    """Defect 4: under `rgpd`, a provider that scores well does not "fit" health-data uses: the profile does
    not assess them, and says why."""
    rgpd = load_profile("rgpd")
    health = [u for u in rgpd.uses if not u.assessed]
    assert health and all(u.reason for u in health)
    from auditor.scoring import use_verdict

    for use in rgpd.uses:
        verdict = use_verdict(use, rgpd, 99.0, [], [])
        if use.assessed:
            assert verdict.verdict == "fits"
        else:
            assert verdict.verdict == "not_assessed"
            assert [r.code for r in verdict.reasons] == ["outside_profile"]
    sante = load_profile("sante")
    assert all(u.assessed for u in sante.uses)
    assert {u.id for u in sante.uses} == {"patients", "professionals", "internal"}


@pytest.mark.parametrize(("value", "blockers", "unverified", "verdict", "codes"), [
    (99.0, ["hosting_eu_eea"], False, "unfit", ["blocker"]),
    (59.9, [], False, "unfit", ["below_threshold"]),
    (60.0, [], False, "reservations", ["near_threshold"]),
    (70.0, [], True, "reservations", ["not_verified"]),
    (70.0, [], False, "fits", []),
])
def test_use_rule(value: float, blockers: list[str], unverified: bool, verdict: str, codes: list[str]) -> None:
    from auditor.findings import CriterionResult
    from auditor.scoring import UseRule, use_verdict

    use = UseRule.model_validate({"id": "x", "title": {"fr": "x", "en": "x"}, "threshold": 70, "margin": 10})
    rows = [CriterionResult(id="dane_valid", points=0, max=3, status="not_verified" if unverified else "met")]
    result = use_verdict(use, load_profile("rgpd"), value, blockers, rows)
    assert (result.verdict, [r.code for r in result.reasons]) == (verdict, codes)


def test_score_records_the_versions_it_applied() -> None:
    score = score_provider(provider(finding("smtp.starttls", True)), load_profile("sante"), load_criteria())
    assert score.profile_version == load_profile("sante").version
    assert score.criteria_version == load_criteria().version
    assert all(r.version for r in score.criteria)


def test_criterion_details_are_structured() -> None:
    """The reason a report renders in French and English, as data: which finding, field, value, expectation."""
    c = criterion(rule("tls.certificate", {"field": "trusted", "equals": True}, {"field": "expired", "equals": False}),
                  rule("dane", {"value": "valid"}))
    bad = finding("tls.certificate", {"trusted": True, "expired": True}, status="fail", target="mx:25")
    row = evaluate_criterion(c, 10, provider(bad))
    assert [d.model_dump() for d in row.details] == [
        {"check": "tls.certificate", "target": "mx:25", "outcome": "not_met", "summary_key": "predicate",
         "field": "expired", "observed": True, "op": "equals", "expected": False},
        {"check": "dane", "target": None, "outcome": "not_verified", "summary_key": "no_finding",
         "field": None, "observed": None, "op": None, "expected": None},
    ]


def test_score_audit_rescores_every_provider_without_touching_the_input() -> None:
    from auditor.findings import Audit, Vantage
    from auditor.scoring import score_audit

    audit = Audit(audit_id="a1", started_at="2026-11-29T04:00:00Z", tool_version="0", profile="rgpd",
                  vantage=Vantage(resolver="192.0.2.53", host="h"), providers=[_input("posteo"), _input("proton")])
    rescored = score_audit(audit, "sante")
    assert rescored.profile == "sante" and audit.profile == "rgpd"
    expected = [score_provider(p, load_profile("sante"), load_criteria()).grade for p in audit.providers]
    assert [p.score.grade for p in rescored.providers if p.score] == expected
    assert [(p.score.rank, p.score.rank_of) for p in rescored.providers if p.score] in ([(1, 2), (2, 2)],
                                                                                        [(2, 2), (1, 2)])
    assert all(p.score is None for p in audit.providers)


# ---- the shipped judgement data: sources and dates, no working notes ------------------------------

JUDGEMENT_DATA = [Path("auditor/scoring/criteria.yaml"), Path("auditor/scoring/profiles/rgpd.yaml"),
                  Path("auditor/scoring/profiles/sante.yaml"), Path("auditor/data/regions.yaml"),
                  Path("auditor/data/access_laws.yaml"), Path("auditor/data/trust_spaces.yaml")]
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("relative", JUDGEMENT_DATA, ids=str)
def test_shipped_data_carry_sources_not_working_notes(relative: Path) -> None:
    text = (ROOT / relative).read_text(encoding="utf-8")
    for note in ("/work/", "shared/research", "research/providers", "research/standards", "INFERENCE", "TODO"):
        assert note not in text, (relative, note)


def test_changed_references_say_when_they_were_checked() -> None:
    """Defect 11: each reference changed in this review names the date it was checked against its source;
    the pre-GDPR CNIL autorisation unique is no longer cited."""
    criteria = load_criteria()
    refs = [r for c in criteria.criteria for r in c.references]
    refs += [r for name in PROFILES for r in load_profile(name).references]
    assert not [r for r in refs if "2014-239" in r.label or "JORFTEXT000029238801" in r.url]
    needed = ("NCSC-NL", "ANSSI", "L.1110-4", "Référentiel HDS", "Schrems II", "RFC 9989", "CLOUD Act", "05/2021")
    for word in needed:
        found = [r for r in refs if word in r.label]
        assert found and all(r.checked for r in found), word
    ciphers = {r.label for r in criteria.get("tls_strong_ciphers").references}  # type: ignore[union-attr]
    assert any(label.startswith("NCSC-NL, TLS Security Guidelines 2025-05") for label in ciphers)


def test_profiles_have_assessment_titles_and_versions() -> None:
    for name in PROFILES:
        profile = load_profile(name)
        assert profile.version >= 2 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", profile.reviewed)
        assert profile.title.fr.startswith("Évaluation de la protection des données")
        assert "Audit de conformité" not in profile.title.fr
    assert all(c.version >= 1 and c.reviewed for c in load_criteria().criteria)
