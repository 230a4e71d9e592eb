"""The diff between two audits: which changes are reported, and how they are judged."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.diff import AuditDiff, Change, diff_audits, render_text
from auditor.findings import Audit, Finding, ProviderResult, Score, Status, Vantage

DOMAIN = "posteo.example"
OLD_MX, NEW_MX = "mx01.posteo.example", "mx-us.posteo.example"


def _f(check: str, subject: str, status: str, value: Any, target: str | None = None, summary: str = "s") -> Finding:
    return Finding(id=check, subject=subject, target=target, status=Status(status), value=value, summary=summary)


def _claim(sha: str, verified: bool | None = True, claimed: bool = True) -> dict[str, Any]:
    return {"claimed": claimed, "evidence_url": "https://posteo.example/e2ee", "verified": verified,
            "checked_at": "2026-11-28T06:00:00Z", "sha256": sha}


def _mail_checks(mx: str, ip: str, country: str) -> list[Finding]:
    """What a scan finds for one MX host: STARTTLS, TLS, DANE, location."""
    return [
        _f("smtp.starttls", DOMAIN, "pass", True, target=mx),
        _f("tls.protocols", DOMAIN, "pass", ["TLSv1.2", "TLSv1.3"], target=f"{mx}:25"),
        _f("dane", DOMAIN, "pass", "valid", target=mx),
        _f("hosting.location", mx, "pass" if country == "DE" else "warn",
           {"ip": ip, "country": country, "region": "EU" if country == "DE" else "third_country",
            "asn": 1, "org": "x", "sources": []}, target=ip),
    ]


def _posteo(*, mx: str = OLD_MX, ip: str = "192.0.2.1", country: str = "DE", countries: list[str] | None = None,
            mode: str = "enforce", sha: str = "a" * 64, score: Score | None = None,
            extra: list[Finding] | None = None) -> ProviderResult:
    countries = countries or ["DE"]
    outside = [c for c in countries if c not in ("DE", "FR")]
    return ProviderResult(
        id="posteo", name="Posteo", kind="mail",
        score=score or Score(profile="rgpd", value=91, grade="A"),
        checks=[
            _f("dns.mx", DOMAIN, "pass", [mx]),
            *_mail_checks(mx, ip, country),
            _f("hosting.location", "www.posteo.example", "pass",
               {"ip": "192.0.2.80", "country": "DE", "region": "EU", "asn": 1, "org": "x", "sources": []},
               target="192.0.2.80"),
            _f("hosting.summary", "posteo", "fail" if outside else "pass",
               {"countries": countries, "outside_eu_eea": outside, "outside_adequacy": outside}),
            _f("mta_sts", DOMAIN, "pass" if mode == "enforce" else "warn",
               {"published": True, "mode": mode, "valid": True, "mx_covered": True, "max_age": 86400,
                "errors": []}),
            _f("claim.e2ee", "posteo", "pass", _claim(sha)),
            *(extra or []),
        ],
    )


def _tuta() -> ProviderResult:
    return ProviderResult(
        id="tuta", name="Tuta", kind="mail", score=Score(profile="rgpd", value=85, grade="A"),
        checks=[_f("dns.mx", "tuta.example", "pass", ["mail.tuta.example"]),
                _f("smtp.starttls", "tuta.example", "pass", True, target="mail.tuta.example")],
    )


def _audit(audit_id: str, providers: list[ProviderResult]) -> Audit:
    return Audit(audit_id=audit_id, started_at=f"2026-11-{28 if audit_id == 'before' else 29}T06:00:00Z",
                 finished_at=None, complete=True, tool_version="0.1.0", profile="rgpd",
                 vantage=Vantage(resolver="192.0.2.53", host="h"), providers=providers)


def _diff(before: list[ProviderResult], after: list[ProviderResult]) -> AuditDiff:
    return diff_audits(_audit("before", before), _audit("after", after))


def _by_check(diff: AuditDiff) -> dict[str, Change]:
    checks = [c.check for c in diff.changes]
    assert len(checks) == len(set(checks)), checks
    return {c.check: c for c in diff.changes}


def test_mx_moved_to_the_us_mta_sts_testing_and_claim_page_changed() -> None:
    before = [_posteo(), _tuta()]
    after = [
        _posteo(mx=NEW_MX, ip="198.51.100.7", country="US", countries=["DE", "US"], mode="testing",
                sha="b" * 64),
        _tuta(),
    ]
    diff = _diff(before, after)
    assert {(c.provider, c.check, c.kind) for c in diff.changes} == {
        ("posteo", "dns.mx", "neutral"),
        ("posteo", "hosting.summary", "regression"),
        ("posteo", "mta_sts", "regression"),
        ("posteo", "claim.e2ee", "neutral"),
    }
    assert len(diff.changes) == 4
    assert diff.has_regressions
    changes = _by_check(diff)
    assert NEW_MX in changes["dns.mx"].message and OLD_MX in changes["dns.mx"].message
    assert "US" in changes["hosting.summary"].message and "EU/EEA" in changes["hosting.summary"].message
    assert "enforce → testing" in changes["mta_sts"].message
    assert changes["mta_sts"].subject == DOMAIN and changes["mta_sts"].target is None
    assert changes["mta_sts"].before["value"]["mode"] == "enforce"
    assert changes["mta_sts"].after["value"]["mode"] == "testing"
    assert changes["claim.e2ee"].message == "evidence page changed"
    # regressions come first within the provider
    kinds = [c.kind for c in diff.changes]
    assert kinds == sorted(kinds, key=lambda k: k != "regression")


def test_identical_audits_have_no_changes() -> None:
    diff = _diff([_posteo(), _tuta()], [_posteo(), _tuta()])
    assert diff.changes == [] and not diff.has_regressions
    assert "No changes." in render_text(diff)


def test_a_new_mx_without_starttls_is_a_regression() -> None:
    after = _posteo(mx=NEW_MX)
    checks = [c if c.id != "smtp.starttls" else c.model_copy(update={"value": False, "status": Status.FAIL})
              for c in after.checks]
    diff = _diff([_posteo()], [after.model_copy(update={"checks": checks})])
    mx = _by_check(diff)["dns.mx"]
    assert mx.kind == "regression" and "without STARTTLS" in mx.message
    assert [c.check for c in diff.changes] == ["dns.mx"]  # the new host's STARTTLS failure is not repeated


def test_a_new_mx_whose_starttls_was_not_measured_is_a_regression() -> None:
    after = _posteo(mx=NEW_MX)
    checks = [c for c in after.checks if c.id != "smtp.starttls"]
    diff = _diff([_posteo()], [after.model_copy(update={"checks": checks})])
    assert _by_check(diff)["dns.mx"].kind == "regression"


def test_a_new_eu_country_is_neutral_and_a_third_country_dropped_is_an_improvement() -> None:
    diff = _diff([_posteo(countries=["DE", "US"])], [_posteo(countries=["DE", "FR"])])
    change = _by_check(diff)["hosting.summary"]
    assert change.kind == "improvement"  # US gone (improvement), FR added (neutral), status fail -> pass
    assert "FR" in change.message and "US" in change.message


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("pass", "fail", "regression"),
        ("pass", "warn", "regression"),
        ("fail", "pass", "improvement"),
        ("warn", "pass", "improvement"),
        ("pass", "error", "regression"),
        ("fail", "error", "regression"),
        ("error", "pass", "neutral"),
        ("error", "warn", "neutral"),
        ("error", "fail", "regression"),
        ("pass", "skip", "neutral"),
        ("info", "pass", "neutral"),
    ],
)
def test_status_transitions(before: str, after: str, kind: str) -> None:
    def provider(status: str) -> ProviderResult:
        return _posteo(extra=[_f("spf", DOMAIN, status, None if status == "error" else {"all": "-all"},
                                 summary=f"spf {status}")])

    change = _by_check(_diff([provider(before)], [provider(after)]))["spf"]
    assert change.kind == kind
    if after == "error":
        assert change.message == "could not be verified: spf error"


def test_an_error_hides_the_value_rules() -> None:
    # mta_sts could not be fetched: that is "could not be verified", not "mode enforce -> none".
    after = _posteo()
    checks = [c if c.id != "mta_sts" else c.model_copy(update={"status": Status.ERROR, "value": None,
                                                               "summary": "timeout"})
              for c in after.checks]
    change = _by_check(_diff([_posteo()], [after.model_copy(update={"checks": checks})]))["mta_sts"]
    assert change.kind == "regression" and change.message == "could not be verified: timeout"


@pytest.mark.parametrize(
    ("before", "after", "kind", "words"),
    [
        (["TLSv1.2", "TLSv1.3"], ["TLSv1.0", "TLSv1.2", "TLSv1.3"], "regression", "legacy"),
        (["TLSv1.2", "TLSv1.3"], ["TLSv1.2"], "regression", "TLS 1.3 no longer"),
        (["TLSv1.1", "TLSv1.2"], ["TLSv1.2"], "improvement", "dropped"),
        (["TLSv1.2"], ["TLSv1.2", "TLSv1.3"], "improvement", "TLS 1.3 now"),
        (["TLSv1.1", "TLSv1.2"], ["TLSv1.2", "TLSv1.3", "SSLv3"], "regression", "SSLv3"),
    ],
)
def test_tls_protocol_changes(before: list[str], after: list[str], kind: str, words: str) -> None:
    def provider(versions: list[str]) -> ProviderResult:
        return _posteo(extra=[_f("tls.protocols", "www.posteo.example", "pass", versions,
                                 target="www.posteo.example:443")])

    change = next(c for c in _diff([provider(before)], [provider(after)]).changes if c.check == "tls.protocols")
    assert change.kind == kind and words in change.message
    assert change.target == "www.posteo.example:443"


@pytest.mark.parametrize(
    ("check", "before", "after", "kind"),
    [
        ("dane", "valid", "none", "regression"),
        ("dane", "none", "mismatch", "regression"),
        ("dane", "none", "valid", "improvement"),
        ("dane", "none", "not_usable", "neutral"),
        ("dns.dnssec", "secure", "insecure", "regression"),
        ("dns.dnssec", "insecure", "secure", "improvement"),
        ("smtp.starttls", True, False, "regression"),
        ("dmarc", {"policy": "reject"}, {"policy": "none"}, "regression"),
        ("dmarc", {"policy": None}, {"policy": "quarantine"}, "improvement"),
        ("dmarc", {"policy": "reject", "testing": False}, {"policy": "reject", "testing": True}, "regression"),
        ("transfer", {"mechanism": "none"}, {"mechanism": "safeguards"}, "regression"),
        ("transfer", {"mechanism": "adequacy"}, {"mechanism": "none"}, "improvement"),
        ("claim.hds", _claim("a" * 64), _claim("a" * 64, verified=False), "regression"),
        ("claim.hds", _claim("a" * 64, verified=None), _claim("b" * 64, verified=True), "improvement"),
        ("claim.hds", _claim("a" * 64), _claim("a" * 64, claimed=False), "regression"),
    ],
)
def test_value_rules_with_unchanged_status(check: str, before: Any, after: Any, kind: str) -> None:
    # The status is kept equal on purpose: the value alone must carry the judgment.
    def provider(value: Any) -> ProviderResult:
        return _posteo(extra=[_f(check, "other.example", "info", value, target="mx.other.example")])

    [change] = _diff([provider(before)], [provider(after)]).changes
    assert (change.check, change.kind) == (check, kind)


def test_value_changes_without_a_rule_are_not_reported() -> None:
    def provider(not_after: str) -> ProviderResult:
        return _posteo(extra=[_f("tls.certificate", DOMAIN, "pass", {"trusted": True, "not_after": not_after},
                                 target=f"{OLD_MX}:25")])

    assert _diff([provider("2026-12-01")], [provider("2027-03-01")]).changes == []


def test_scores() -> None:
    def scored(value: float, grade: str, blockers: list[str] | None = None) -> ProviderResult:
        return _posteo(score=Score(profile="rgpd", value=value, grade=grade, blockers=blockers or []))

    [down] = _diff([scored(91, "A")], [scored(70, "C")]).changes
    assert (down.check, down.kind) == ("score", "regression") and "A → C" in down.message
    assert down.before == {"value": 91, "grade": "A", "blockers": []}
    [up] = _diff([scored(70, "C")], [scored(91, "A+")]).changes
    assert up.kind == "improvement"
    [same_grade] = _diff([scored(91, "A")], [scored(93, "A")]).changes
    assert same_grade.kind == "neutral" and "91.0 → 93.0" in same_grade.message
    [blocked] = _diff([scored(91, "A")], [scored(91, "A", ["hds.certified"])]).changes
    assert blocked.kind == "regression" and "hds.certified" in blocked.message
    other_profile = _posteo(score=Score(profile="hds", value=10, grade="F"))
    [profiles] = _diff([scored(91, "A")], [other_profile]).changes
    assert profiles.kind == "neutral"


def test_providers_added_and_removed_and_new_failing_hosts() -> None:
    extra_web = _f("tls.protocols", DOMAIN, "fail", ["TLSv1.0"], target="mx02.posteo.example:25",
                   summary="accepts TLSv1.0")
    diff = _diff([_posteo(), _tuta()], [_posteo(extra=[extra_web])])
    assert [(c.provider, c.check, c.kind) for c in diff.changes] == [
        ("posteo", "tls.protocols", "regression"),
        ("tuta", "provider", "neutral"),
    ]
    assert "accepts TLSv1.0" in diff.changes[0].message
    added = _diff([_posteo()], [_posteo(), _tuta()]).changes
    assert [(c.provider, c.check, c.kind, c.after) for c in added] == [("tuta", "provider", "neutral", "Tuta")]


def test_a_check_no_longer_run_is_reported() -> None:
    before = _posteo()
    after = before.model_copy(update={"checks": [c for c in before.checks if c.id != "claim.e2ee"]})
    [change] = _diff([before], [after]).changes
    assert (change.check, change.kind, change.message) == ("claim.e2ee", "neutral", "no longer checked")


def test_render_text_en_and_fr_and_json() -> None:
    before = [_tuta(), _posteo()]
    tuta_after = _tuta().model_copy(update={"score": Score(profile="rgpd", value=99, grade="A+")})
    after = [tuta_after, _posteo(mode="none", sha="b" * 64)]
    diff = _diff(before, after)
    text = render_text(diff)
    lines = text.splitlines()
    assert lines[0].startswith("Changes from audit before") and "1 regression(s)" in lines[0]
    # posteo has a regression: its block comes before tuta's, regression line first
    assert lines.index("posteo") < lines.index("tuta")
    assert lines[lines.index("posteo") + 1].lstrip().startswith("REGRESSION")
    assert "MTA-STS mode enforce → none" in text
    fr = render_text(diff, lang="fr")
    assert "RÉGRESSION" in fr and "mode MTA-STS enforce → none" in fr and "la page de preuve a changé" in fr
    data = diff.model_dump()
    assert data["has_regressions"] is True
    assert AuditDiff.model_validate(diff.model_dump(mode="json")).changes == diff.changes
    with pytest.raises(ValueError):
        render_text(diff, lang="de")


def test_render_text_neutralises_control_characters() -> None:
    evil = "mx.evil.example\x1b[2J\nREGRESSION forged line"
    diff = _diff([_posteo()], [_posteo(mx=evil)])
    text = render_text(diff)
    assert "\x1b" not in text
    assert not any(line.startswith("REGRESSION forged") for line in text.splitlines())
