"""DMARC per RFC 9989 (which obsoletes RFC 7489): selection, tags, the policy applied, test mode."""

from __future__ import annotations

import pytest

from auditor.policy.dmarc import organizational_domain, parse_dmarc, select_dmarc


def test_S5_reject_and_none():
    r = parse_dmarc("v=DMARC1; p=reject")
    assert r.is_dmarc and r.valid and r.policy == "reject" and r.subdomain_policy == "reject"
    assert r.value() == {"record": "v=DMARC1; p=reject", "policy": "reject", "pct": None, "testing": False,
                         "subdomain_policy": "reject", "np": "reject"}
    r = parse_dmarc("v=DMARC1; p=none")
    assert r.valid and r.policy == "none" and any("monitors" in w for w in r.warnings)


def test_S6_version_not_first_is_ignored():
    r = parse_dmarc("p=reject; v=DMARC1")
    assert not r.is_dmarc and r.policy is None and "first" in r.errors[0]
    assert r.value() == {"record": None, "policy": None, "pct": None, "testing": None, "subdomain_policy": None,
                         "np": None}
    assert select_dmarc(["p=reject; v=DMARC1"]).status == "none"


@pytest.mark.parametrize("record", ["v=DMARC2; p=reject", "v=dmarc1; p=reject", "v=DMARC10; p=reject",
                                    " v=DMARC1; p=reject", "", "hello"])
def test_S6_not_dmarc(record):
    assert not parse_dmarc(record).is_dmarc


def test_S6_whitespace_around_equals_is_allowed():
    assert parse_dmarc("v = DMARC1 ; p = quarantine").policy == "quarantine"


def test_S7_invalid_p_with_rua_acts_as_none():
    r = parse_dmarc("v=DMARC1; p=bogus; rua=mailto:d@x.example")
    assert r.policy == "none" and r.p is None and not r.valid
    assert r.subdomain_policy == "none"


def test_S7_invalid_p_without_rua_is_no_dmarc():
    r = parse_dmarc("v=DMARC1; p=bogus")
    assert r.is_dmarc and r.policy is None and any("no DMARC" in e for e in r.errors)
    r = parse_dmarc("v=DMARC1; p=bogus; rua=dmarc@x.example")  # rua without a valid URI
    assert r.policy is None


def test_S7_invalid_sp_counts_too():
    assert parse_dmarc("v=DMARC1; p=reject; sp=maybe").policy is None
    assert parse_dmarc("v=DMARC1; p=reject; sp=maybe; rua=mailto:d@x.example").policy == "none"


def test_S8_missing_p():
    # RFC 9989 §4.7, §4.10.1: a missing p is read as none when a valid rua can report, else no DMARC
    r = parse_dmarc("v=DMARC1; rua=mailto:d@x.example")
    assert r.policy == "none" and r.valid and any("no p tag" in w for w in r.warnings)
    r = parse_dmarc("v=DMARC1")
    assert r.policy is None and not r.enforcing


def test_S9_two_records_is_no_dmarc():
    sel = select_dmarc(["v=DMARC1; p=reject", "v=DMARC1; p=none"])
    assert sel.status == "multiple" and sel.record is None and sel.errors


def test_S9_selection_discards_others():
    sel = select_dmarc(["v=spf1 -all", "v=DMARC1; p=reject"])
    assert sel.status == "found" and sel.record == "v=DMARC1; p=reject"
    sel = select_dmarc(["v=spf1 -all"])
    assert sel.status == "none" and "SPF record" in sel.errors[0]
    assert select_dmarc([]).status == "none"
    assert select_dmarc([b"v=DMARC1; p=none"]).status == "found"


def test_S10_testing_flag():
    r = parse_dmarc("v=DMARC1; p=quarantine; t=y")
    assert r.testing and r.policy == "quarantine" and any("t=y" in w for w in r.warnings)
    r = parse_dmarc("v=DMARC1; p=reject; t=y")
    assert r.testing and r.policy == "reject" and not r.enforcing and r.value()["testing"] is True
    assert parse_dmarc("v=DMARC1; p=reject; t=n").enforcing
    assert not parse_dmarc("v=DMARC1; p=reject; t=maybe").valid


def test_test_mode_is_not_enforcement_in_the_score():
    """Defect 10: `p=reject; t=y` scored as enforcing; RFC 9989 test mode asks receivers for one level less."""
    from auditor.findings import Finding, ProviderResult, Status
    from auditor.scoring import evaluate_criterion, load_criteria

    def row(record: str) -> str:
        value = parse_dmarc(record).value()
        finding = Finding(id="dmarc", subject="x.example", status=Status.PASS, value=value, summary="s")
        criterion = load_criteria().get("dmarc_enforcing")
        assert criterion is not None
        return evaluate_criterion(criterion, 6, ProviderResult(id="p", name="P", kind="mail", checks=[finding])).status

    assert row("v=DMARC1; p=reject") == "met"
    assert row("v=DMARC1; p=reject; t=y") == "not_met"
    assert row("v=DMARC1; p=quarantine; t=y") == "not_met"
    # pct is removed by RFC 9989: a receiver following it applies the policy to all failing mail
    assert row("v=DMARC1; p=reject; pct=50") == "met"


