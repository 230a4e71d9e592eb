"""Calm under hostility: tarpits, silent TLS, stalling handshakes, 10 MB policies, 60 KB TXT answers, loops,
invalid UTF-8 and HTML/JS everywhere (auditor/lab/hostile.py). The whole scan ends within its budget, every
hostile provider gets a clear error or fail, nothing crashes, memory stays bounded, reports stay inert."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import ssl
import struct
import time
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.query
import pytest

from auditor.catalog import load_catalog
from auditor.findings import Audit, Finding, Status
from auditor.lab.hostile import FLOOD_BYTES, HOSTILE_IDS, STALL_BACKEND_OFFSET, XSS, XSS_ATTR, HostileLab
from auditor.net.tls import TlsScan, TlsScanner
from auditor.report import render_audit_html
from auditor.scan import run_scan
from auditor.schema import audit_document
from auditor.settings import load_settings

TIMEOUT, PROBE_DEADLINE, PROVIDER_DEADLINE = 2, 10, 30
BUDGET = PROVIDER_DEADLINE + 10  # the provider deadline, plus slack for a loaded 2-core machine
RSS_LIMIT_MB = 300  # peak RSS growth of the whole hostile scan (sslyze threads included)


@dataclass
class Run:
    lab: HostileLab
    audit: Audit
    seconds: float
    rss_growth_mb: float


@pytest.fixture(scope="module")
def run(hostile_lab: HostileLab) -> Run:
    """The hostile lab is the session's (tests/conftest.py), never on net 77 where the ordinary lab lives."""
    settings = load_settings({**hostile_lab.overrides(), "timeout": TIMEOUT, "probe_deadline": PROBE_DEADLINE,
                              "provider_deadline": PROVIDER_DEADLINE}, environ={})
    providers = list(load_catalog(hostile_lab.hostile_catalog).providers)
    assert sorted(p.id for p in providers) == sorted(HOSTILE_IDS)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    audit = asyncio.run(asyncio.wait_for(run_scan(providers, settings), BUDGET * 3))
    seconds = time.monotonic() - t0
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return Run(hostile_lab, audit, seconds, growth)


def findings(run: Run, pid: str, check: str | None = None) -> list[Finding]:
    [provider] = [p for p in run.audit.providers if p.id == pid]
    return [f for f in provider.checks if check is None or f.id == check]


def one(run: Run, pid: str, check: str, target: str | None = None) -> Finding:
    found = [f for f in findings(run, pid, check) if target is None or f.target == target]
    assert found, f"{pid}: no {check} finding for {target or 'any target'}"
    return found[0]


# --- the scan as a whole ---------------------------------------------------------------------------------
def test_whole_hostile_scan_ends_within_budget(run: Run) -> None:
    assert run.seconds < BUDGET, f"hostile scan took {run.seconds:.1f}s (budget {BUDGET}s)"
    assert run.audit.complete


def test_nothing_crashes_and_no_deadline_is_needed(run: Run) -> None:
    crashed = [(p.id, f.summary) for p in run.audit.providers for f in p.checks if f.id == "scan.probe"]
    assert not crashed, crashed
    # Every probe bounded itself: the provider deadline never had to cut one off.
    cut = [(p.id, f.summary) for p in run.audit.providers for f in p.checks if f.id == "scan.deadline"]
    assert not cut, cut


def test_every_hostile_provider_gets_a_clear_error_or_fail(run: Run) -> None:
    for pid in HOSTILE_IDS:
        bad = [f for f in findings(run, pid) if f.status in (Status.ERROR, Status.FAIL)]
        assert bad, f"{pid}: nothing flagged"
        assert all(f.summary.strip() for f in bad), f"{pid}: a finding without a summary"


def test_memory_stays_bounded(run: Run) -> None:
    assert run.rss_growth_mb < RSS_LIMIT_MB, f"peak RSS grew by {run.rss_growth_mb:.0f} MB"


# --- each hostile case -----------------------------------------------------------------------------------
def test_tarpit_is_a_timeout_error(run: Run) -> None:
    f = one(run, "tarpit", "smtp.starttls")
    assert f.status == Status.ERROR and "timeout" in f.summary
    assert all(c.status == Status.ERROR for c in findings(run, "tarpit", "tls.protocols"))


def test_silent_servers_are_errors(run: Run) -> None:
    f = one(run, "silent", "smtp.starttls")  # 220 to STARTTLS, then silence
    assert f.status == Status.ERROR and "timeout" in f.summary
    cert = one(run, "silent", "tls.certificate", "webmail.silent.example:443")  # TCP open, no ServerHello
    assert cert.status == Status.ERROR and "handshake" in cert.summary
    assert one(run, "silent", "https.hsts").status == Status.ERROR
    assert one(run, "silent", "claim.2fa").status == Status.ERROR


def test_stalled_cipher_enumeration_hits_the_probe_deadline(run: Run) -> None:
    f = one(run, "stall", "tls.protocols")
    assert f.status == Status.ERROR and "deadline" in f.summary


