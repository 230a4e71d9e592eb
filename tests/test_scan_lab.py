"""The whole scan pipeline against the lab: real DNS, real SMTP STARTTLS, real TLS handshakes, real GeoIP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from auditor.catalog import Catalog, load_catalog
from auditor.findings import Audit, Finding, ProviderResult, Status
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.scan import run_scan
from auditor.schema import SCHEMA_FILE, audit_document, generate_schema
from auditor.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["posteo", "proton", "threema"]
LAB_ONLY = ["nostarttls", "expiredcert", "offshore", "wrongname", "legacytls", "nullmx", "dnsfail", "exemplary"]


@pytest.fixture(scope="module")
def audit(lab: Lab) -> Audit:
    settings = load_settings(lab.overrides(), environ={})
    real = load_catalog(ROOT / "providers.yaml").select(SCANNED)
    broken = load_catalog(LAB_CATALOG).select(LAB_ONLY)
    return asyncio.run(run_scan([*real, *broken], settings))


def provider(audit: Audit, pid: str) -> ProviderResult:
    return next(p for p in audit.providers if p.id == pid)


def checks(audit: Audit, pid: str, check: str) -> list[Finding]:
    found = [c for c in provider(audit, pid).checks if c.id == check]
    assert found, f"{pid} has no {check} finding"
    return found


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


def test_chat_endpoint_that_is_not_tls_is_an_error(audit: Audit) -> None:
    chat = [f for f in checks(audit, "threema", "tls.protocols") if f.target == "g-00.0.threema.ch:5222"]
    assert chat and chat[0].status == Status.ERROR


def test_claims_verified_against_served_pages(audit: Audit) -> None:
    [twofa] = checks(audit, "exemplary", "claim.2fa")
    assert twofa.status == Status.PASS and twofa.value["verified"] is True
    assert len(twofa.value["sha256"]) == 64


def test_catalog_selection_error_names_known_ids() -> None:
    catalog: Catalog = load_catalog(ROOT / "providers.yaml")
    with pytest.raises(Exception, match="posteo"):
        catalog.select(["nope"])
