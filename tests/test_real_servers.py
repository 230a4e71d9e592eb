"""What real servers do, against the lab: compressed answers, aliased MX hosts, odd certificates, hostile
address sets. Each case is a lab provider of auditor/lab/catalog.yaml scanned through the whole pipeline."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Iterator

import pytest

from auditor.catalog import load_catalog
from auditor.findings import Finding, ProviderResult, Status
from auditor.lab import Lab
from auditor.lab.https_server import HttpServer, Route
from auditor.lab.world import LAB_CATALOG
from auditor.net.dns import Resolver
from auditor.net.http import HttpFetcher
from auditor.scan import run_unit
from auditor.settings import Settings, load_settings


@pytest.fixture(scope="module")
def settings(lab: Lab) -> Settings:
    return load_settings({**lab.overrides(), "timeout": 3.0}, environ={})


def audit(pid: str, settings: Settings) -> ProviderResult:
    return run_unit(load_catalog(LAB_CATALOG).get(pid), settings)


def findings(result: ProviderResult, check: str) -> list[Finding]:
    found = [f for f in result.checks if f.id == check]
    assert found, f"{result.id} has no {check} finding: {[f.id for f in result.checks]}"
    return found


# --- compressed bodies ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compressed(lab: Lab, settings: Settings) -> ProviderResult:
    return audit("compressed", settings)


def test_gzipped_mta_sts_policy_is_parsed(lab: Lab, compressed: ProviderResult) -> None:
    [sts] = findings(compressed, "mta_sts")
    assert sts.status == Status.PASS and sts.value["valid"] is True and sts.value["mode"] == "enforce", sts.summary
    assert sts.evidence["fetch"]["headers"]["content-encoding"] == "gzip"  # the server did compress it
    assert sts.evidence["policy_text"].startswith("version: STSv1")


def test_gzipped_claim_page_keeps_its_text(compressed: ProviderResult) -> None:
    [claim] = findings(compressed, "claim.2fa")
    assert claim.status == Status.PASS and claim.value["verified"] is True, claim.summary


def test_gzipped_rdap_answer_names_the_network(compressed: ProviderResult) -> None:
    located = findings(compressed, "hosting.location")
    assert all(f.value["org"] == "Gzip Everything GmbH (lab)" for f in located), [f.summary for f in located]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def bomb_server() -> Iterator[tuple[asyncio.AbstractEventLoop, str]]:
    """A plain-HTTP lab server whose page is a gzip bomb: 50 MB of zeros in ~50 KB."""
    loop = asyncio.new_event_loop()
    port = _free_port()
    bomb = gzip.compress(b"\0" * 50_000_000)
    routes = {("127.0.0.1", "/bomb"): Route(200, (("Content-Encoding", "gzip"),), bomb),
              ("127.0.0.1", "/br"): Route(200, (("Content-Encoding", "br"),), b"\x0b\x02\x80hello\x03")}
    server = HttpServer("127.0.0.1", port, routes, [])
    loop.run_until_complete(server.start())
    try:
        yield loop, f"http://127.0.0.1:{port}"
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


def test_decompressed_size_is_capped(bomb_server: tuple[asyncio.AbstractEventLoop, str]) -> None:
    loop, base = bomb_server

    async def fetch(path: str) -> tuple[int, bool, str | None]:
        http = HttpFetcher(Resolver(("127.0.0.1", 53)), ca_bundle=None, timeout=5)
        try:
            result = await http.get(base + path, max_bytes=65536)
            return len(result.body), result.truncated, result.error
        finally:
            await http.aclose()

    assert loop.run_until_complete(fetch("/bomb")) == (65536, True, None)
    size, _, error = loop.run_until_complete(fetch("/br"))
    assert size == 0 and error is not None and "unsupported Content-Encoding 'br'" in error


# --- odd certificate names, failures isolated per finding ----------------------------------------------------
@pytest.fixture(scope="module")
def oddnames(lab: Lab, settings: Settings) -> ProviderResult:
    return audit("oddnames", settings)


def test_odd_certificate_names_are_judged_not_crashed(oddnames: ProviderResult) -> None:
    assert not [f for f in oddnames.checks if f.id == "scan.probe"], [f.summary for f in oddnames.checks]
    certs = {f.target: f for f in findings(oddnames, "tls.certificate")}
    underscore, wildcard = certs["mx1.oddnames.example:25"], certs["mx2.oddnames.example:25"]
    # a_b.example first: the name does not match, and the chain is still judged through the next name
    assert underscore.value["hostname_match"] is False and underscore.value["trusted"] is True
    assert underscore.evidence["addresses"][0]["names"] == ["a_b.example", "unrelated-host.example"]
    # *.*.x only: no name a verifier accepts, so trust cannot be established, and it says why
    assert wildcard.value["hostname_match"] is False and wildcard.value["trusted"] is False
    assert "no valid DNS name" in wildcard.summary
    assert {f.status for f in certs.values()} == {Status.WARN}  # opportunistic SMTP: mismatch is not a failure
    # every other check of the domain stands
    for check in ("dns.mx", "smtp.starttls", "tls.protocols", "spf", "dmarc", "tlsrpt", "mta_sts", "dane"):
        assert all(f.status != Status.ERROR for f in findings(oddnames, check)), check


def test_one_failing_probe_costs_only_its_own_findings(lab: Lab, settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe that raises (a bug, an input nobody foresaw) is one `error` finding, not the whole domain."""
    import auditor.probes.mail as mail

    async def broken(domain: str, ctx: object) -> Finding:
        raise ValueError(f"unforeseen record at {domain}")

    monkeypatch.setattr(mail, "spf_finding", broken)
    result = audit("exemplary", settings)
    assert not [f for f in result.checks if f.id == "scan.probe"]
    [spf] = findings(result, "spf")
    assert spf.status == Status.ERROR and spf.subject == "exemplary.example"
    assert spf.summary == "the probe failed: ValueError: unforeseen record at exemplary.example"
    for check in ("dns.mx", "smtp.starttls", "tls.certificate", "dmarc", "mta_sts", "dane", "dns.dnssec"):
        assert all(f.status == Status.PASS for f in findings(result, check)), check


