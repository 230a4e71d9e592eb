"""The vantage point against the lab: its characterisation, a resolver that strips DNSSEC, and the addresses a
host may be probed on. The cases that need a network namespace (IPv4-only, IPv6, port 25 blocked) are in
tests/test_vantage_netns.py."""

from __future__ import annotations

import asyncio

import pytest
from labscan import checks

from auditor.catalog import load_catalog
from auditor.findings import Audit, Status, Vantage
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.net.vantage import characterise
from auditor.probes.addresses import MAX_PER_FAMILY, not_public, plan_addresses
from auditor.scan import run_scan, run_unit
from auditor.schema import audit_document
from auditor.settings import Settings, load_settings


def lab_settings(lab: Lab, mode: str = "validating", **extra: object) -> Settings:
    return load_settings({**lab.overrides(), "resolver": lab.resolver(mode), "timeout": 3.0, **extra}, environ={})


def scan(lab: Lab, ids: list[str], mode: str = "validating", **extra: object) -> Audit:
    return asyncio.run(run_scan(load_catalog(LAB_CATALOG).select(ids), lab_settings(lab, mode, **extra)))


# --- characterisation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "dnssec", "validates"), [
    ("validating", True, True), ("plain", True, False), ("strip", False, False)])
def test_resolver_kinds_are_told_apart(lab: Lab, mode: str, dnssec: bool, validates: bool) -> None:
    v = asyncio.run(characterise(lab_settings(lab, mode)))
    assert (v.resolver_dnssec, v.resolver_validates) == (dnssec, validates), v.evidence
    assert v.resolver == lab.resolver(mode) and v.stub is True and v.lab is True
    assert v.resolver_fix == (None if dnssec else lab.resolver())  # measured: it does return DNSSEC records
    assert v.port25 is True and f"{lab.address('mx1.exemplary.example')}:2525" in v.evidence["port25"]


def test_stored_audits_without_the_new_fields_still_load() -> None:
    old = Vantage.model_validate({"resolver": "192.0.2.53", "host": "dpo-laptop", "lab": False})
    assert (old.ipv6, old.port25, old.resolver_dnssec, old.stub, old.name) == (None, None, None, None, None)


# --- a resolver that strips DNSSEC records -------------------------------------------------------------------
@pytest.fixture(scope="module")
def stripped(lab: Lab) -> Audit:
    return scan(lab, ["exemplary", "offshore", "dnssecbogus"], mode="strip")


def test_signed_zone_through_a_stripping_resolver_is_indeterminate(lab: Lab, stripped: Audit) -> None:
    document = audit_document(stripped)  # validated against the shipped schema
    assert document["vantage"]["resolver_dnssec"] is False
    assert document["vantage"]["resolver_fix"] == lab.resolver()
    for pid in ("exemplary", "offshore", "dnssecbogus"):  # signed, unsigned, and broken: none can be told
        for f in checks(stripped, pid, "dns.dnssec"):
            assert f.value == "indeterminate" and f.status == Status.ERROR, (pid, f.summary)
            assert "does not return DNSSEC records" in f.summary and f"--resolver {lab.resolver()}" in f.summary
    [dane] = [f for f in checks(stripped, "exemplary", "dane") if f.target == "mx1.exemplary.example"]
    assert dane.status == Status.ERROR and "does not return DNSSEC records" in dane.summary


def test_the_same_zone_through_a_resolver_that_passes_dnssec(lab: Lab) -> None:
    audit = scan(lab, ["exemplary"], mode="plain")
    assert audit.vantage.resolver_dnssec is True and audit.vantage.resolver_validates is False
    assert {f.value for f in checks(audit, "exemplary", "dns.dnssec")} == {"secure"}  # we validate ourselves


def test_stripping_resolver_without_a_characterised_vantage_is_still_indeterminate(lab: Lab) -> None:
    """A unit of work run on its own (no vantage): the validator itself never blames the zone."""
    result = run_unit(load_catalog(LAB_CATALOG).get("exemplary"), lab_settings(lab, "strip"))
    for f in (f for f in result.checks if f.id == "dns.dnssec"):
        assert f.value == "indeterminate" and "trust anchor's zone (.)" in f.summary, f.summary


# --- which addresses are probed ----------------------------------------------------------------------------------
def test_address_plan() -> None:
    many = [f"192.0.2.{i}" for i in range(1, 21)]
    plan = plan_addresses(["8.8.8.8", *many], ["2001:4860:4860::8888"], ipv6=False, lab=False)
    assert plan.probe == ["8.8.8.8"] and plan.capped == {"IPv4": 21}
    assert set(plan.refused) == set(many[:MAX_PER_FAMILY - 1])
    assert plan.untested == {"2001:4860:4860::8888": "not tested from this vantage point (no IPv6 connectivity here)"}
    assert "21 IPv4 addresses published: only the first 8 are probed" in plan.notes()
    assert plan_addresses([], ["2001:4860:4860::8888"], ipv6=None, lab=False).probe == ["2001:4860:4860::8888"]


