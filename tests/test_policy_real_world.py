"""Policy-parser cases found against other projects' test suites (issue: audits against real servers)."""

from __future__ import annotations

import pytest

from auditor.policy.mta_sts import parse_sts_records
from auditor.policy.spf import parse_spf
from auditor.policy.tlsrpt import parse_tlsrpt_records


# RFC 7208 §7.1: "The following macro letters are allowed only in "exp" text: c, r, t" (the explanation
# string fetched through exp=, not a domain-spec; the pyspf/openspf suite's exp-only-macro-char case
# `v=spf1 -all exp=%{r}.example.com` is a permerror).
@pytest.mark.parametrize("record", [
    "v=spf1 exists:%{c}.example.com -all",
    "v=spf1 include:%{r}.example.com -all",
    "v=spf1 a:%{t}.example.com -all",
    "v=spf1 -all exp=%{r}.example.com",
    "v=spf1 redirect=%{C}.example.com",
])
def test_spf_exp_only_macro_letters_outside_explanation_text(record: str) -> None:
    r = parse_spf(record)
    assert not r.valid and any("allowed only in explanation text" in e for e in r.errors), r.errors


def test_spf_other_macro_letters_stay_valid() -> None:
    r = parse_spf("v=spf1 exists:%{i}.%{l1r-}.%{d2} a:%{h} -all exp=explain.%{d}")
    assert r.valid, r.errors


# RFC 8461 §3.1 / RFC 8460 §3: records that do not begin "v=STSv1;" / "v=TLSRPTv1;" are discarded *before*
# counting; a look-alike beside the one good record changes nothing for senders.
@pytest.mark.parametrize("lookalike", ["v=STSv10; id=1", "v=STSv1.1; id=1", "v=stsv1; id=1", "id=a; v=STSv1"])
def test_mta_sts_lookalike_beside_a_good_record_is_discarded(lookalike: str) -> None:
    r = parse_sts_records(["v=STSv1; id=20260101", lookalike])
    assert r.published and r.valid and r.id == "20260101", r.errors
    assert any("discarded" in w for w in r.warnings)


def test_mta_sts_lookalike_alone_is_still_explained() -> None:
    r = parse_sts_records(["v=stsv1; id=1"])
    assert not r.published and not r.valid and any("case-sensitive" in e for e in r.errors)


@pytest.mark.parametrize("lookalike", ["v=TLSRPTv10; rua=mailto:a@example.com", "v=tlsrptv1; rua=mailto:a@example.com",
                                       "rua=mailto:a@example.com; v=TLSRPTv1"])
def test_tlsrpt_lookalike_beside_a_good_record_is_discarded(lookalike: str) -> None:
    r = parse_tlsrpt_records(["v=TLSRPTv1; rua=mailto:tls@example.com", lookalike])
    assert r.present and r.valid and r.rua == ["mailto:tls@example.com"], r.errors


# RFC 8461 §3.1 ABNF: sts-id = %s"id=" 1*32(ALPHA / DIGIT); sts-extension = sts-ext-name "=" sts-ext-value with
# sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). `id=x-y` is no sts-id, so it is an
# extension (named "id"), which senders ignore.
def test_mta_sts_second_id_that_is_an_extension() -> None:
    r = parse_sts_records(["v=STSv1; id=abc; id=x-y"])
    assert r.valid and r.id == "abc", r.errors
    r = parse_sts_records(["v=STSv1; id=x-y; id=abc"])
    assert r.valid and r.id == "abc", r.errors


def test_mta_sts_without_a_valid_id_is_invalid() -> None:
    r = parse_sts_records(["v=STSv1; id=x-y"])
    assert not r.valid and any("id" in e for e in r.errors), r.errors