def test_an_intermediate_not_yet_valid_is_not_trusted(tmp_path: object) -> None:
    """Only the leaf's own validity may move the moment the chain is checked at."""
    from pathlib import Path

    from cryptography import x509

    from auditor.lab.ca import LabCA
    from auditor.net.certs import analyse_chain

    ca = LabCA(Path(str(tmp_path)))
    issued = ca.issue(["mx.example.org"], fault="intermediate_not_yet_valid")
    chain = x509.load_pem_x509_certificates(issued.chain_file.read_bytes())
    facts = analyse_chain(chain, "mx.example.org", [ca.root])
    assert facts.expired is False and facts.hostname_match is True
    assert facts.trusted is False and facts.trust_error
    good = x509.load_pem_x509_certificates(ca.issue(["mx.example.org"]).chain_file.read_bytes())
    assert analyse_chain(good, "mx.example.org", [ca.root]).trusted is True


def test_one_failing_verdict_costs_only_that_check(lab: Lab, settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor.probes.endpoint as endpoint

    def broken(*args: object, **kwargs: object) -> Finding:
        raise KeyError("a certificate field nobody foresaw")

    monkeypatch.setattr(endpoint, "certificate_finding", broken)
    result = audit("exemplary", settings)
    certs = findings(result, "tls.certificate")
    assert certs and all(f.status == Status.ERROR and "KeyError" in f.summary for f in certs)
    for check in ("smtp.starttls", "tls.protocols", "tls.ciphers", "dane"):
        assert all(f.status != Status.ERROR for f in findings(result, check)), check


# --- worst-of over every address ------------------------------------------------------------------------------
def test_ciphers_are_not_a_pass_when_an_address_could_not_be_scanned() -> None:
    from auditor.net.tls import TlsScan
    from auditor.probes.tls_checks import ciphers_finding, protocols_finding

    probes = {v: "refused: alert" for v in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")}
    good = TlsScan("mx.example", "192.0.2.1", 25, True, protocols=["TLSv1.2", "TLSv1.3"], probes=probes,
                   cipher_suites={"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                                  "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]})
    late = TlsScan("mx.example", "192.0.2.2", 25, True, error="TLS scan exceeded its 60s deadline")
    assert ciphers_finding("d", "t", [good]).status == Status.PASS
    both = ciphers_finding("d", "t", [good, late])
    assert both.status == Status.ERROR, both.summary
    assert "192.0.2.2 (TLS scan exceeded its 60s deadline)" in both.summary
    assert both.value == {"forward_secrecy": True, "aead_only": True, "weak": []}  # what was measured is kept
    assert protocols_finding("d", "t", [good, late]).status == Status.ERROR  # as tls.protocols already did
    weak = TlsScan("mx.example", "192.0.2.1", 25, True, protocols=["TLSv1.2"], probes=probes,
                   cipher_suites={"TLSv1.2": ["TLS_RSA_WITH_RC4_128_SHA"]})
    assert ciphers_finding("d", "t", [weak, late]).status == Status.FAIL  # a found weakness still stands


# --- an MX that is an alias -----------------------------------------------------------------------------------
def test_mx_alias_is_reported_and_its_server_still_tested(lab: Lab, settings: Settings) -> None:
    result = audit("mxalias", settings)
    [mx] = findings(result, "dns.mx")
    assert mx.status == Status.WARN and mx.value == ["mx.mxalias.example"]
    assert "MX target mx.mxalias.example is a CNAME to smtp.mxalias.example" in mx.summary
    [starttls] = findings(result, "smtp.starttls")
    assert starttls.status == Status.PASS and starttls.target == "mx.mxalias.example"
    assert starttls.evidence["addresses"][0]["ip"] == lab.address("smtp.mxalias.example")


@pytest.mark.parametrize(("pid", "words"), [
    ("mxdangling", "is a CNAME to gone.mxdangling.example, which has no address"),
    ("mxloop", "is a CNAME loop (mx.mxloop.example → loop.mxloop.example → mx.mxloop.example)"),
])
def test_mx_alias_to_nowhere_or_in_a_loop_fails(settings: Settings, pid: str, words: str) -> None:
    result = audit(pid, settings)
    [mx] = findings(result, "dns.mx")
    assert mx.status == Status.FAIL and words in mx.summary, mx.summary
    assert all(f.status != Status.PASS for f in findings(result, "smtp.starttls"))


def test_dane_follows_a_secure_mx_alias_to_its_tlsa_base_domain(settings: Settings) -> None:
    [dane] = findings(audit("mxalias", settings), "dane")
    assert dane.status == Status.PASS and dane.value == "valid", dane.summary
    assert dane.evidence["tlsa_name"] == "_25._tcp.smtp.mxalias.example"
    assert dane.evidence["tlsa_names_asked"] == ["_25._tcp.smtp.mxalias.example"]


def test_tlsa_base_domain_rules() -> None:
    """RFC 7672 §2.2.2: the expanded name first when the alias chain is secure, the original name when the
    expanded one securely has no TLSA; an insecure chain is not followed."""
    from auditor.net.dnssec import DnssecResult
    from auditor.probes.dane import lookup_tlsa

    answers = {"_25._tcp.target.example": DnssecResult("secure", "", ["3 1 1 aa"]),
               "_25._tcp.mx.example": DnssecResult("secure", "", ["3 1 1 bb"])}
    asked: list[str] = []

    async def validate(name: str, rdtype: str) -> DnssecResult:
        asked.append(name)
        return answers.get(name, DnssecResult("secure", "nodata proven", [], "nodata"))

    def run(host: str, expanded: str | None, secure: bool) -> tuple[str, list[str], list[str]]:
        asked.clear()
        found = asyncio.run(lookup_tlsa(host, expanded, secure, validate))
        return found.base, found.result.rrset, list(asked)

    assert run("mx.example", "target.example", True) == ("target.example", ["3 1 1 aa"], ["_25._tcp.target.example"])
    assert run("mx.example", "target.example", False) == ("mx.example", ["3 1 1 bb"], ["_25._tcp.mx.example"])
    assert run("mx.example", "empty.example", True) == ("mx.example", ["3 1 1 bb"],
                                                        ["_25._tcp.empty.example", "_25._tcp.mx.example"])
    assert run("mx.example", None, False) == ("mx.example", ["3 1 1 bb"], ["_25._tcp.mx.example"])