@pytest.mark.parametrize(("ip", "lab", "reason"), [
    ("8.8.8.8", False, None), ("127.0.0.1", False, "address not public (loopback)"), ("127.77.1.2", True, None),
    ("10.1.2.3", True, "address not public (private)"), ("169.254.0.1", True, "address not public (link-local)"),
    ("fe80::1", True, "address not public (link-local)"), ("fd00:0:0:77::1:2", True, None),
    ("fd00::1", False, "address not public (private)"), ("::1", False, "address not public (loopback)")])
def test_not_public(ip: str, lab: bool, reason: str | None) -> None:
    assert not_public(ip, lab=lab) == reason


def test_private_and_too_many_addresses_are_errors_said_in_the_summary(lab: Lab) -> None:
    audit = scan(lab, ["privateaddr"])
    [starttls] = checks(audit, "privateaddr", "smtp.starttls")
    assert starttls.status == Status.ERROR
    assert starttls.summary == ("10.0.0.1, 10.0.0.10, 10.0.0.11 and 5 more: address not public (private); "
                                "fe80::25: address not public (link-local); "
                                "12 IPv4 addresses published: only the first 8 are probed")
    plan = starttls.evidence["address_plan"]
    assert plan["probed"] == [] and len(plan["refused"]) == 9 and plan["capped"] == {"IPv4": 12}
    for f in checks(audit, "privateaddr", "tls.protocols"):
        assert f.status == Status.ERROR and f.summary.startswith("address not public")
    located = [f for f in checks(audit, "privateaddr", "hosting.location") if f.subject == "mx.privateaddr.example"]
    assert {f.target for f in located} == set(plan["refused"]) and all(f.status == Status.ERROR for f in located)
    [sts] = checks(audit, "privateaddr", "mta_sts")  # the policy host points into a private network
    assert sts.status == Status.ERROR and "192.168.1.25): address not public (private): not fetched" in sts.summary


# --- the report says it, near the top, in both languages ----------------------------------------------------------
@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["IPv6 not measured · outbound port 25 open · DNSSEC records through the resolver no (stripped)",
            "Limits of this vantage point", "it does not return DNSSEC records"]),
    ("fr", ["IPv6 non mesuré · port 25 sortant ouvert · enregistrements DNSSEC via le résolveur non (supprimés)",
            "Limites de ce point de mesure", "il ne transmet pas les enregistrements DNSSEC"])])
def test_report_has_the_vantage_line_and_its_limits(lab: Lab, stripped: Audit, lang: str, words: list[str]) -> None:
    from auditor.report import render_audit_html
    from auditor.report.context import ReportContext
    from auditor.report.text import render_markdown
    from auditor.scoring import score_audit

    scored = score_audit(stripped, "rgpd")
    page = render_audit_html(scored, lang=lang)
    head = page[:page.index('id="summary"')]  # on the cover, before the executive summary
    for text in words:
        assert text in head, text
    assert f"--resolver {lab.resolver()}" in head
    markdown = render_markdown(scored, ReportContext(lang=lang))
    cover = markdown.split("\n## ")[0]
    assert words[1] in cover and "resolver" in cover


def test_report_of_an_audit_stored_before_vantage_points_has_no_line(stripped: Audit) -> None:
    from auditor.report import render_audit_html
    from auditor.scoring import score_audit

    old = score_audit(stripped, "rgpd").model_copy(update={"vantage": Vantage(resolver="192.0.2.53", host="h")})
    page = render_audit_html(old, lang="en")
    assert "What it could reach" not in page and "Limits of this vantage point" not in page


def test_port_25_blocked_stops_only_runs_that_audit_mail(lab: Lab) -> None:
    from auditor.errors import VantageLimited
    from auditor.scan import check_vantage

    catalog = load_catalog(LAB_CATALOG)
    mail = catalog.select(["exemplary"])
    chat_only = [catalog.get("exemplary").model_copy(update={"mail_domains": []})]
    blocked = Vantage(resolver="r", host="h", port25=False, evidence={"port25": "no MX host answers on port 25"})
    with pytest.raises(VantageLimited, match="outbound TCP port 25 is blocked from this vantage point") as exc:
        check_vantage(blocked, mail, lab_settings(lab))
    assert exc.value.exit_code == 3 and "--smtp-untestable-ok" in str(exc.value)
    check_vantage(blocked, mail, lab_settings(lab, smtp_untestable_ok=True))
    check_vantage(blocked, chat_only, lab_settings(lab))
    check_vantage(blocked.model_copy(update={"port25": None}), mail, lab_settings(lab))  # not measured: go on
