"""Where the data lives and who can be compelled: `hosting.location`, `hosting.summary`, `jurisdiction.company`
against the lab (its GeoIP database, its Team Cymru-style ASN records, its RDAP servers), plus the offline
fallback, the RDAP cache in the store, and what happens when the registries cannot be reached."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from labscan import checks, scan_lab

from auditor.catalog import Provider, load_catalog
from auditor.findings import Audit, Finding, Status
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.net.dns import Resolver
from auditor.net.geo import GeoFact, GeoLocator
from auditor.net.http import HttpFetcher
from auditor.net.rdap import NetworkOwner, RdapClient, cymru_name, parse_cymru
from auditor.probes.context import ScanContext
from auditor.probes.hosting import locate, location_finding, rescope
from auditor.probes.jurisdiction import jurisdiction_finding, transfer_finding
from auditor.scan import run_scan
from auditor.schema import audit_document
from auditor.settings import Settings, load_settings
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
REAL = ["posteo", "proton", "olvid"]
LAB_ONLY = ["offshore", "transatlantic", "dpfcloud"]
T = TypeVar("T")
try:
    import iptocc  # noqa: F401
except ImportError:  # pragma: no cover - the package is a dependency; this keeps the rest of the file running
    HAVE_FALLBACK = False
else:
    HAVE_FALLBACK = True
needs_fallback = pytest.mark.skipif(not HAVE_FALLBACK, reason="iptocc (the offline GeoIP fallback) not installed")


@pytest.fixture(scope="module")
def settings(lab: Lab) -> Settings:
    return load_settings(lab.overrides(), environ={})


@pytest.fixture(scope="module")
def audit(settings: Settings) -> Audit:
    return scan_lab(settings, REAL, LAB_ONLY)



def locations_of(audit: Audit, pid: str, host: str) -> list[Finding]:
    found = [f for f in checks(audit, pid, "hosting.location") if f.subject == host]
    assert found, f"{pid}: no hosting.location for {host}"
    return found


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- the four kinds of address ------------------------------------------------------------------------------
def test_eu_address(audit: Audit) -> None:
    [f] = locations_of(audit, "posteo", "mx01.posteo.de")
    assert f.status == Status.PASS
    assert f.value["country"] == "DE" and f.value["region"] == "EU"
    assert f.value["org"] == "Posteo e.K." and isinstance(f.value["asn"], int)
    assert any("GeoLite2" in s for s in f.value["sources"])
    assert any("RDAP https://rdap.db.ripe.net/ip/" in s for s in f.value["sources"])
    assert "disagreement" not in f.evidence


def test_adequacy_address(audit: Audit) -> None:
    [f] = locations_of(audit, "proton", "mail.protonmail.ch")
    assert f.value["country"] == "CH" and f.value["region"] == "adequacy" and f.status == Status.INFO
    assert f.value["org"] == "Proton AG"


def test_third_country_address(audit: Audit) -> None:
    [f] = locations_of(audit, "offshore", "mx.offshore.example")
    assert f.value["country"] == "US" and f.value["region"] == "third_country" and f.status == Status.WARN
    assert f.value["asn"] == 64512 and f.value["org"] == "Offshore Hosting LLC (lab)"
    assert f.evidence["rdap"]["registry"] == "arin"


def test_unknown_address(settings: Settings) -> None:
    async def go() -> Finding:
        ctx = ScanContext.create(settings)
        try:  # a documentation address: in no GeoIP database, in no registry (the lab has no record for it)
            return await locate("unknown.example", "192.0.2.10", ctx, dpf_certified=None)
        finally:
            await ctx.aclose()

    f = run(go())
    assert f.status == Status.ERROR and f.value["country"] is None and f.value["region"] == "unknown"
    assert f.value["asn"] is None and f.value["org"] is None and f.value["sources"] == []
    assert "country unknown" in f.summary and "not in GeoLite2" in f.summary
    assert "no origin ASN" in f.evidence["rdap"]["error"]


# --- DPF: the catalog's dpf_certified on every path -------------------------------------------------------
def test_us_address_of_a_dpf_certified_company_is_adequacy(audit: Audit) -> None:
    [f] = locations_of(audit, "dpfcloud", "mx.dpfcloud.example")
    assert f.value["country"] == "US" and f.value["region"] == "adequacy" and f.status == Status.INFO
    assert f.evidence["dpf_certified"] is True
    [summary] = checks(audit, "dpfcloud", "hosting.summary")
    assert summary.value["outside_adequacy"] == [] and summary.value["outside_eu_eea"] == ["US"]
    [company] = checks(audit, "dpfcloud", "jurisdiction.company")
    assert company.value["region"] == "adequacy"


def test_a_shared_host_is_judged_with_each_company_dpf_status(audit: Audit) -> None:
    [f] = locations_of(audit, "dpfcloud", "mx.dpfcloud.example")
    other = rescope(f, None)  # the same address, for a company not known to be certified
    assert other.value["region"] == "third_country" and other.status == Status.WARN
    assert other.value["asn"] == f.value["asn"] and other.value["org"] == f.value["org"]
    assert rescope(other, True).value["region"] == "adequacy"


# --- who can be compelled ---------------------------------------------------------------------------------
def test_us_company_with_eu_servers(audit: Audit) -> None:
    [company] = checks(audit, "transatlantic", "jurisdiction.company")
    assert company.value["country"] == "US" and any("CLOUD Act" in n for n in company.value["notes"])
    [summary] = checks(audit, "transatlantic", "hosting.summary")
    assert summary.value["countries"] == ["DE"] and summary.value["outside_eu_eea"] == []
    assert summary.status == Status.PASS
    assert "CLOUD Act" in summary.summary and summary.evidence["compellable"].startswith("company in US")
    for f in checks(audit, "transatlantic", "hosting.location"):
        assert f.value["region"] == "EU"


def test_mta_sts_policy_host_is_located(audit: Audit) -> None:
    [f] = locations_of(audit, "transatlantic", "mta-sts.transatlantic.example")
    assert f.value["country"] == "DE" and f.value["org"] == "Transatlantic Cloud GmbH (lab)"
    # Domains without MTA-STS get no policy host location.
    assert not [x for x in checks(audit, "posteo", "hosting.location") if x.subject.startswith("mta-sts.")]


# --- registry vs geolocation ------------------------------------------------------------------------------
def test_registry_and_geolocation_disagree(audit: Audit) -> None:
    [f] = locations_of(audit, "olvid", "server.olvid.io")
    assert f.value["country"] == "FR" and f.value["region"] == "EU"  # the location is the geolocation's
    assert f.status == Status.WARN
    d = f.evidence["disagreement"]
    assert d["geolocation"] == "FR" and d["registry"] == "US" and d["registry_source"] == "RDAP (arin)"
    assert d["registry_region"] == "third_country"
    assert "registered in US" in f.summary
    [summary] = checks(audit, "olvid", "hosting.summary")
    assert summary.status == Status.WARN and "disagree" in summary.summary
    assert {x["registry"] for x in summary.evidence["disagreements"]} == {"US"}
    # Who can be compelled: the cloud provider running the network, registered in the US.
    assert "registered in US: Amazon.com, Inc." in summary.summary
    [operator] = summary.evidence["foreign_operators"]
    assert operator["law"].startswith("CLOUD Act")
    assert operator["org"] == "Amazon.com, Inc." and operator["asn"] == 16509
    # the law as access_laws.yaml gives it, with its source and what its text says of data stored abroad
    [law] = operator["laws"]
    assert law["id"] == "us_cloud_act" and law["url"].startswith("https://") and law["abroad"]["fr"]
    assert sorted(operator["hosts"]) == ["server.olvid.io", "ws-server.olvid.io"]


def test_asn_and_org_come_from_the_lab_rdap(lab: Lab, audit: Audit) -> None:
    [f] = locations_of(audit, "olvid", "server.olvid.io")
    assert f.value["asn"] == 16509 and f.value["org"] == "Amazon.com, Inc."
    rdap = f.evidence["rdap"]
    assert rdap["rdap"] is True and rdap["error"] is None
    assert rdap["rdap_url"] == f"https://rdap.arin.net/registry/ip/{f.target}"
    assert rdap["cymru"] and rdap["cymru"][0].startswith("16509 | ")
    assert any(r.host == "rdap.arin.net" and r.path == f"/registry/ip/{f.target}" for r in lab.requests)


def test_document_validates(audit: Audit) -> None:
    audit_document(audit)  # validates against the shipped JSON Schema


# --- offline fallback -------------------------------------------------------------------------------------
@needs_fallback
def test_offline_fallback_when_no_geoip_db() -> None:
    geo = GeoLocator(None)
    fact = geo.lookup("193.0.6.139")  # RIPE NCC's own block: allocated in NL
    assert fact.country == "NL" and fact.fallback and fact.source.startswith("iptocc ")
    assert "RIR delegation data" in fact.source
    f = location_finding("www.ripe.example", fact, None, dpf_certified=None)
    assert f.value["country"] == "NL" and f.value["region"] == "EU" and f.status == Status.PASS
    assert f.value["sources"] == [fact.source] and "approximate" in f.summary
    assert f.evidence["rdap"] == {"error": "not looked up"}


@needs_fallback
def test_geoip_database_first_then_fallback(lab: Lab) -> None:
    geo = GeoLocator(lab.geoip_db)
    try:
        in_db = geo.lookup(lab.address("mx01.posteo.de"))
        assert in_db.country == "DE" and not in_db.fallback and "GeoLite2" in in_db.source
        outside = geo.lookup("8.8.8.8")  # not in the lab database: the fallback answers, and says so
        assert outside.country == "US" and outside.fallback
    finally:
        geo.close()


@needs_fallback
def test_scan_without_geoip_db_uses_the_fallback(lab: Lab) -> None:
    settings = load_settings({**lab.overrides(), "geoip_db": None}, environ={})

    async def go() -> Finding:
        ctx = ScanContext.create(settings)
        try:
            return await locate("mx01.posteo.de", lab.address("mx01.posteo.de"), ctx, dpf_certified=None)
        finally:
            await ctx.aclose()

    f = run(go())
    # Lab addresses are loopback: no real dataset places them, so the country is unknown, never guessed; the
    # registry still answers, and the summary says its country is not a location.
    assert f.status == Status.ERROR and f.value["country"] is None
    assert "no GeoIP database configured; not in iptocc" in f.summary and "not a location" in f.summary
    assert f.value["org"] == "Posteo e.K."


def test_without_fallback_the_country_is_unknown() -> None:
    fact = GeoLocator(None, fallback=False).lookup("8.8.8.8")
    assert fact.country is None and fact.source == "no GeoIP database configured"


# --- registries unreachable -------------------------------------------------------------------------------
@pytest.fixture()
def dead_dns_ctx(settings: Settings) -> Iterator[ScanContext]:
    ctx = ScanContext.create(settings)
    dead = Resolver(("127.0.0.1", closed_port()), timeout=0.5)
    ctx.rdap = RdapClient(dead, HttpFetcher(dead, ca_bundle=settings.ca_bundle, timeout=0.5))
    yield ctx
    run(ctx.aclose())


def test_rdap_unreachable_keeps_the_geoip_location(lab: Lab, dead_dns_ctx: ScanContext) -> None:
    f = run(locate("mx01.posteo.de", lab.address("mx01.posteo.de"), dead_dns_ctx, dpf_certified=None))
    assert f.value["country"] == "DE" and f.value["region"] == "EU"
    assert f.value["asn"] is None and f.value["org"] is None
    assert len(f.value["sources"]) == 1 and "GeoLite2" in f.value["sources"][0]
    # Decision: the location was measured, so the status is the location's; the missing owner is said, not hidden.
    assert f.status == Status.PASS
    assert "ASN/organisation unknown" in f.summary and "Team Cymru" in f.evidence["rdap"]["error"]


def test_rdap_server_down_keeps_the_asn(lab: Lab, settings: Settings) -> None:
    async def go() -> NetworkOwner:
        resolver = Resolver(settings.resolver_address(), timeout=2)
        http = HttpFetcher(resolver, ca_bundle=settings.ca_bundle, timeout=1, port_map={443: closed_port()})
        try:
            return await RdapClient(resolver, http).lookup(lab.address("mx.offshore.example"))
        finally:
            await http.aclose()

    owner = run(go())
    assert owner.asn == 64512 and owner.org is None and not owner.rdap
    assert owner.error and owner.error.startswith("RDAP https://rdap.arin.net/registry/ip/")
    geo = GeoFact(owner.ip, "US", None, "test")
    f = location_finding("mx.offshore.example", geo, owner, dpf_certified=None)
    assert f.value["asn"] == 64512 and f.value["org"] is None and "incomplete" in f.summary


# --- the cache in the store -------------------------------------------------------------------------------
def test_rdap_answers_are_cached_in_the_store(lab: Lab, settings: Settings, tmp_path: Path) -> None:
    ip = lab.address("mx01.posteo.de")

    async def lookup(store: Store, *, working: bool, ttl: float = 3600) -> NetworkOwner:
        address = settings.resolver_address() if working else ("127.0.0.1", closed_port())
        resolver = Resolver(address, timeout=0.5 if not working else 2)
        http = HttpFetcher(resolver, ca_bundle=settings.ca_bundle, timeout=1, port_map=settings.port_map)
        try:
            return await RdapClient(resolver, http, cache=store, ttl=ttl).lookup(ip)
        finally:
            await http.aclose()

    with Store.open(tmp_path / "audits.sqlite") as store:
        first = run(lookup(store, working=True))
        assert first.org == "Posteo e.K." and not first.cached
        again = run(lookup(store, working=False))  # the registries are gone, the store remembers
        assert again.cached and again.org == first.org and again.asn == first.asn
        stale = run(lookup(store, working=False, ttl=0))  # too old: looked up again (and failing now)
        assert not stale.cached and stale.error and stale.asn is None
        assert store.rdap_get(ip, 3600) is not None  # a failure does not overwrite a good answer


def test_a_scan_fills_the_store_cache(settings: Settings, tmp_path: Path) -> None:
    [dpfcloud] = load_catalog(LAB_CATALOG).select(["dpfcloud"])
    with Store.open(tmp_path / "audits.sqlite") as store:
        first = run(run_scan([dpfcloud], settings, rdap_cache=store))
        [f] = [c for c in first.providers[0].checks if c.id == "hosting.location"]
        assert f.value["org"] == "DPF Cloud Inc. (lab)" and not f.evidence["rdap"]["cached"]
        second = run(run_scan([dpfcloud], settings, rdap_cache=store))
        [g] = [c for c in second.providers[0].checks if c.id == "hosting.location"]
        assert g.evidence["rdap"]["cached"] and "cached" in g.value["sources"][1]
        assert {k: v for k, v in g.value.items() if k != "sources"} == {
            k: v for k, v in f.value.items() if k != "sources"}


# --- parsing strangers' data ------------------------------------------------------------------------------
def test_cymru_names_and_answers() -> None:
    assert cymru_name("192.0.2.1") == "1.2.0.192.origin.asn.cymru.com."
    assert cymru_name("2001:db8::1").endswith(".origin6.asn.cymru.com.")
    good = parse_cymru("16509 14618 | 15.188.0.0/16 | US | arin | 2019-07-30")
    assert good is not None and good.asn == 16509 and good.registry == "arin" and good.prefix == "15.188.0.0/16"
    for bad in ("", "x | 1.2.3.0/24 | US | arin | d", "1 | not-a-prefix | US | arin | d",
                "1 | 1.2.3.0/24 | US | evil | d", "<script> | 1.2.3.0/24 | US | arin | d"):
        assert parse_cymru(bad) is None


def test_rdap_answers_are_untrusted_text() -> None:
    from ipwhois.exceptions import InvalidNetworkObject

    from auditor.net.rdap import parse_rdap

    tech = {"handle": "E1", "roles": ["technical"], "vcardArray": ["vcard", [["fn", {}, "text", "Tech"]]]}
    evil = "Evil\r\n<script>Corp</script>" + "x" * 500
    registrant = {"handle": "E2", "roles": ["registrant"], "vcardArray": ["vcard", [["fn", {}, "text", evil]]]}
    body = {"handle": "NET-1", "startAddress": "192.0.2.0", "endAddress": "192.0.2.255", "ipVersion": "v4",
            "country": "<b>", "name": "X\nNET", "entities": [tech, registrant, "not an entity"]}
    org, country, label = parse_rdap(body)
    assert org is not None and org.startswith("Evil <script>Corp</script>") and len(org) == 200  # registrant first
    assert "\n" not in org and country is None and label == "NET-1 X NET"
    with pytest.raises(InvalidNetworkObject):
        parse_rdap({"objectClassName": "ip network"})  # no handle: not a network object (the client reports it)


# --- foreign access laws, from data --------------------------------------------------------------------------
def _company(**company: object) -> Provider:
    return Provider.model_validate({"id": "p", "name": "P", "kind": "mail", "mail_domains": ["p.example"],
                                    "company": {"legal_name": "P", **company}})


def test_cloud_act_reaches_a_us_establishment() -> None:
    """Defect 8: an EU company with an establishment in the US is reached by the CLOUD Act (via presence)."""
    f = jurisdiction_finding(_company(country="DE", presence=["US"]))
    assert f.value["foreign_access"] == ["us_cloud_act"] and f.status == Status.WARN
    assert f.evidence["access_laws"][0]["via"] == ["presence"]
    assert jurisdiction_finding(_company(country="DE")).value["foreign_access"] == []


def test_access_laws_of_other_countries_are_risks_and_gaps_are_said() -> None:
    uk = jurisdiction_finding(_company(country="GB"))
    assert uk.value["access_laws"] == ["uk_ipa_2016"] and uk.value["foreign_access"] == []
    assert uk.value["decision"]["valid_until"] == "2031-12-27" and uk.value["decision"]["certain"] is False
    canada = jurisdiction_finding(_company(country="CA"))
    assert canada.value["unassessed"] == ["CA"] and any("not assessed" in n for n in canada.value["notes"])
    assert canada.value["decision"]["scope"]["en"].startswith("Commercial organisations subject to PIPEDA")


def test_unknown_parent_is_not_no_parent() -> None:
    unknown = jurisdiction_finding(_company(country="DE", parent="unknown"))
    none = jurisdiction_finding(_company(country="DE", parent=None))
    assert unknown.value["parent_known"] is False and none.value["parent_known"] is True
    assert unknown.value["parent_country"] is None and none.value["parent_country"] is None


def test_uncertain_decision_and_scope_reach_the_location() -> None:
    """Defect 9: the UK renewal (number not found: certain false) and its validity reach hosting.location."""
    uk = location_finding("mx.example.co.uk", GeoFact("192.0.2.7", "GB", "GB", "lab", False), dpf_certified=None)
    decision = uk.value["decision"]
    assert decision["id"] == "GB" and decision["certain"] is False and decision["valid_until"] == "2031-12-27"
    assert "number not found" in decision["reference"] and decision["source"].startswith("https://")
    ca = location_finding("mx.example.ca", GeoFact("192.0.2.8", "CA", "CA", "lab", False), dpf_certified=None)
    assert ca.value["decision"]["scope"]["fr"].startswith("Organisations commerciales soumises à la PIPEDA")
    us = location_finding("mx.example.com", GeoFact("192.0.2.9", "US", "US", "lab", False), dpf_certified=False)
    assert us.value["region"] == "third_country" and us.value["decision"] is None


def _located(host: str, country: str, region: str) -> Finding:
    return Finding(id="hosting.location", subject=host, target="192.0.2.1", status=Status.PASS,
                   value={"ip": "192.0.2.1", "country": country, "region": region, "asn": None, "org": None,
                          "sources": [], "decision": None}, summary="s")


def test_no_data_carrying_server_located_is_not_no_transfer() -> None:
    """Only a public website was located: whether data leave the EU/EEA is unknown, never 'no transfer'."""
    web_only = Provider.model_validate({"id": "p", "name": "P", "kind": "chat", "company": {"legal_name": "P",
                                        "country": "IE"}, "endpoints": {"web": ["www.p.example"]}})
    transfer = transfer_finding(web_only, [_located("www.p.example", "US", "third_country")])
    assert transfer.value["mechanism"] == "unknown" and transfer.status == Status.ERROR
    assert "no data-carrying server" in transfer.summary
    chat = Provider.model_validate({"id": "p", "name": "P", "kind": "chat", "company": {"legal_name": "P",
                                    "country": "IE"}, "endpoints": {"chat": ["chat.p.example"]}})
    assert transfer_finding(chat, [_located("chat.p.example", "DE", "EU")]).value["mechanism"] == "none"
    assert transfer_finding(chat, [_located("chat.p.example", "US", "third_country")]).value["mechanism"] == \
        "safeguards"