def test_a_scan_past_its_deadline_frees_its_slot_and_a_queued_scan_keeps_its_deadline(run: Run) -> None:
    """One TLS scan slot: the stalled scan holds it until its deadline, then its queued handshakes are skipped
    (not run for ~30 s of network timeouts); the scan queued behind it gets its whole deadline once it starts."""
    host, port = "api.stall.example", run.lab.port(443)
    ip = run.lab.address(host)
    scanner = TlsScanner(scans=1, connections=5)

    async def both() -> tuple[TlsScan, TlsScan, float]:
        t0 = time.monotonic()
        stalled = asyncio.ensure_future(scanner.scan(host, ip, port, starttls=False, timeout=1, deadline=2))
        await asyncio.sleep(0.2)  # the stalled scan takes the only slot first
        # The working server behind the stalling front: a whole scan takes well under a second here.
        good = await scanner.scan(host, ip, port + STALL_BACKEND_OFFSET, starttls=False, timeout=1, deadline=2)
        return await stalled, good, time.monotonic() - t0

    stalled, good, seconds = asyncio.run(both())
    assert stalled.error and "deadline" in stalled.error
    assert good.error is None and "TLSv1.3" in good.protocols, good.error
    assert seconds < 8, f"the queued scan finished after {seconds:.1f}s"


def test_huge_policy_is_cut_and_failed(run: Run) -> None:
    f = one(run, "hugepolicy", "mta_sts")
    assert f.status == Status.FAIL and "larger than" in f.summary
    assert len(json.dumps(f.evidence)) < 64 * 1024  # the evidence keeps a sample, not 10 MB


def test_big_txt_answers_arrive_over_tcp(run: Run) -> None:
    for check in ("spf", "dmarc", "mta_sts", "tlsrpt"):
        f = one(run, "bigtxt", check)
        assert f.status != Status.ERROR, f"{check}: the 60 KB answer was not received: {f.summary}"


def test_big_txt_rrset_keeps_the_policy_record(run: Run) -> None:
    assert one(run, "bigtxt", "spf").status == Status.PASS
    assert one(run, "bigtxt", "dmarc").status == Status.PASS


def test_loops_are_reported_not_followed(run: Run) -> None:
    spf = one(run, "loops", "spf")
    assert spf.status == Status.FAIL and "loop" in spf.summary
    assert one(run, "loops", "dmarc").status == Status.ERROR  # _dmarc CNAME to itself
    assert one(run, "loops", "mta_sts").status == Status.ERROR
    looped = one(run, "loops", "smtp.starttls", "mxloop.loops.example")
    assert looped.status == Status.ERROR and "address lookup" in looped.summary


def test_invalid_utf8_is_reported_not_crashed_on(run: Run) -> None:
    assert one(run, "badutf8", "spf").status == Status.FAIL
    assert one(run, "badutf8", "tlsrpt").status == Status.FAIL
    for f in findings(run, "badutf8", "tls.certificate"):
        assert f.status in (Status.ERROR, Status.FAIL), f.summary


def test_document_with_hostile_text_is_valid_json(run: Run) -> None:
    document = audit_document(run.audit)  # validated against the shipped schema
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates from undecodable bytes
    assert "badutf8.example" in text


def test_html_report_escapes_every_provider_string(run: Run) -> None:
    html = render_audit_html(run.audit, "en")
    assert "htmljs" in html
    for payload in (XSS, XSS_ATTR, "<script>", "<img src=x"):
        assert payload not in html, f"unescaped {payload!r} in the HTML report"


# --- the hostile servers themselves (fast, no scan) ------------------------------------------------------
def test_lab_servers_misbehave_as_designed(run: Run) -> None:
    lab = run.lab
    with socket.create_connection((lab.address("mx.tarpit.example"), lab.port(25)), timeout=3) as s:
        s.settimeout(2.5)
        got = b""
        deadline = time.monotonic() + 2.2
        while time.monotonic() < deadline and len(got) < 10:
            got += s.recv(100)
        assert 1 <= len(got) <= 4, got  # one byte a second
    with socket.create_connection((lab.address("webmail.silent.example"), lab.port(443)), timeout=3) as s:
        s.settimeout(1)
        s.sendall(b"\x16\x03\x01\x00\x05hello")
        with pytest.raises(TimeoutError):
            s.recv(100)
    ctx = ssl.create_default_context(cafile=str(lab.ca_bundle))
    host = "mta-sts.hugepolicy.example"
    with socket.create_connection((lab.address(host), lab.port(443)), timeout=3) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        size = 0
        while size < 2 * 1024 * 1024:
            chunk = s.recv(65536)
            assert chunk
            size += len(chunk)
        assert size < FLOOD_BYTES + 65536 * 2


def test_lab_big_txt_needs_tcp(run: Run) -> None:
    lab = run.lab
    query = dns.message.make_query("bigtxt.example", "TXT", use_edns=0, payload=1232)
    udp = dns.query.udp(query, lab.dns_address, port=lab.dns_port, timeout=3)
    assert udp.flags & dns.flags.TC
    tcp = dns.query.tcp(query, lab.dns_address, port=lab.dns_port, timeout=3)
    size = len(tcp.to_wire())
    assert 55_000 < size <= 65_535
    assert struct.pack("!H", size)  # fits a DNS-over-TCP length prefix
