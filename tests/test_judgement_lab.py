"""The judgement layer on real pipeline output: the golden cases (tests/goldens.py) scanned from the lab, then
scored under both profiles. Each test names the defect of issue 12 it guards (see docs/scoring.md)."""

from __future__ import annotations

import pytest
from labscan import checks, provider

from auditor.findings import Audit, CriterionResult
from auditor.report import render_audit_markdown
from auditor.report.sheet import transfer as sheet_transfer
from auditor.scoring import score_audit


@pytest.fixture(scope="module")
def audit(cases_audit: Audit) -> Audit:
    return cases_audit


@pytest.fixture(scope="module")
def rgpd(audit: Audit) -> Audit:
    return score_audit(audit, "rgpd")


@pytest.fixture(scope="module")
def sante(audit: Audit) -> Audit:
    return score_audit(audit, "sante")


def row(audit: Audit, pid: str, criterion: str) -> CriterionResult:
    score = provider(audit, pid).score
    assert score is not None
    return next(c for c in score.criteria if c.id == criterion)


# ---- defect 6: claims count by evidence level, not by a substring found somewhere ------------------------

def test_claims_count_by_evidence_level(rgpd: Audit, sante: Audit) -> None:
    # stated on the provider's own site: enough for 2FA and E2EE, not for HDS
    assert row(rgpd, "exemplary", "mfa_verified").status == "met"
    assert row(rgpd, "exemplary", "e2ee_or_zero_access").status == "met"
    # HDS attested by a certification body, in its validity
    assert row(sante, "exemplary", "hds_certified").status == "met"
    # the page still says "HDS", but the approval lapsed: expired evidence backs nothing
    [hds] = checks(rgpd, "offshore", "claim.hds")
    assert hds.value["level"] == "expired"
    assert row(sante, "offshore", "hds_certified").status == "not_met"
    # E2EE only on a blog (third party) and zero-access contradicted: neither counts
    e2ee = row(rgpd, "offshore", "e2ee_or_zero_access")
    assert e2ee.status == "not_met"
    assert {(d.check, d.field, d.observed) for d in e2ee.details} == {
        ("claim.e2ee", "level", "third_party"), ("claim.zero_access", "level", "contradicted")}


# ---- defect 2: MSSanté servers authenticate with IGC-Santé, not the web PKI -----------------------------

def test_mssante_chains_validate_against_igc_sante(audit: Audit, sante: Audit) -> None:
    certs = [f for f in checks(audit, "mailiz", "tls.certificate") if f.target and f.target.endswith(":25")]
    assert certs
    for cert in certs:
        assert cert.value["trusted"] is True and cert.value["anchor"] == "igc-sante", cert.summary
        assert cert.value["trust_space"] == "mssante" and cert.value["space_anchor"] is True
    # the web portal is reached by browsers: web PKI, no trust space
    portal = [f for f in checks(audit, "mailiz", "tls.certificate") if f.target == "mailiz.mssante.fr:443"]
    assert portal and portal[0].value["anchor"] == "public" and "trust_space" not in portal[0].value
    [space] = checks(audit, "mailiz", "trust_space")
    assert space.value["space"] == "mssante" and space.value["anchored"] is True
    assert row(sante, "mailiz", "certificates_valid").status == "met"
    assert row(sante, "mailiz", "mssante_member").status == "met"
    # a provider outside the space gets no trust_space finding, and no MSSanté membership
    assert not [f for f in provider(audit, "posteo").checks if f.id == "trust_space"]
    assert row(sante, "posteo", "mssante_member").status != "met"


# ---- defect 1: a provider without a parent company does not fail no_third_country_parent ------------------

def test_no_parent_is_not_a_failure(audit: Audit, rgpd: Audit, sante: Audit) -> None:
    [company] = checks(audit, "posteo", "jurisdiction.company")
    assert company.value["parent_country"] is None and company.value["parent_known"] is True
    assert row(rgpd, "posteo", "no_third_country_parent").status == "met"
    assert row(sante, "posteo", "no_third_country_parent").status == "met"


# ---- defect 8: the CLOUD Act reaches US companies, US parents and US establishments --------------------------

