"""Pure parts of the probes: MX ordering and special cases, certificate name matching, worst-of, TLS verdicts
when not every handshake could be made."""

import pytest

from auditor.findings import Status, worst
from auditor.net.certs import name_matches
from auditor.net.dns import Answer
from auditor.net.tls import TlsScan
from auditor.probes.mx import parse_mx, plan_from_answer
from auditor.probes.tls_checks import ciphers_finding, protocols_finding


def answer(records: list[str], rcode: str = "NOERROR", cnames: list[str] | None = None) -> Answer:
    return Answer("example.org", "MX", rcode, records, "example.org.", cnames or [])


def test_mx_ordered_by_preference_then_name() -> None:
    hosts = parse_mx(["20 b.example.org.", "10 z.example.org.", "10 a.example.org.", "garbage"])
    assert [(h.preference, h.host) for h in hosts] == [(10, "a.example.org"), (10, "z.example.org"),
                                                     (20, "b.example.org")]


def test_null_mx_fails_with_empty_value() -> None:
    plan = plan_from_answer("example.org", answer(["0 ."]))
    assert plan.finding.status == Status.FAIL and plan.finding.value == [] and plan.hosts == []


def test_no_mx_is_implicit_mx() -> None:
    plan = plan_from_answer("example.org", answer([]))
    assert plan.finding.status == Status.WARN and [h.host for h in plan.hosts] == ["example.org"]


def test_nxdomain_fails_and_scans_nothing() -> None:
    plan = plan_from_answer("example.org", answer([], rcode="NXDOMAIN"))
    assert plan.finding.status == Status.FAIL and plan.hosts == []


def test_ip_literal_flagged_and_not_scanned() -> None:
    plan = plan_from_answer("example.org", answer(["10 192.0.2.1.", "20 mx.example.org."]))
    assert plan.finding.status == Status.WARN
    assert [h.host for h in plan.hosts] == ["mx.example.org"]


def test_more_than_ten_mx_capped() -> None:
    plan = plan_from_answer("example.org", answer([f"{i} mx{i:02}.example.org." for i in range(12)]))
    assert len(plan.hosts) == 10 and plan.finding.evidence["capped"] is True


@pytest.mark.parametrize(("pattern", "host", "ok"), [
    ("mail.example.org", "MAIL.example.org.", True),
    ("*.example.org", "mail.example.org", True),
    ("*.example.org", "example.org", False),
    ("*.example.org", "a.b.example.org", False),
    ("*.org", "example.org", False),
    ("mail.example.org", "mail.example.org.evil", False),
])
def test_certificate_name_matching(pattern: str, host: str, ok: bool) -> None:
    assert name_matches(pattern, host) is ok


def test_worst_of() -> None:
    assert worst([Status.PASS, Status.ERROR]) == Status.ERROR
    assert worst([Status.ERROR, Status.FAIL]) == Status.FAIL
    assert worst([]) == Status.SKIP


def _scan(**kwargs: object) -> TlsScan:
    probes = {v: "refused: alert" for v in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")}
    base: dict[str, object] = {"protocols": ["TLSv1.2", "TLSv1.3"], "probes": probes,
                               "cipher_suites": {"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                                                 "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]}}
    return TlsScan("mx.example", "192.0.2.1", 25, True, **{**base, **kwargs})  # type: ignore[arg-type]


def test_a_pass_needs_every_suite_measured() -> None:
    assert ciphers_finding("d", "t", [_scan()]).status == Status.PASS
    half = _scan(command_errors={"TLSv1.2": "Connection to the server timed out"})
    f = ciphers_finding("d", "t", [half])
    assert f.status == Status.ERROR and "not all measured" in f.summary and "TLSv1.2" in f.summary
    # The versions stand: TLS 1.2 was accepted, the legacy versions refused by their probes.
    assert protocols_finding("d", "t", [half]).status == Status.PASS


def test_a_version_in_doubt_is_not_a_pass() -> None:
    doubt = _scan(probes={**_scan().probes, "TLSv1": "unknown: Connection to the server failed"},
                  command_errors={"TLSv1": "Connection to the server timed out"})
    f = protocols_finding("d", "t", [doubt])
    assert f.status == Status.ERROR and "TLSv1" in f.summary
    refused = _scan(command_errors={"TLSv1": "timed out"})  # its probe said refused: no doubt
    assert protocols_finding("d", "t", [refused]).status == Status.PASS


def test_a_found_weakness_stands_even_when_not_all_was_measured() -> None:
    weak = _scan(cipher_suites={"TLSv1.2": ["TLS_RSA_WITH_RC4_128_SHA"]}, command_errors={"TLSv1.2": "timed out"})
    assert ciphers_finding("d", "t", [weak]).status == Status.FAIL
