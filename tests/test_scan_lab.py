"""The whole scan pipeline against the lab: real DNS, real SMTP STARTTLS, real TLS handshakes, real GeoIP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labscan import checks, provider, scan_lab

from auditor.catalog import Catalog, Endpoint, load_catalog
from auditor.findings import Audit, Finding, ProviderResult, Status
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.scan import run_unit
from auditor.schema import SCHEMA_FILE, audit_document, generate_schema
from auditor.scoring.engine import score_audit
from auditor.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["posteo", "proton", "tuta", "threema"]
LAB_ONLY = ["nostarttls", "expiredcert", "offshore", "wrongname", "legacytls", "nullmx", "dnsfail", "exemplary",
            "selfsigned", "untrusted", "weakcipher", "weakkey", "dnssecbogus", "dnssecexpired", "dsmismatch",
            "ststesting", "stsmismatch", "stsgone", "danemismatch", "daneinsecure"]


@pytest.fixture(scope="module")
def audit(lab: Lab) -> Audit:
    settings = load_settings(lab.overrides(), environ={})
    return scan_lab(settings, SCANNED, LAB_ONLY)



def test_document_validates_and_is_marked_lab(audit: Audit) -> None:
    document = audit_document(audit)
    assert document["schema"] == "auditor.audit/1"
    assert document["vantage"]["lab"] is True
    assert audit.complete and [p.id for p in audit.providers] == SCANNED + LAB_ONLY


def test_shipped_schema_matches_models() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == generate_schema()


def test_real_provider_starttls_from_a_real_handshake(audit: Audit) -> None:
    starttls = checks(audit, "posteo", "smtp.starttls")
    assert {f.target for f in starttls} >= {"mx01.posteo.de"}
    for f in starttls:
        assert f.status == Status.PASS and f.value is True
        transcript = f.evidence["addresses"][0]["transcript"]
        assert any(line.startswith("S: 220") for line in transcript)  # the banner came from a live server
        assert f.evidence["addresses"][0]["tls_version"] in ("TLSv1.2", "TLSv1.3")
    protocols = checks(audit, "posteo", "tls.protocols")
    assert all("TLSv1.2" in f.value or "TLSv1.3" in f.value for f in protocols)


def test_no_starttls_fails_and_tls_checks_skip(audit: Audit) -> None:
    [f] = checks(audit, "nostarttls", "smtp.starttls")
    assert f.status == Status.FAIL and f.value is False
    assert "not offered" in f.summary
    assert all(c.status == Status.SKIP for c in checks(audit, "nostarttls", "tls.protocols"))


def test_expired_certificate(audit: Audit) -> None:
    [f] = checks(audit, "expiredcert", "tls.certificate")
    assert f.status == Status.FAIL
    assert f.value["expired"] is True and f.value["trusted"] is True  # chains to the lab CA, but expired


def test_wrong_name_certificate(audit: Audit) -> None:
    [f] = checks(audit, "wrongname", "tls.certificate")
    assert f.value["hostname_match"] is False and f.value["expired"] is False
    assert f.status == Status.WARN  # opportunistic SMTP: a name mismatch is not a delivery failure


def test_legacy_tls_only_fails(audit: Audit) -> None:
    [f] = [f for f in checks(audit, "legacytls", "tls.protocols") if f.target and f.target.endswith(":25")]
    assert f.status == Status.FAIL and "TLSv1.2" not in f.value and "TLSv1.3" not in f.value


def test_versions_are_probed_first_and_only_accepted_ones_enumerated(audit: Audit) -> None:
    [legacy] = [f for f in checks(audit, "legacytls", "tls.protocols") if f.target and f.target.endswith(":25")]
    [address] = legacy.evidence["addresses"]
    probes = address["version_probes"]
    assert [v for v, state in probes.items() if state.startswith("accepted")] == ["TLSv1", "TLSv1.1"]
    assert all(probes[v].startswith("refused") for v in ("SSLv2", "SSLv3", "TLSv1.2", "TLSv1.3"))
    assert set(address["cipher_suites"]) == {"TLSv1", "TLSv1.1"} and all(address["cipher_suites"].values())
    for f in checks(audit, "posteo", "tls.protocols"):  # a modern server: the legacy versions cost one probe each
        for a in f.evidence["addresses"]:
            assert set(a["cipher_suites"]) == {"TLSv1.2", "TLSv1.3"}
            assert all(a["version_probes"][v].startswith("refused") for v in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1"))


def test_hosted_outside_the_eu(audit: Audit) -> None:
    locations = checks(audit, "offshore", "hosting.location")
    assert {f.value["country"] for f in locations} == {"US"}
    assert all(f.value["region"] == "third_country" for f in locations)
    [summary] = checks(audit, "offshore", "hosting.summary")
    assert summary.status == Status.FAIL and summary.value["outside_adequacy"] == ["US"]
    [company] = checks(audit, "offshore", "jurisdiction.company")
    assert any("CLOUD Act" in note for note in company.value["notes"])


def test_eu_hosting(audit: Audit) -> None:
    locations = checks(audit, "posteo", "hosting.location")
    assert {f.value["country"] for f in locations} == {"DE"}
    assert all(f.value["region"] == "EU" and f.status == Status.PASS for f in locations)


def test_null_mx(audit: Audit) -> None:
    [f] = checks(audit, "nullmx", "dns.mx")
    assert f.status == Status.FAIL and f.value == []
    assert not [c for c in provider(audit, "nullmx").checks if c.id == "smtp.starttls"]


def test_dns_failure_is_an_error_not_no_record(audit: Audit) -> None:
    [f] = checks(audit, "dnsfail", "dns.mx")
    assert f.status == Status.ERROR and f.value is None
    assert "SERVFAIL" in f.summary


THREEMA_CHAT = "g-00.0.threema.ch"


def test_chat_endpoint_not_tls_per_catalog_is_skipped_and_located(audit: Audit) -> None:
    """Threema's chat port speaks Threema's own protocol (`tls: false` in the catalog): its TLS checks are
    skipped with the reason, not errors of the provider; where its servers are is still established."""
    for check in ("tls.protocols", "tls.ciphers", "tls.certificate"):
        [f] = [f for f in checks(audit, "threema", check) if f.target == f"{THREEMA_CHAT}:5222"]
        assert f.status == Status.SKIP and f.value is None, f
        assert "not a TLS service per the catalog" in f.summary
        assert "Threema chat protocol (NaCl), not TLS" in f.summary
        assert f.evidence["catalog"] == {"tls": False, "protocol": "Threema chat protocol (NaCl), not TLS"}
    located = [f for f in checks(audit, "threema", "hosting.location") if f.subject == THREEMA_CHAT]
    assert located and all(f.value["country"] == "CH" and f.value["region"] == "adequacy" for f in located)
    assert not [f for f in checks(audit, "threema", "https.hsts") if f.subject == THREEMA_CHAT]
    # the scoring reads the skips as "not applicable": the chat port is neither a failure nor "not verified"
    threema = provider(score_audit(audit, "rgpd"), "threema").score
    assert threema is not None
    assert not [c.id for c in threema.criteria if THREEMA_CHAT in (c.reason or "")]
    [chat_web] = [c for c in threema.criteria if c.id == "tls_chat_web"]
    assert chat_web.status == "met" and "tls_chat_web" not in threema.blockers


def test_tls_endpoint_that_is_not_tls_is_an_error(lab: Lab) -> None:
    """The same port listed without `tls: false`: a handshake that fails is the probe's `error`, never a pass."""
    threema = load_catalog(ROOT / "providers.yaml").get("threema")
    as_tls = threema.model_copy(update={"endpoints": [Endpoint(host=THREEMA_CHAT, port=5222, role="chat")],
                                        "claims": []})
    result = run_unit(as_tls, load_settings(lab.overrides(), environ={}))
    for check in ("tls.protocols", "tls.ciphers", "tls.certificate"):
        [f] = [f for f in result.checks if f.id == check]
        assert f.status == Status.ERROR and f.target == f"{THREEMA_CHAT}:5222", f
    assert [f for f in result.checks if f.id == "hosting.location"]