def test_cloud_act_through_company_and_parent(audit: Audit, rgpd: Audit) -> None:
    # WhatsApp Ireland: through its US parent, and through the group's US establishment (the catalog's presence)
    for pid, via in (("transatlantic", ["company"]), ("whatsapp", ["parent", "presence"])):
        [company] = checks(audit, pid, "jurisdiction.company")
        assert company.value["foreign_access"] == ["us_cloud_act"], pid
        [law] = company.evidence["access_laws"]
        assert law["via"] == via and law["url"].startswith("https://") and law["checked"]
        assert row(rgpd, pid, "no_third_country_parent").status == "not_met"
    # a Swiss company: Swiss surveillance law is shown as a risk, not scored (Switzerland has adequacy)
    [proton] = checks(audit, "proton", "jurisdiction.company")
    assert proton.value["access_laws"] == ["ch_buepf_vuepf"] and proton.value["foreign_access"] == []
    assert proton.value["decision"]["id"] == "CH" and proton.value["decision"]["certain"] is True


# ---- defect 7: transfers turn on the importer's establishment and on data-carrying servers --------------------

def test_policy_host_and_website_abroad_are_not_a_transfer(audit: Audit, rgpd: Audit, sante: Audit) -> None:
    [summary] = checks(audit, "frontdoor", "hosting.summary")
    assert summary.value["countries"] == ["DE"] and summary.value["outside_eu_eea"] == []
    assert summary.value["informational"]["outside_eu_eea"] == ["US"]
    assert set(summary.value["informational"]["hosts"]) == {"www.frontdoor.example", "mta-sts.frontdoor.example"}
    assert summary.value["roles"]["web"] == ["US"] and summary.value["roles"]["mx"] == ["DE"]
    [transfer] = checks(audit, "frontdoor", "transfer")
    assert transfer.value["mechanism"] == "none" and transfer.value["destinations"] == []
    assert row(sante, "frontdoor", "hosting_eu_eea").status == "met"
    score = provider(sante, "frontdoor").score
    assert score is not None and "hosting_eu_eea" not in score.blockers
    assert row(rgpd, "frontdoor", "transfer_adequate").status == "met"


def test_the_importer_establishment_decides(audit: Audit, rgpd: Audit) -> None:
    # a US company hosting in Frankfurt: the servers are in the EU, the importer is not
    [transfer] = checks(audit, "transatlantic", "transfer")
    assert transfer.value["importer"] == {"country": "US", "region": "third_country", "decision": None}
    assert transfer.value["destinations"] == [] and transfer.value["mechanism"] == "safeguards"
    assert row(rgpd, "transatlantic", "transfer_adequate").status == "not_met"
    [hosting] = checks(audit, "transatlantic", "hosting.summary")
    assert hosting.value["outside_eu_eea"] == []
    # a DPF-certified US company: adequacy, with the decision's condition carried along
    [dpf] = checks(audit, "dpfcloud", "transfer")
    assert dpf.value["mechanism"] == "adequacy" and dpf.value["importer"]["decision"]["condition"] == "dpf_certified"
    assert row(rgpd, "dpfcloud", "transfer_adequate").status == "met"


def test_the_transfer_line_names_the_importer_country(rgpd: Audit) -> None:
    """Review 2026-12-02: a transfer that rests on the importer's establishment named no country ("without an
    adequacy decision (none)", and for Wire, a Swiss company with EU servers, "covered by an adequacy decision:
    none"); a basis not established printed "(none)" too."""
    transatlantic = sheet_transfer(provider(rgpd, "transatlantic"))
    assert transatlantic is not None and transatlantic.mechanism == "safeguards" and transatlantic.countries == ["US"]
    for lang, none in (("fr", "aucun"), ("en", "none")):
        md = render_audit_markdown(rgpd, lang)
        lines = [line for line in md.splitlines() if line.startswith(("- **Transferts", "- **Transfers"))]
        assert lines and not [line for line in lines if f"({none})" in line or line.endswith(f": {none}.")], lines
    assert "sans décision d’adéquation (États-Unis)" in render_audit_markdown(rgpd, "fr")


# ---- defect 9: the adequacy decision, its scope and certainty reach the JSON where a location is judged -------

