"""MTA-STS vectors M1–M23 of research/standards.md (parser level); M13/M18/M19/M24–M26 need the
network or the sender and belong to the probe's tests."""

from __future__ import annotations

import pytest

from auditor.policy.mta_sts import (
    mta_sts_value,
    mx_covered,
    mx_matches,
    parse_policy,
    parse_sts_records,
    uncovered_mx,
)

GOOD = b"version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400\n"
TP = "text/plain"


def policy(*lines: str, ct: str | None = TP):
    return parse_policy("\r\n".join(lines).encode() + b"\r\n", ct)


# --- TXT record ---------------------------------------------------------------------------------

def test_M1_rfc_example_is_valid():
    r = parse_sts_records(["v=STSv1; id=20160831085700Z;"])
    assert r.published and r.valid and r.id == "20160831085700Z" and r.errors == []


def test_M2_version_not_first_is_no_policy():
    r = parse_sts_records(["id=20180907T090909; v=STSv1;"])
    assert not r.published and not r.valid
    assert "first" in r.errors[0]


def test_M3_wrong_version_is_no_policy():
    r = parse_sts_records(["v=STSv12;id=20180907T090909"])
    assert not r.valid and not r.published
    assert "STSv12" in r.errors[0]


def test_M4_garbage_is_no_policy():
    r = parse_sts_records(["azazaza;asdasdasdasd"])
    assert not r.published and not r.valid and r.errors == []


def test_M5_two_records_is_no_policy():
    r = parse_sts_records(["v=STSv1; id=1;", "v=STSv1; id=2;"])
    assert r.published and not r.valid and "exactly one" in r.errors[0]


def test_M6_unrelated_records_are_discarded():
    r = parse_sts_records(["v=spf1 -all", "v=STSv1; id=abc123;"])
    assert r.valid and r.id == "abc123"


@pytest.mark.parametrize("record", ["v=STSv1; id=abc-123", "v=STSv1; id=" + "a" * 33, "v=STSv1; id="])
def test_M7_id_syntax(record):
    r = parse_sts_records([record])
    assert r.published and not r.valid and r.id is None
    assert any("1 to 32 letters or digits" in e for e in r.errors)


def test_M7_id_of_32_chars_is_valid():
    assert parse_sts_records(["v=STSv1;id=" + "A1" * 16]).valid


def test_M8_joined_strings():
    r = parse_sts_records(["v=STSv1; id=2018" + "0907;"])
    assert r.valid and r.id == "20180907"


def test_M9_whitespace_before_semicolon_is_flagged_as_ambiguous():
    r = parse_sts_records(["v=STSv1 ; id=1"])
    assert r.published and not r.valid
    assert any("6285" in e for e in r.errors)


def test_record_missing_id_and_extensions():
    assert not parse_sts_records(["v=STSv1;"]).valid
    r = parse_sts_records(["v=STSv1; id=1; ext_1=some-value;"])
    assert r.valid and r.extensions == {"ext_1": "some-value"}
    assert not parse_sts_records(["v=STSv1; id=1; bad field"]).valid
    assert not parse_sts_records(["v=STSv1;; id=1"]).valid
    assert not parse_sts_records(["v=STSv1; id=1 trailing"]).valid
    assert parse_sts_records(["v=STSv1;\tid=1 ;\t"]).valid


def test_record_case_and_whitespace_notes():
    assert "case-sensitive" in parse_sts_records(["V=stsv1; id=1"]).errors[0]
    assert "whitespace" in parse_sts_records([" v=STSv1; id=1"]).errors[0]


def test_record_accepts_bytes_and_a_bare_string():
    assert parse_sts_records([b"v=STSv1; id=1"]).valid
    assert parse_sts_records("v=STSv1; id=1").valid  # a str is a Sequence: must not be read per character


@pytest.mark.parametrize("hostile", [
    "v=STSv1; id=1\x00", "v=STSv1; id=1; é=x", b"v=STSv1; id=\xff\xfe", "v=STSv1; " + "x=y;" * 10_000,
])
def test_record_hostile_input_never_raises(hostile):
    r = parse_sts_records([hostile])
    assert not r.valid and r.errors


