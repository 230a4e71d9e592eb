"""TLS-RPT vectors R1–R4 of research/standards.md (RFC 8460 §3)."""

from __future__ import annotations

import pytest

from auditor.policy._uri import uri_problem
from auditor.policy.tlsrpt import parse_tlsrpt_records


@pytest.mark.parametrize("record", [
    "v=TLSRPTv1;rua=mailto:reports@example.com",
    "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
    "v=TLSRPTv1; rua=mailto:reports@example.com; ",
    "v=TLSRPTv1;rua=MAILTO:tls%2Breports@example.com;ext=1",
])
def test_R1_valid_records(record):
    r = parse_tlsrpt_records([record])
    assert r.present and r.valid and len(r.rua) == 1, r.errors
    assert r.value() == {"present": True, "valid": True, "rua": r.rua}


def test_R2_rua_required():
    r = parse_tlsrpt_records(["v=TLSRPTv1"])
    assert r.present and not r.valid and any("rua" in e for e in r.errors)
    r = parse_tlsrpt_records(["v=TLSRPTv1; ext=x"])
    assert r.present and not r.valid


@pytest.mark.parametrize("uri", [
    "reports@example.com", "http://example.com/report", "mailto:", "mailto:nobody", "mailto:a@-bad-.com",
    "https://", "https:/example.com", "https://exa mple.com/", "mailto:a@example.com!10m", "ftp://x.example",
    "https://example.com:99999/", "https://[::1/", "mailto:rép@example.com", "mailto:a@b%zz",
])
def test_R2_invalid_uris(uri):
    r = parse_tlsrpt_records([f"v=TLSRPTv1; rua={uri}"])
    assert not r.valid and r.errors and r.rua == []


def test_R3_two_records_mean_no_tlsrpt():
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@y.example"])
    assert r.present and not r.valid and "exactly one" in r.errors[0]


def test_R3_unrelated_records_discarded():
    r = parse_tlsrpt_records(["v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.example"])
    assert r.valid


def test_R4_two_destinations():
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:a@x.example,mailto:b@y.example"])
    assert r.valid and r.rua == ["mailto:a@x.example", "mailto:b@y.example"]
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:a@x.example , https://r.example/tls"])
    assert r.valid and r.rua == ["mailto:a@x.example", "https://r.example/tls"]


def test_discovery_rules():
    assert not parse_tlsrpt_records(["rua=mailto:a@x.example; v=TLSRPTv1"]).present
    assert "case-sensitive" in parse_tlsrpt_records(["V=tlsrptv1; rua=mailto:a@x.example"]).errors[0]
    assert not parse_tlsrpt_records(["v=TLSRPTv10; rua=mailto:a@x.example"]).valid
    r = parse_tlsrpt_records(["v=TLSRPTv1 ; rua=mailto:a@x.example"])
    assert r.present and not r.valid
    assert not parse_tlsrpt_records(["v=TLSRPTv1;; rua=mailto:a@x.example"]).valid
    assert not parse_tlsrpt_records([]).present


def test_duplicate_rua_first_wins():
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example"])
    assert r.valid and r.rua == ["mailto:a@x.example"] and r.warnings


@pytest.mark.parametrize("hostile", [b"v=TLSRPTv1; rua=mailto:\xff@x", "v=TLSRPTv1; rua=" + "a" * 100_000,
                                     "v=TLSRPTv1;\x00rua=mailto:a@x.example", 12345])
def test_hostile_input_never_raises(hostile):
    r = parse_tlsrpt_records([hostile])
    assert not r.valid


def test_uri_problem_accepts_ip_literals_and_ports():
    assert uri_problem("https://[2001:db8::1]:8443/r") is None
    assert uri_problem("https://192.0.2.1/r") is None
    assert uri_problem("mailto:a@[192.0.2.1]") is None
    assert uri_problem("mailto:\"odd local\"@example.com") is not None  # space: not a URI character
    assert uri_problem(None) == "empty URI"  # type: ignore[arg-type]


def test_R3_strict_plus_loose_record_is_ambiguous():
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1 ; rua=mailto:b@x.example"])
    assert r.present and not r.valid and "without the ';'" in r.errors[0]