def test_decisions_reach_locations(audit: Audit) -> None:
    swiss = [f for f in checks(audit, "proton", "hosting.location") if f.value and f.value["country"] == "CH"]
    assert swiss and all(f.value["decision"]["id"] == "CH" for f in swiss)
    assert swiss[0].value["decision"]["reference"] == "Commission Decision 2000/518/EC"
    german = [f for f in checks(audit, "posteo", "hosting.location") if f.value and f.value["country"] == "DE"]
    assert german and all(f.value["decision"] is None for f in german)  # EU: no decision needed
    [us] = [f for f in checks(audit, "dpfcloud", "hosting.location") if f.subject == "mx.dpfcloud.example"]
    assert us.value["decision"]["condition"] == "dpf_certified" and us.value["decision"]["scope"]["en"]


# ---- defect 5: E2EE is not a substitute for HDS; the caps bind chat apps too ------------------------------

def test_e2ee_without_hds_is_blocked_under_sante(sante: Audit) -> None:
    # Proton states end-to-end and zero-access encryption on its own site, and holds no HDS certificate
    assert row(sante, "proton", "e2ee_or_zero_access").status == "met"
    proton = provider(sante, "proton").score
    assert proton is not None and "hds_certified" in proton.blockers and proton.grade == "F"
    # MSSanté is an e-mail trust space: it does not apply to chat, and no chat escapes the HDS requirement
    signal = provider(sante, "signal").score
    assert signal is not None and "hds_certified" in signal.blockers and signal.grade == "F"
    assert row(sante, "signal", "mssante_member").status == "not_applicable"


# ---- defects 3 and 4 on real output: ranks within a kind, uses from the profile -------------------------

def test_ranks_are_per_kind(rgpd: Audit) -> None:
    for kind in ("mail", "chat"):
        scores = [p.score for p in rgpd.providers if p.kind == kind and p.score]
        assert scores and all(s.rank_of == len(scores) for s in scores)
        assert min(s.rank for s in scores if s.rank) == 1
        assert all(s.rank and s.rank <= len(scores) for s in scores)


def test_rgpd_never_says_a_provider_fits_health_data(rgpd: Audit, sante: Audit) -> None:
    proton = provider(rgpd, "proton").score
    assert proton is not None
    uses = {u.id: u for u in proton.uses}
    assert uses["health"].verdict == "not_assessed" and uses["health"].reasons[0].code == "outside_profile"
    assert "patients" not in uses  # the health uses belong to the sante profile
    sante_uses = {u.id: u.verdict for u in provider(sante, "proton").score.uses}  # type: ignore[union-attr]
    assert sante_uses == {"patients": "unfit", "professionals": "unfit", "internal": "unfit"}


# ---- review 2026-12-02: a claim the catalog records as `unknown` is "not verified", not "not met" -------------

def test_unknown_claim_is_not_verified_not_failed(audit: Audit, rgpd: Audit, sante: Audit) -> None:
    """Mailiz's HDS claim is `unknown` in the catalog (no certificate found in the sources read): the report
    said "✘ not met — claimed: no value" while an absent claim said "? not verified". Both block; only
    evidence against a claim makes it "not met"."""
    [hds] = checks(audit, "mailiz", "claim.hds")
    assert hds.value["claimed"] is None and hds.value["level"] is None
    mailiz = row(sante, "mailiz", "hds_certified")
    assert mailiz.status == "not_verified" and mailiz.points == 0
    assert [(d.summary_key, d.outcome, d.field) for d in mailiz.details] == [("unknown", "not_verified", "claimed")]
    score = provider(sante, "mailiz").score
    assert score is not None and "hds_certified" in score.blockers and score.grade == "F"  # still blocks
    # evidence against a claim still fails it: an expired approval, a claim the provider does not make
    assert row(sante, "offshore", "hds_certified").status == "not_met"
    [e2ee] = checks(audit, "posteo", "claim.e2ee")
    assert e2ee.value["claimed"] is False
    posteo = row(rgpd, "posteo", "e2ee_or_zero_access")
    assert ("claim.e2ee", "not_met") in {(d.check, d.outcome) for d in posteo.details}
    # the report says so in both languages, never "no value" for the claim
    for lang, status, text, none in (
            ("fr", "? non vérifié", "information non établie dans les sources consultées", "aucune valeur"),
            ("en", "? not verified", "not established in the sources read", "no value")):
        md = render_audit_markdown(score_audit(audit, "sante"), lang)
        section = md[md.index("Mailiz"):]
        lines = [line for line in section.splitlines() if "HDS" in line and status in line]
        assert lines, lang
        assert text in section and not [line for line in section.splitlines() if "HDS" in line and none in line]