def test_record_empty_and_many():
    assert parse_sts_records([]) == parse_sts_records([])
    r = parse_sts_records(["junk"] * 2000 + ["v=STSv1; id=1"])
    assert not r.published  # beyond the cap: not read
    assert r.warnings


# --- policy -------------------------------------------------------------------------------------

def test_M10_lf_only_policy_is_valid():
    r = parse_policy(GOOD, TP)
    assert r.valid and r.mode == "enforce" and r.max_age == 86400 and r.mx == ["mail.loc"], r.errors


def test_M10_crlf_and_no_final_newline():
    assert parse_policy(GOOD.replace(b"\n", b"\r\n"), TP).valid
    assert parse_policy(GOOD.rstrip(b"\n"), TP).valid


@pytest.mark.parametrize("ct", ["text/html", "application/json+text/plain", "", None, "text/plain-ish"])
def test_M11_M12_wrong_media_type_is_invalid(ct):
    r = parse_policy(GOOD, ct)
    assert not r.valid and r.mode == "enforce"  # the body is still read, for the report


@pytest.mark.parametrize("ct", ["text/plain; charset=UTF-8", "TEXT/PLAIN", "text/plain;format=flowed"])
def test_M12_text_plain_variants_accepted(ct):
    r = parse_policy(GOOD, ct)
    assert r.valid and r.warnings == []


def test_M12_odd_charset_warns():
    r = parse_policy(GOOD, "text/plain; charset=iso-8859-1")
    assert r.valid and "charset" in r.warnings[0]


@pytest.mark.parametrize("age", ["31557601", "xxx", "-1", "86400.5", "+86400", "1e5", "12345678901"])
def test_M14_bad_max_age(age):
    r = policy("version: STSv1", "mode: enforce", "mx: a.example", f"max_age: {age}")
    assert not r.valid and r.max_age is None


@pytest.mark.parametrize("age", ["0", "31557600", "0086400"])
def test_M14_max_age_boundaries(age):
    r = policy("version: STSv1", "mode: enforce", "mx: a.example", f"max_age: {age}")
    assert r.valid and r.max_age == int(age)


@pytest.mark.parametrize("mode_line", [None, "mode: doubt", "mode: Enforce", "Mode: enforce"])
def test_M15_mode_required_and_case_sensitive(mode_line):
    lines = ["version: STSv1", "mx: a.example", "max_age: 60"] + ([mode_line] if mode_line else [])
    r = policy(*lines)
    assert not r.valid and r.mode is None


def test_M16_mx_required_unless_none():
    assert not policy("version: STSv1", "mode: enforce", "max_age: 60").valid
    assert not policy("version: STSv1", "mode: testing", "max_age: 60").valid
    r = policy("version: STSv1", "mode: none", "max_age: 60")
    assert r.valid and r.mx == []


def test_M17_garbage_body():
    r = parse_policy(b"garbage", TP)
    assert not r.valid and len(r.errors) >= 3


def test_M18_oversized_body_is_refused():
    big = GOOD + b"# " + b"x" * (64 * 1024)
    r = parse_policy(big, TP)
    assert not r.valid and "64 KiB" in r.errors[0]


def test_M20_duplicate_key_first_wins():
    r = policy("version: STSv1", "mode: enforce", "mode: testing", "mx: a.example", "max_age: 60")
    assert r.valid and r.mode == "enforce" and "first value" in r.warnings[0]


def test_M21_unknown_key_ignored():
    r = policy("version: STSv1", "mode: testing", "foo: bar", "mx: a.example", "max_age: 60")
    assert r.valid and r.mode == "testing" and "unknown key" in r.warnings[0]


def test_M22_leading_whitespace_is_invalid_key():
    r = policy("version: STSv1", " mode: enforce", "mx: a.example", "max_age: 60")
    assert not r.valid and any("begins with whitespace" in e for e in r.errors)


def test_policy_version_and_key_syntax():
    assert not policy("version: STSv2", "mode: none", "max_age: 60").valid
    assert not policy("version: stsv1", "mode: none", "max_age: 60").valid
    assert not policy("mode: none", "max_age: 60").valid
    assert not policy("version : STSv1", "mode: none", "max_age: 60").valid
    assert not policy("version: STSv1", "mode: none", "max_age:").valid
    # No whitespace after ':' and trailing whitespace are both inside the grammar.
    assert policy("version:STSv1", "mode: none\t ", "max_age: 60").valid