def test_not_tls_endpoint_that_does_not_resolve_is_a_location_error(lab: Lab) -> None:
    """No address: the TLS checks still do not apply, and the location is what could not be established."""
    threema = load_catalog(ROOT / "providers.yaml").get("threema")
    gone = Endpoint(host="g-99.0.threema.ch", port=5222, role="chat", tls=False, protocol="Threema chat protocol")
    result = run_unit(threema.model_copy(update={"endpoints": [gone], "claims": []}),
                      load_settings(lab.overrides(), environ={}))
    tls = [f for f in result.checks if f.id.startswith("tls.")]
    assert len(tls) == 3 and all(f.status == Status.SKIP for f in tls)
    [located] = [f for f in result.checks if f.id == "hosting.location"]
    assert located.status == Status.ERROR and located.target == "g-99.0.threema.ch"
    assert "g-99.0.threema.ch" in located.summary


def test_claims_verified_against_served_pages(audit: Audit) -> None:
    [twofa] = checks(audit, "exemplary", "claim.2fa")
    assert twofa.status == Status.PASS and twofa.value["verified"] is True
    assert len(twofa.value["sha256"]) == 64
    # on the provider's own site: stated by the provider
    assert twofa.value["level"] == "stated" and twofa.value["publisher"] == "provider"


