"""The lab against real clients: dnspython, smtplib, ssl, httpx, maxminddb. Loopback only, no mocks."""

from __future__ import annotations

import hashlib
import random
import smtplib
import socket
import ssl
import threading
import time
import warnings
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import maxminddb
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from dns.dnssecalgs.ecdsa import PublicECDSAP256SHA256

from auditor.lab import Lab
from auditor.lab.world import allocate_addresses, read_catalog
from auditor.settings import Settings

# --- helpers --------------------------------------------------------------------------------------------------


def ask(lab: Lab, name: str, rdtype: str, *, tcp: bool = False, do: bool = False, payload: int = 1232,
        timeout: float = 2.0) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0, payload=payload)
    if tcp:
        return dns.query.tcp(q, lab.dns_address, port=lab.dns_port, timeout=timeout)
    return dns.query.udp(q, lab.dns_address, port=lab.dns_port, timeout=timeout, ignore_trailing=True)


def lab_ctx(lab: Lab, **versions: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(lab.ca_bundle))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 clients are the point here
        for attr, value in versions.items():
            setattr(ctx, attr, value)
    return ctx


def smtp_for(lab: Lab) -> type[smtplib.SMTP]:
    """smtplib that connects to the lab address of the host name it is given (so TLS checks that name)."""

    class LabSMTP(smtplib.SMTP):
        def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
            return socket.create_connection((lab.address(host), port), timeout)

    return LabSMTP


def https_get(lab: Lab, host: str, path: str = "/", ctx: ssl.SSLContext | None = None) -> httpx.Response:
    url = f"https://{lab.address(host)}:{lab.port(443)}{path}"
    with httpx.Client(verify=ctx or lab_ctx(lab), timeout=5) as client:
        return client.get(url, headers={"Host": host}, extensions={"sni_hostname": host})


# --- startup and settings ---------------------------------------------------------------------------------------


def test_starts_fast_and_gives_scan_settings(lab: Lab) -> None:
    assert lab.startup_seconds < 3
    settings = Settings(**lab.overrides())
    assert settings.lab is True
    assert settings.resolver_address() == (lab.dns_address, lab.dns_port)
    assert settings.port(25) == 2525 and settings.port(443) == 4443 and settings.port(5222) == 5222
    assert settings.ca_bundle is not None and settings.ca_bundle.read_text().startswith("-----BEGIN CERTIFICATE")
    assert settings.trust_anchor.exists() and settings.geoip_db is not None and settings.geoip_db.exists()
    flags = lab.flags()
    assert f"--resolver {lab.dns_address}:{lab.dns_port}" in flags and "--port-map 25=2525," in flags


def test_catalog_providers_and_broken_ones_are_built(lab: Lab) -> None:
    for pid in ("proton", "posteo", "tuta", "nostarttls", "expiredcert", "offshore", "wrongname", "legacytls",
                "nullmx", "dnsfail"):
        assert pid in lab.world.providers, pid
    # as published for protonmail.com (providers.yaml `published`)
    assert lab.world.providers["proton"].mx == [("mail.protonmail.ch", 5), ("mailsec.protonmail.ch", 10)]
    assert lab.world.providers["proton"].country == "CH"


def test_addresses_are_stable_and_distinct() -> None:
    names = [f"host{i}.example" for i in range(300)]
    a, b = allocate_addresses(names, 77), allocate_addresses(list(reversed(names)), 77)
    assert a == b and len(set(a.values())) == 300
    assert all(ip.startswith("127.77.") and not ip.startswith("127.77.0.") for ip in a.values())


# --- DNS ----------------------------------------------------------------------------------------------------------