def test_policy_mx_patterns():
    r = policy("version: STSv1", "mode: enforce", "max_age: 60",
               "mx: mail.example.com", "mx: *.example.net", "mx: backupmx.example.com")
    assert r.valid and r.mx == ["mail.example.com", "*.example.net", "backupmx.example.com"]
    for bad in ["mail.*.example", "*example.com", "**.example.com", "mäil.example", "-a.example", "a..b", "*."]:
        assert not policy("version: STSv1", "mode: enforce", "max_age: 60", f"mx: {bad}").valid, bad
    dotted = policy("version: STSv1", "mode: enforce", "max_age: 60", "mx: mail.example.com.")
    assert dotted.valid and dotted.warnings
    ip = policy("version: STSv1", "mode: enforce", "max_age: 60", "mx: 192.0.2.1")
    assert ip.valid and "IP address" in ip.warnings[0]


def test_policy_blank_lines_warn_only():
    r = parse_policy(b"version: STSv1\n\nmode: none\nmax_age: 60\n\n", TP)
    assert r.valid and len(r.warnings) == 2


@pytest.mark.parametrize("body", [
    b"\xff\xfe\x00v\x00e", b"<html><body>version: STSv1</body></html>", b"\x00" * 1000,
    b"version: STSv1\rmode: none\rmax_age: 60", b"\xef\xbb\xbfversion: STSv1\nmode: none\nmax_age: 60\n",
    b"k: v\n" * 13_000, b"",
])
def test_policy_hostile_bodies_never_raise(body):
    r = parse_policy(body, TP)
    assert not r.valid and r.errors and len(r.errors) <= 51


def test_policy_accepts_str_body_and_rejects_none():
    assert parse_policy(GOOD.decode(), TP).valid
    assert not parse_policy(None, TP).valid  # type: ignore[arg-type]


# --- MX matching --------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "expected"), [
    ("mail.example.com", True), ("MAIL.Example.COM.", True), ("example.com", False),
    ("foo.bar.example.com", False), ("bad-example.com", False), ("mailexample.com", False),
    (".example.com", False), ("", False),
])
def test_M23_wildcard_matches_one_label(host, expected):
    assert mx_matches("*.example.com", host) is expected


def test_mx_exact_and_degenerate_patterns():
    assert mx_matches("mail.example.com.", "Mail.example.com")
    assert not mx_matches("mail.example.com", "mail.example.co")
    assert not mx_matches("*", "com") and not mx_matches("m*.example.com", "mx.example.com")
    assert not mx_matches("*.*.example.com", "a.b.example.com")
    assert not mx_matches(None, "a")  # type: ignore[arg-type]


def test_mx_covered():
    assert mx_covered(["*.example.com"], ["mx1.example.com", "mx2.example.com."])
    assert not mx_covered(["*.example.com"], ["mx1.example.com", "mx.other.net"])
    assert not mx_covered(["*.example.com"], [])
    assert uncovered_mx(["mx1.example.com"], ["mx1.example.com", "mx2.example.com"]) == ["mx2.example.com"]


def test_mta_sts_value_contract():
    rec = parse_sts_records(["v=STSv1; id=1"])
    pol = parse_policy(GOOD, TP)
    v = mta_sts_value(rec, pol, ["mail.loc"])
    assert v == {"published": True, "mode": "enforce", "valid": True, "mx_covered": True,
                 "max_age": 86400, "errors": []}
    v = mta_sts_value(rec, pol, ["other.loc"])
    assert v["mx_covered"] is False and v["errors"]
    v = mta_sts_value(rec, None, ["mail.loc"], ["HTTP 404"])
    assert v["valid"] is False and v["mode"] is None and v["errors"] == ["HTTP 404"]
    v = mta_sts_value(parse_sts_records([]), None, None)
    assert v["published"] is False and v["valid"] is False


def test_M9_version_then_newline_is_not_a_record():
    r = parse_sts_records(["v=STSv1\n; id=1"])
    assert not r.published and r.errors


def test_M5_M9_strict_plus_loose_record_is_ambiguous():
    r = parse_sts_records(["v=STSv1; id=1", "v=STSv1"])
    assert r.published and not r.valid and "without the ';'" in r.errors[0]