@pytest.mark.parametrize(("pid", "claim", "level", "status"), [
    ("exemplary", "hds", "attested", Status.PASS),  # a certifier's registry page, attestation in validity
    ("offshore", "hds", "expired", Status.FAIL),  # the page still says it; the attestation lapsed in 2020
    ("offshore", "e2ee", "third_party", Status.WARN),  # only a blog says so
    ("offshore", "zero_access", "contradicted", Status.FAIL),  # a credible source says otherwise
    ("proton", "zero_access", "stated", Status.PASS),  # the catalog's phrase, on Proton's own support page
    ("proton", "open_source", "stated", Status.PASS),  # the licence notice in a README on Proton's own GitHub
])
def test_claim_evidence_levels(audit: Audit, pid: str, claim: str, level: str, status: Status) -> None:
    [f] = checks(audit, pid, f"claim.{claim}")
    assert (f.value["level"], f.status) == (level, status), f.summary
    if level == "attested":
        assert f.value["verified"] is True and f.value["valid_until"] == "2099-12-31"
        assert "Example Certification Body" in f.summary
    if level == "third_party":
        assert f.value["verified"] is True and f.value["publisher"] == "third_party"


def test_claim_with_a_page_but_no_phrase_is_not_found(lab: Lab) -> None:
    """A page is recorded but nobody wrote down its wording: nothing to look for, so the claim is not established."""
    proton = load_catalog(ROOT / "providers.yaml").get("proton")
    [claim] = [c.model_copy(update={"evidence_text": None}) for c in proton.claims if c.name == "open_source"]
    result = run_unit(proton.model_copy(update={"claims": [claim]}), load_settings(lab.overrides(), environ={}))
    [f] = [f for f in result.checks if f.id == "claim.open_source"]
    assert (f.value["level"], f.status) == ("not_found", Status.WARN), f.summary
    assert f.value["verified"] is None and "no phrase recorded to look for on https://" in f.summary


def test_catalog_selection_error_names_known_ids() -> None:
    catalog: Catalog = load_catalog(ROOT / "providers.yaml")
    with pytest.raises(Exception, match="posteo"):
        catalog.select(["nope"])


def only(audit: Audit, pid: str, check: str) -> Finding:
    """The one finding of a check for a lab provider's mail domain / single MX."""
    found = checks(audit, pid, check)
    mx = [f for f in found if f.target is None or not f.target.endswith(":443")]
    assert len({(f.subject, f.target) for f in mx}) == 1, [(f.subject, f.target) for f in mx]
    return mx[0]


@pytest.mark.parametrize(("pid", "status", "reason"), [
    ("exemplary", Status.PASS, "secure"),
    ("offshore", Status.FAIL, "insecure"),
    ("dnssecbogus", Status.FAIL, "bad signature"),
    ("dnssecexpired", Status.FAIL, "expired signature"),
    ("dsmismatch", Status.FAIL, "no matching key"),
    ("dnsfail", Status.ERROR, "SERVFAIL"),
])
def test_dnssec_of_the_mail_domain(audit: Audit, pid: str, status: Status, reason: str) -> None:
    domain = checks(audit, pid, "dns.mx")[0].subject  # the (only) mail domain
    [f] = [c for c in checks(audit, pid, "dns.dnssec") if c.subject == domain and c.target is None]
    assert f.status == status and reason in f.summary + str(f.value)