def test_dns_a_over_udp_and_tcp(lab: Lab) -> None:
    for tcp in (False, True):
        r = ask(lab, "mx01.posteo.de", "A", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.RA
        assert [rr.address for rr in r.answer[0]] == [lab.address("mx01.posteo.de")]


def test_dns_mx_by_preference(lab: Lab) -> None:
    r = ask(lab, "protonmail.com", "MX")
    mx = sorted((rr.preference, rr.exchange.to_text()) for rr in r.answer[0])
    assert mx == [(5, "mail.protonmail.ch."), (10, "mailsec.protonmail.ch.")]


def test_dns_nxdomain_vs_nodata(lab: Lab) -> None:
    nx = ask(lab, "no-such-host.posteo.de", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and not nx.answer
    assert nx.authority[0].rdtype == dns.rdatatype.SOA and nx.authority[0].name.to_text() == "posteo.de."
    nodata = ask(lab, "mx01.posteo.de", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    # A name outside every lab zone: NXDOMAIN from the lab root.
    outside = ask(lab, "www.google.invalid", "A")
    assert outside.rcode() == dns.rcode.NXDOMAIN and outside.authority[0].name == dns.name.root


def test_dns_truncation_then_tcp(lab: Lab) -> None:
    udp = ask(lab, "big.dnsfail.example", "TXT")
    assert udp.flags & dns.flags.TC
    tcp = ask(lab, "big.dnsfail.example", "TXT", tcp=True)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 8
    # A client announcing a big enough buffer gets it over UDP.
    assert not ask(lab, "big.dnsfail.example", "TXT", payload=4096).flags & dns.flags.TC


def test_dns_faults(lab: Lab) -> None:
    assert ask(lab, "dnsfail.example", "MX").rcode() == dns.rcode.SERVFAIL
    assert ask(lab, "dnsfail.example", "TXT").rcode() == dns.rcode.NOERROR  # only the MX query fails
    assert ask(lab, "refused.dnsfail.example", "A").rcode() == dns.rcode.REFUSED
    with pytest.raises(dns.exception.Timeout):
        ask(lab, "timeout.dnsfail.example", "A", timeout=0.5)


def test_dns_cname_is_followed(lab: Lab) -> None:
    r = ask(lab, "alias.dnsfail.example", "A")
    assert [rrset.rdtype for rrset in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_dns_null_mx(lab: Lab) -> None:
    r = ask(lab, "nullmx.example", "MX")
    assert [(rr.preference, rr.exchange.to_text()) for rr in r.answer[0]] == [(0, ".")]


def test_dns_ds_comes_from_the_parent_and_matches_the_child(lab: Lab) -> None:
    ds = ask(lab, "posteo.de", "DS", do=True)
    assert ds.rcode() == dns.rcode.NOERROR and ds.answer[0].rdtype == dns.rdatatype.DS
    sigs = [r for r in ds.answer if r.rdtype == dns.rdatatype.RRSIG]
    assert sigs and sigs[0][0].signer.to_text() == "de."  # signed by the parent
    keys = ask(lab, "posteo.de", "DNSKEY", do=True).answer[0]
    ksk = next(k for k in keys if k.flags & 1)
    assert dns.dnssec.make_ds("posteo.de.", ksk, "SHA256") == ds.answer[0][0]
    # An unsigned child: no DS, the parent's SOA (and NSEC proof) say so.
    no_ds = ask(lab, "hushmail.com", "DS", do=True)
    assert no_ds.rcode() == dns.rcode.NOERROR and not no_ds.answer
    assert no_ds.authority[0].name.to_text() == "com."


def test_dns_dnssec_records_only_with_do(lab: Lab) -> None:
    plain = ask(lab, "mx01.posteo.de", "A")
    assert all(r.rdtype != dns.rdatatype.RRSIG for r in plain.answer)
    signed = ask(lab, "mx01.posteo.de", "A", do=True)
    assert any(r.rdtype == dns.rdatatype.RRSIG for r in signed.answer)
    nx = ask(lab, "nope.posteo.de", "A", do=True)
    assert {dns.rdatatype.NSEC, dns.rdatatype.NSEC3} & {r.rdtype for r in nx.authority}
    # The answer validates against the zone's DNSKEY.
    keys = ask(lab, "posteo.de", "DNSKEY", do=True)
    dnskey = next(r for r in keys.answer if r.rdtype == dns.rdatatype.DNSKEY)
    a = next(r for r in signed.answer if r.rdtype == dns.rdatatype.A)
    sig = next(r for r in signed.answer if r.rdtype == dns.rdatatype.RRSIG)
    # dnspython gates `validate` on cryptography>=50 (the venv has 46): verify the ECDSA signature directly.
    rrsig = sig[0]
    key = next(k for k in dnskey if dns.dnssec.key_id(k) == rrsig.key_tag)
    data = dns.dnssec._make_rrsig_signature_data(a, rrsig, None)
    PublicECDSAP256SHA256.from_dnskey(key).verify(rrsig.signature, data)  # raises when it does not verify


def _verifies(lab: Lab, zone: str, name: str, rdtype: str) -> bool:
    keys = next(r for r in ask(lab, zone, "DNSKEY", do=True).answer if r.rdtype == dns.rdatatype.DNSKEY)
    answer = ask(lab, name, rdtype, do=True).answer
    rrset = next(r for r in answer if r.rdtype == dns.rdatatype.from_text(rdtype))
    rrsig = next(r for r in answer if r.rdtype == dns.rdatatype.RRSIG)[0]
    key = next((k for k in keys if dns.dnssec.key_id(k) == rrsig.key_tag), None)
    if key is None:
        return False
    data = dns.dnssec._make_rrsig_signature_data(rrset, rrsig, None)
    try:
        PublicECDSAP256SHA256.from_dnskey(key).verify(rrsig.signature, data)
    except Exception:
        return False
    return True


def test_dnssec_faults(lab: Lab) -> None:
    assert _verifies(lab, "posteo.de", "mx01.posteo.de", "A")
    assert not _verifies(lab, "dnssecbogus.example", "mx.dnssecbogus.example", "A")
    expired = next(r for r in ask(lab, "mx.dnssecexpired.example", "A", do=True).answer
                   if r.rdtype == dns.rdatatype.RRSIG)[0]
    assert expired.expiration < time.time()
    ds = ask(lab, "dsmismatch.example", "DS").answer[0][0]
    keys = ask(lab, "dsmismatch.example", "DNSKEY").answer[0]
    assert all(dns.dnssec.make_ds("dsmismatch.example.", k, "SHA256") != ds for k in keys)


def test_nsec3_denial(lab: Lab) -> None:
    nx = ask(lab, "nope.exemplary.example", "A", do=True)
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert dns.rdatatype.NSEC3 in {r.rdtype for r in nx.authority}


def test_dns_trust_anchor_matches_root_key(lab: Lab) -> None:
    root_keys = ask(lab, ".", "DNSKEY", do=True).answer[0]
    ksk = next(k for k in root_keys if k.flags & 1)
    ds = dns.dnssec.make_ds(".", ksk, "SHA256").to_text()
    assert ds.split()[-1].lower() in lab.trust_anchor.read_text().lower()


def test_dns_survives_garbage(lab: Lab) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"", b"\x00", b"\xff" * 11, b"\x12\x34" + b"\xff" * 40):
            s.sendto(junk, (lab.dns_address, lab.dns_port))
    with socket.create_connection((lab.dns_address, lab.dns_port), timeout=2) as t:
        t.sendall(b"\x00\x05hello")
    assert ask(lab, "mx01.posteo.de", "A").rcode() == dns.rcode.NOERROR


# --- SMTP ---------------------------------------------------------------------------------------------------------


def test_smtp_starttls_verifies_with_lab_ca(lab: Lab) -> None:
    with smtp_for(lab)("mx01.posteo.de", lab.port(25), timeout=5) as s:
        code, _ = s.ehlo("scanner.test")
        assert code == 250 and s.has_extn("starttls")
        assert s.sock is not None
        s.starttls(context=lab_ctx(lab))
        assert isinstance(s.sock, ssl.SSLSocket) and s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo("scanner.test")
        assert not s.has_extn("starttls")  # not offered twice


def test_smtp_delivers_into_the_mailbox(lab: Lab) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "auditor@lab.test", "dpo@exemplary.example", "audit changed"
    msg.set_content("Provider posteo: score changed.\n.leading dot\n")
    with smtp_for(lab)("mx1.exemplary.example", lab.port(25), timeout=5) as s:
        s.starttls(context=lab_ctx(lab))
        s.send_message(msg)
    got = [m for m in lab.mailbox if m.rcpt_to == ["dpo@exemplary.example"]]
    assert got and got[-1].tls and b"Subject: audit changed" in got[-1].data
    assert b"\n.leading dot" in got[-1].data


def test_smtp_without_starttls(lab: Lab) -> None:
    with smtp_for(lab)("mx.nostarttls.example", lab.port(25), timeout=5) as s:
        s.ehlo("scanner.test")
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS")[0] == 502


@pytest.mark.parametrize("host, reason", [
    ("mx.expiredcert.example", "expired"),
    ("mx.wrongname.example", "mismatch"),
    ("mx.selfsigned.example", "self.signed"),
    ("mx.untrusted.example", "unable to get local issuer"),
])
def test_smtp_certificate_faults_fail_verification(lab: Lab, host: str, reason: str) -> None:
    with smtp_for(lab)(host, lab.port(25), timeout=5) as s:
        s.ehlo("scanner.test")
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            s.starttls(context=lab_ctx(lab))


def test_smtp_legacy_tls_only(lab: Lab) -> None:
    modern = lab_ctx(lab, minimum_version=ssl.TLSVersion.TLSv1_3)
    with smtp_for(lab)("mx.legacytls.example", lab.port(25), timeout=5) as s:
        s.ehlo("scanner.test")
        with pytest.raises(ssl.SSLError):
            s.starttls(context=modern)
    old = lab_ctx(lab, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with smtp_for(lab)("mx.legacytls.example", lab.port(25), timeout=5) as s:
        s.ehlo("scanner.test")
        s.starttls(context=old)
        assert isinstance(s.sock, ssl.SSLSocket) and s.sock.version() == "TLSv1.1"


def test_sector_pki_is_outside_the_public_bundle(lab: Lab) -> None:
    host = "mx1.mssante.fr"
    if host not in lab.world.hosts:
        pytest.skip("no MSSanté provider in the catalog in use")
    with smtp_for(lab)(host, lab.port(25), timeout=5) as s, pytest.raises(ssl.SSLCertVerificationError):
        s.starttls(context=lab_ctx(lab))
    ctx = lab_ctx(lab)
    ctx.load_verify_locations(cafile=str(lab.private_ca_bundles["igc-sante"]))
    with smtp_for(lab)(host, lab.port(25), timeout=5) as s:
        s.starttls(context=ctx)  # trusted once the sector root is added


def test_smtp_weak_ciphers_and_keys(lab: Lab) -> None:
    with smtp_for(lab)("mx.weakcipher.example", lab.port(25), timeout=5) as s, pytest.raises(ssl.SSLError):
        s.starttls(context=lab_ctx(lab))  # a modern client offers ECDHE/AEAD suites only
    old = lab_ctx(lab)
    old.set_ciphers("AES128-SHA:AES256-SHA")
    with smtp_for(lab)("mx.weakcipher.example", lab.port(25), timeout=5) as s:
        s.starttls(context=old)
        assert isinstance(s.sock, ssl.SSLSocket)
        cipher = s.sock.cipher()
        assert cipher is not None and cipher[0] in ("AES128-SHA", "AES256-SHA") and s.sock.version() == "TLSv1.2"
    with smtp_for(lab)("mx.weakkey.example", lab.port(25), timeout=5) as s, pytest.raises(ssl.SSLError):
        s.starttls(context=lab_ctx(lab))  # a default client refuses a 1024-bit RSA key


def _served_spki_sha256(lab: Lab, host: str) -> bytes:
    ctx = lab_ctx(lab)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # DANE-EE does not need the WebPKI
    with smtp_for(lab)(host, lab.port(25), timeout=5) as s:
        s.starttls(context=ctx)
        assert isinstance(s.sock, ssl.SSLSocket)
        der = s.sock.getpeercert(binary_form=True)
    assert der is not None
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def test_dane_tlsa_matches_the_served_key(lab: Lab) -> None:
    tlsa = ask(lab, "_25._tcp.mail.protonmail.ch", "TLSA").answer[0][0]
    assert (tlsa.usage, tlsa.selector, tlsa.mtype) == (3, 1, 1)
    assert tlsa.cert == _served_spki_sha256(lab, "mail.protonmail.ch")
    wrong = ask(lab, "_25._tcp.mx.danemismatch.example", "TLSA").answer[0][0]
    assert wrong.cert != _served_spki_sha256(lab, "mx.danemismatch.example")
    # TLSA in an unsigned zone: present, but without RRSIG.
    insecure = ask(lab, "_25._tcp.mx.daneinsecure.example", "TLSA", do=True)
    assert insecure.answer and all(r.rdtype != dns.rdatatype.RRSIG for r in insecure.answer)


# --- HTTPS and HTTP -----------------------------------------------------------------------------------------------


def test_https_endpoint_with_hsts_and_security_txt(lab: Lab) -> None:
    r = https_get(lab, "webmail.exemplary.example")
    assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
    assert https_get(lab, "webmail.exemplary.example", "/.well-known/security.txt").text.startswith("Contact:")
    assert https_get(lab, "webmail.exemplary.example", "/nothing-here").status_code == 404
    assert "strict-transport-security" not in https_get(lab, "webmail.legacytls.example",
                                                        ctx=_legacy_client(lab)).headers


def _legacy_client(lab: Lab) -> ssl.SSLContext:
    ctx = lab_ctx(lab, minimum_version=ssl.TLSVersion.TLSv1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_https_tls13_client_refused_by_tls10_server(lab: Lab) -> None:
    ctx = lab_ctx(lab, minimum_version=ssl.TLSVersion.TLSv1_3)
    with pytest.raises(httpx.ConnectError):
        https_get(lab, "webmail.legacytls.example", ctx=ctx)


def test_https_certificate_is_chosen_by_sni(lab: Lab) -> None:
    ip = lab.address("webmail.exemplary.example")
    raw = socket.create_connection((ip, lab.port(443)), timeout=5)
    with lab_ctx(lab).wrap_socket(raw, server_hostname="webmail.exemplary.example") as tls:
        cert: Any = tls.getpeercert()
    assert ("DNS", "webmail.exemplary.example") in cert["subjectAltName"]


def test_mta_sts_policy(lab: Lab) -> None:
    txt = ask(lab, "_mta-sts.exemplary.example", "TXT").answer[0][0]
    assert b"".join(txt.strings).startswith(b"v=STSv1; id=")
    policy = https_get(lab, "mta-sts.exemplary.example", "/.well-known/mta-sts.txt").text
    assert "mode: enforce" in policy and "mx: mx1.exemplary.example" in policy
    assert ask(lab, "_smtp._tls.exemplary.example", "TXT").answer


def test_mta_sts_faults(lab: Lab) -> None:
    testing = https_get(lab, "mta-sts.ststesting.example", "/.well-known/mta-sts.txt").text
    assert "mode: testing" in testing
    mismatch = https_get(lab, "mta-sts.stsmismatch.example", "/.well-known/mta-sts.txt").text
    assert "mx: mx.old-provider.example" in mismatch and "mx.stsmismatch.example" not in mismatch
    assert ask(lab, "_mta-sts.stsgone.example", "TXT").answer
    assert https_get(lab, "mta-sts.stsgone.example", "/.well-known/mta-sts.txt").status_code == 404


def test_claim_pages_ok_changed_gone(lab: Lab) -> None:
    ok = https_get(lab, "www.exemplary.example", "/security/2fa")
    assert ok.status_code == 200 and "Two-factor authentication with TOTP" in ok.text
    ctx = _legacy_client(lab)
    changed = https_get(lab, "www.legacytls.example", "/2fa", ctx=ctx)
    assert changed.status_code == 200 and "Two-factor" not in changed.text
    assert https_get(lab, "www.legacytls.example", "/audit", ctx=ctx).status_code == 404


def test_every_catalog_claim_page_carries_its_evidence(lab: Lab) -> None:
    """Pages shared by several claims carry every phrase; overlay states `changed`/`gone` are the exceptions."""
    ctx = _legacy_client(lab)
    ctx.set_ciphers("DEFAULT:AES128-SHA:@SECLEVEL=0")
    checked = 0
    for path in lab.catalogs:
        for entry in read_catalog(path):
            states = lab.world.providers[entry.id].claims
            for claim in entry.claims:
                url, text = claim.get("evidence_url"), claim.get("evidence_text")
                if not url or not text:
                    continue
                parts = urlsplit(url)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                r = https_get(lab, str(parts.hostname), target, ctx=ctx)
                state = states.get(claim["name"], "ok")
                if state == "gone":
                    assert r.status_code == 404, url
                elif state == "ok":
                    assert r.status_code == 200 and text in r.text, (entry.id, claim["name"], url)
                checked += 1
    assert checked >= 5


def test_non_tls_app_port_fails_fast(lab: Lab) -> None:
    """Threema's chat port (5222 in the catalog) speaks its own protocol: a TLS client fails at once."""
    host = "g-00.0.threema.ch"
    if host not in lab.world.hosts:
        pytest.skip("the catalog in use has no Threema chat endpoint")
    assert 5222 in lab.world.hosts[host].raw_ports  # from the catalog's {host, port, tls: false} mapping
    t0 = time.monotonic()
    raw = socket.create_connection((lab.address(host), 5222), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        lab_ctx(lab).wrap_socket(raw, server_hostname=host)
    raw.close()
    assert time.monotonic() - t0 < 2


def test_plain_http_records_webhooks_and_redirects(lab: Lab) -> None:
    url = f"http://{lab.address('hooks.lab.example')}:{lab.port(80)}/notify"
    r = httpx.post(url, headers={"Host": "hooks.lab.example"}, json={"audit": "x"}, timeout=5)
    assert r.status_code == 200
    hook = [q for q in lab.requests if q.host == "hooks.lab.example" and q.path == "/notify"]
    assert hook and hook[-1].method == "POST" and hook[-1].body == b'{"audit":"x"}'
    ip = lab.address("webmail.exemplary.example")
    redirect = httpx.get(f"http://{ip}:{lab.port(80)}/inbox", headers={"Host": "webmail.exemplary.example"})
    assert redirect.status_code == 301 and redirect.headers["location"] == "https://webmail.exemplary.example/inbox"


# --- GeoIP --------------------------------------------------------------------------------------------------------


def test_geoip_database(lab: Lab) -> None:
    with maxminddb.open_database(str(lab.geoip_db)) as db:
        assert db.metadata().database_type == "GeoLite2-Country"
        proton: Any = db.get(lab.address("mail.protonmail.ch"))
        assert proton["country"]["iso_code"] == "CH" and proton["registered_country"]["iso_code"] == "CH"
        assert proton["country"]["names"]["en"] == "Switzerland"
        offshore: Any = db.get(lab.address("mx.offshore.example"))
        assert offshore["country"]["iso_code"] == "US" and offshore["autonomous_system_number"] == 64512
        posteo: Any = db.get(lab.address("mx01.posteo.de"))
        assert posteo["country"]["iso_code"] == "DE"
        assert db.get("127.1.2.3") is None


# --- lifecycle ----------------------------------------------------------------------------------------------------


def test_second_lab_coexists_and_stops_cleanly(lab: Lab, tmp_path: Any) -> None:
    threads_before = threading.active_count()
    other: Lab | None = None
    for net in random.sample([n for n in range(100, 250) if n != lab.net], 5):  # other test runs may hold some
        candidate = Lab(net=net, dns_port=lab.dns_port, workdir=tmp_path / f"other{net}")
        try:
            other = candidate.start()
            break
        except OSError:
            continue
    assert other is not None
    with other:
        assert other.address("mx01.posteo.de") != lab.address("mx01.posteo.de")
        r = ask(other, "mx01.posteo.de", "A")
        assert r.answer[0][0].address == other.address("mx01.posteo.de")
    time.sleep(0.05)
    assert threading.active_count() == threads_before
    # Every port it held is free again.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((other.dns_address, other.dns_port))
    with socket.socket() as s:
        s.bind((other.address("mx01.posteo.de"), other.port(25)))


def test_start_on_a_taken_network_fails_cleanly(lab: Lab, tmp_path: Any) -> None:
    threads_before = threading.active_count()
    clash = Lab(net=lab.net, dns_port=lab.dns_port, workdir=tmp_path / "clash")
    with pytest.raises(OSError):
        clash.start()
    assert not clash.running and threading.active_count() == threads_before
    assert ask(lab, "mx01.posteo.de", "A").rcode() == dns.rcode.NOERROR  # the first lab is untouched


def test_dns_protocol_edges(lab: Lab) -> None:
    q = dns.message.make_query("posteo.de", "A", use_edns=1)
    assert dns.query.udp(q, lab.dns_address, port=lab.dns_port, timeout=2).rcode() == dns.rcode.BADVERS
    no_edns = dns.message.make_query("posteo.de", "SOA", use_edns=False)
    r = dns.query.udp(no_edns, lab.dns_address, port=lab.dns_port, timeout=2)
    assert r.rcode() == dns.rcode.NOERROR and r.edns < 0
    anyq = ask(lab, "posteo.de", "ANY")
    assert {dns.rdatatype.SOA, dns.rdatatype.MX, dns.rdatatype.NS} <= {r.rdtype for r in anyq.answer}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a header and garbage: FORMERR, same id
        s.settimeout(2)
        s.sendto(b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff", (lab.dns_address, lab.dns_port))
        reply = dns.message.from_wire(s.recv(512))
    assert reply.id == 0xBEEF and reply.rcode() == dns.rcode.FORMERR


def test_http_rejects_garbage_and_keeps_serving(lab: Lab) -> None:
    ip = lab.address("hooks.lab.example")
    with socket.create_connection((ip, lab.port(80)), timeout=2) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    url = f"http://{ip}:{lab.port(80)}/again"
    assert httpx.get(url, headers={"Host": "hooks.lab.example"}, timeout=5).status_code == 200
