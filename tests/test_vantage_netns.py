"""The vantage point from a network namespace of its own (see tests/netns.py): an IPv4-only machine, one
where IPv6 works, one whose outbound port 25 is blocked. The lab and `auditor scan` both run inside it,
through the command line, as a DPO would run them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from netns import auditor_in, lab_in, namespace, skip_reason

from auditor.lab.world import LAB_CATALOG
from auditor.schema import validate_document

NET = 77
PREFIX = f"fd00:0:0:{NET}::/64"  # the lab's IPv6 prefix (auditor.lab.runner)


def scan(name: str, flags: list[str], tmp_path: Path, *only: str, extra: tuple[str, ...] = ()
         ) -> tuple[int, str, dict[str, Any] | None]:
    out = tmp_path / "audit.json"
    args = [*flags, "--providers", str(LAB_CATALOG), *(a for pid in only for a in ("--only", pid)),
            "--json", str(out), "--html", str(tmp_path / "audit.html"), "--db", str(tmp_path / "a.sqlite"),
            "--timeout", "3", *extra]
    result = auditor_in(name, "scan", *args)
    document = json.loads(out.read_text()) if out.exists() else None
    if document is not None:
        validate_document(document)
    return result.returncode, result.stderr, document


def checks(document: dict[str, Any], check: str) -> list[dict[str, Any]]:
    found = [c for p in document["providers"] for c in p["checks"] if c["id"] == check]
    assert found, check
    return found


@pytest.fixture(scope="module", autouse=True)
def _root_only() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


def test_dual_stack_mx_from_an_ipv4_only_namespace(tmp_path: Path) -> None:
    """IPv6 unreachable from here: the IPv6 address is "not tested from this vantage point", and the MX is
    judged on its IPv4 address, not turned into an error."""
    with namespace(unreachable6=PREFIX) as ns, lab_in(ns, net=NET, ipv6=True) as flags:
        code, stderr, document = scan(ns, flags, tmp_path, "dualstack")
    assert code == 0 and document is not None, stderr
    vantage = document["vantage"]
    assert vantage["ipv6"] is False and vantage["port25"] is True, vantage["evidence"]
    v6 = "fd00::77:0:"
    for check in ("smtp.starttls", "tls.protocols", "tls.ciphers", "tls.certificate"):
        [f] = checks(document, check)
        assert f["status"] in ("pass", "warn"), (check, f["summary"])  # judged, never an error for it
        assert "not tested from this vantage point (no IPv6 connectivity here)" in f["summary"]
        [(untested, why)] = f["evidence"]["address_plan"]["not_tested"].items()
        assert untested.startswith(v6) and "not tested from this vantage point" in why
    [protocols] = checks(document, "tls.protocols")
    assert protocols["status"] == "pass" and protocols["value"] == ["TLSv1.2", "TLSv1.3"]  # IPv4's, said so
    assert checks(document, "smtp.starttls")[0]["status"] == "pass"
    located = checks(document, "hosting.location")
    assert any(f["target"].startswith(v6) for f in located)  # located all the same: no connection needed


def test_dual_stack_mx_where_ipv6_works_is_worst_of_both(tmp_path: Path) -> None:
    with namespace(local6=PREFIX) as ns, lab_in(ns, net=NET, ipv6=True) as flags:
        code, stderr, document = scan(ns, flags, tmp_path, "dualstack")
    assert code == 0 and document is not None, stderr
    assert document["vantage"]["ipv6"] is True, document["vantage"]["evidence"]
    [protocols] = checks(document, "tls.protocols")
    assert protocols["status"] == "warn" and "TLSv1" in protocols["value"], protocols["summary"]
    assert len(protocols["evidence"]["addresses"]) == 2  # both addresses scanned; the IPv6 one accepts TLS 1.0
    [starttls] = checks(document, "smtp.starttls")
    assert starttls["status"] == "pass" and len(starttls["evidence"]["addresses"]) == 2


def test_port_25_blocked_stops_with_the_way_out_or_marks_smtp_not_testable(tmp_path: Path) -> None:
    reason = skip_reason(nft=True)
    if reason:
        pytest.skip(reason)
    with namespace(drop_tcp_port=2525) as ns, lab_in(ns, net=NET) as flags:
        code, stderr, document = scan(ns, flags, tmp_path, "exemplary")
        assert code == 3 and document is None
        assert len(stderr.splitlines()) == 1 and stderr.startswith("auditor: outbound TCP port 25 is blocked")
        assert "--smtp-untestable-ok" in stderr and "port 443 of the same domains answers" in stderr
        code, stderr, document = scan(ns, flags, tmp_path, "exemplary", extra=("--smtp-untestable-ok",))
    assert code == 0 and document is not None, stderr
    assert document["vantage"]["port25"] is False
    for check in ("smtp.starttls", "tls.protocols", "tls.ciphers", "tls.certificate"):
        for f in checks(document, check):
            if f["target"] and ":443" in f["target"]:
                continue  # the web endpoint is reachable: tested as usual
            assert f["status"] == "error" and "not testable from this vantage point" in f["summary"], f
    for f in checks(document, "dane"):
        assert f["status"] == "error", f  # TLSA published: the served chain could not be matched from here
    [sts] = checks(document, "mta_sts")
    assert sts["status"] == "pass"  # HTTPS works: the policy is still checked
    page = (tmp_path / "audit.html").read_text()  # French by default
    assert "port 25 sortant bloqué" in page and "Le port 25 sortant (SMTP) est bloqué ici" in page
    assert all(f["status"] != "fail" for f in document["providers"][0]["checks"]
               if f["id"] in ("smtp.starttls", "tls.protocols", "tls.ciphers", "tls.certificate", "dane"))