@pytest.mark.parametrize(("record", "policy"), [
    ("V=DMARC1; p=reject", "reject"),  # tag names are case-insensitive ABNF literals (RFC 5234 §2.3)
    ("v=DMARC1; P=REJECT", "reject"),  # so are the policy values
    ("v=DMARC1; p=Quarantine; SP=none", "quarantine"),
])
def test_tag_names_and_policy_values_are_case_insensitive(record, policy):
    r = parse_dmarc(record)
    assert r.is_dmarc and r.policy == policy
    assert select_dmarc([record]).status == "found"


def test_version_value_is_case_sensitive():
    # RFC 9989 §4.8: dmarc-version = "v" equals %s"DMARC1" (case sensitive, RFC 7405)
    assert not parse_dmarc("v=dmarc1; p=reject").is_dmarc
    assert not parse_dmarc("V=Dmarc1; p=reject").is_dmarc
    assert select_dmarc(["v=dmarc1; p=reject"]).status == "none"


def test_S11_pct_and_unknown_tags_warn():
    r = parse_dmarc("v=DMARC1; p=reject; pct=50; foo=bar")
    assert r.valid and r.pct == 50 and r.value()["pct"] is None  # removed by RFC 9989: never applied
    assert any("RFC 9989" in w for w in r.warnings)
    assert any("unknown tag" in w for w in r.warnings)
    for bad in ("101", "-1", "abc", "50.5"):
        r = parse_dmarc(f"v=DMARC1; p=reject; pct={bad}")
        assert r.pct is None and r.policy == "reject" and r.enforcing


def test_S12_rua_needs_a_uri():
    r = parse_dmarc("v=DMARC1; p=reject; rua=dmarc@example.com")
    assert not r.valid and r.rua == [] and any("rua" in e for e in r.errors)
    assert r.policy == "reject"


def test_report_uris():
    r = parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@x.example!10m, mailto:b@y.example; "
                    "ruf=mailto:f@x.example")
    assert r.valid and r.rua == ["mailto:a@x.example", "mailto:b@y.example"] and r.ruf == ["mailto:f@x.example"]


def test_duplicate_tags_are_errors():
    r = parse_dmarc("v=DMARC1; p=reject; p=none")
    assert not r.valid and any("more than once" in e for e in r.errors)
    assert r.policy is None  # a duplicated p is not a valid p
    r = parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@x.example; rua=mailto:b@x.example")
    assert not r.valid and r.policy == "reject" and r.rua == ["mailto:a@x.example"]


def test_other_tags():
    r = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; fo=0:1:d:s; ri=86400; rf=afrf")
    assert r.valid and r.sp == "quarantine" and r.subdomain_policy == "quarantine" and r.np == "reject"
    assert r.adkim == "s" and r.aspf == "r"
    for bad in ("adkim=x", "fo=2", "psd=q", "np=drop", "aspf="):
        assert not parse_dmarc(f"v=DMARC1; p=reject; {bad}").valid, bad
    # an invalid np, like an invalid sp, means p=none with a valid rua, else no DMARC (RFC 9989 §4.10.1)
    assert parse_dmarc("v=DMARC1; p=reject; np=drop").policy is None
    assert parse_dmarc("v=DMARC1; p=reject; np=drop; rua=mailto:d@x.example").policy == "none"
    r = parse_dmarc("v=DMARC1; p=reject; np=quarantine")
    assert r.value()["np"] == "quarantine" and r.value()["subdomain_policy"] == "reject"


def test_p_not_second_warns_and_case():
    r = parse_dmarc("v=DMARC1; rua=mailto:a@x.example; P=REJECT")
    assert r.valid and r.policy == "reject" and any("right after v" in w for w in r.warnings)


@pytest.mark.parametrize("hostile", [b"v=DMARC1; p=\xff", "v=DMARC1; " + "x=y;" * 5000, "v=DMARC1;\x00p=reject",
                                     "v=DMARC1; ===", None, "v=DMARC1; p=reject; rua=" + "mailto:a@b.c," * 3000])
def test_hostile_records_never_raise(hostile):
    r = parse_dmarc(hostile)
    assert not r.valid


@pytest.mark.parametrize(("domain", "org"), [
    ("example.com", "example.com"), ("mail.example.com", "example.com"), ("a.b.example.co.uk", "example.co.uk"),
    ("MX01.Posteo.DE.", "posteo.de"), ("foo.github.io", "foo.github.io"), ("com", "com"), ("", ""),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"), ("a..b", "a..b"),
])
def test_organizational_domain(domain, org):
    assert organizational_domain(domain) == org


def test_organizational_domain_hostile():
    assert organizational_domain("a" * 300) == "a" * 300
    assert organizational_domain(None) == ""  # type: ignore[arg-type]


def test_S6_version_then_newline_is_not_dmarc():
    assert not parse_dmarc("v=DMARC1\n").is_dmarc
    assert parse_dmarc("v=DMARC1").is_dmarc