@pytest.mark.parametrize(("pid", "value", "status"), [
    ("exemplary", "valid", Status.PASS),
    ("danemismatch", "mismatch", Status.FAIL),
    ("daneinsecure", "not_usable", Status.WARN),
    ("dnssecbogus", "not_usable", Status.FAIL),
    ("offshore", "none", Status.WARN),
])
def test_dane(audit: Audit, pid: str, value: str, status: Status) -> None:
    found = checks(audit, pid, "dane")
    assert {f.value for f in found} == {value} and {f.status for f in found} == {status}


@pytest.mark.parametrize(("pid", "mode", "valid", "status"), [
    ("exemplary", "enforce", True, Status.PASS),
    ("ststesting", "testing", True, Status.WARN),
    ("stsmismatch", "enforce", True, Status.FAIL),
    ("stsgone", None, False, Status.FAIL),
    ("offshore", None, False, Status.FAIL),
])
def test_mta_sts(audit: Audit, pid: str, mode: str | None, valid: bool, status: Status) -> None:
    f = only(audit, pid, "mta_sts")
    assert (f.value["mode"], f.value["valid"], f.status) == (mode, valid, status)
    if pid == "stsmismatch":
        assert f.value["mx_covered"] is False


@pytest.mark.parametrize("pid", ["proton", "tuta"])
def test_published_mta_sts_is_served_and_enforced(audit: Audit, pid: str) -> None:
    """The catalog records Proton's and Tuta's MTA-STS policies in enforce mode; the lab serves them and the
    probe finds them valid, covering the MX, on every mail domain."""
    provider_ = load_catalog(ROOT / "providers.yaml").get(pid)
    found = checks(audit, pid, "mta_sts")
    assert {f.subject for f in found} == set(provider_.mail_domains)
    for f in found:
        assert (f.value["mode"], f.value["valid"], f.status) == ("enforce", True, Status.PASS), f.summary
        assert f.value["mx_covered"] is True


def test_self_signed_and_untrusted_certificates(audit: Audit) -> None:
    for pid in ("selfsigned", "untrusted"):
        f = only(audit, pid, "tls.certificate")
        assert f.value["trusted"] is False and f.value["expired"] is False


def test_weak_key_and_ciphers(audit: Audit) -> None:
    cert = only(audit, "weakkey", "tls.certificate")
    assert cert.status == Status.FAIL and cert.value["key"] == "RSA-1024"
    ciphers = only(audit, "weakcipher", "tls.ciphers")
    assert ciphers.status == Status.FAIL and ciphers.value["forward_secrecy"] is False


def test_spf_and_dmarc(audit: Audit) -> None:
    spf = only(audit, "exemplary", "spf")
    assert spf.status == Status.PASS and spf.value["all"] == "-all"
    assert only(audit, "exemplary", "dmarc").value["policy"] == "reject"
    assert only(audit, "nostarttls", "dmarc").status == Status.FAIL


def test_tls_grade_in_evidence(audit: Audit) -> None:
    for f in checks(audit, "exemplary", "tls.protocols"):
        assert f.evidence["grade"]["letter"] in ("A+", "A", "A-", "B")
    legacy = only(audit, "legacytls", "tls.protocols")
    assert legacy.evidence["grade"]["letter"] in ("C", "D", "E", "F")


def test_unit_of_work_round_trips_as_json(lab: Lab) -> None:
    from auditor.catalog import Provider
    from auditor.scan import run_unit
    from auditor.settings import Settings

    settings = Settings.model_validate_json(load_settings(lab.overrides(), environ={}).model_dump_json())
    target = Provider.model_validate_json(load_catalog(LAB_CATALOG).get("nostarttls").model_dump_json())
    result = ProviderResult.model_validate_json(run_unit(target, settings).model_dump_json())
    assert result.id == "nostarttls"
    assert any(c.id == "smtp.starttls" and c.value is False for c in result.checks)
