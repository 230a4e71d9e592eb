"""MTA-STS (RFC 8461) to the letter: the `_mta-sts` TXT record, the policy file, MX pattern matching.

Pure functions over strings and bytes. Fetching (no redirects, HTTP 200 only, certificate checks) is
the probe's job; the probe hands the body and Content-Type here. Nothing here raises on any input.

Deliberate readings of the RFC, each tested (the ids name test vectors in tests/test_policy_mta_sts.py):
- The TXT record must begin with exactly `v=STSv1;` (§3.1 prose). The ABNF's `*WSP ";"` also admits
  `v=STSv1 ;`; that record is reported as an error because senders that follow the prose discard it
  (erratum 6285): a policy some senders never see is not a usable policy (M9).
- Policy lines end in LF or CRLF (ABNF `sts-policy-term`; the prose says CRLF, erratum 6253) (M10).
- Keys and enumerated values are case-sensitive (RFC 7405 `%s` strings) (M15).
- Unknown keys are ignored; a repeated non-`mx` key keeps its first value (§3.2) (M20, M21).
- A line starting with whitespace is not a key (ABNF `sts-policy-field`) (M22).
- Blank lines are outside the ABNF but harmless to every sender we know of: warning, not error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.policy._common import (
    MAX_TXT_RECORD,
    add_message,
    as_text,
    ascii_lower,
    discover_records,
    is_domain,
    normalize_host,
    shorten,
)

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.3 suggested maximum policy size
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: about one year
MODES = ("enforce", "testing", "none")
_MAX_MESSAGES = 50  # a 64 KiB file of garbage must not produce 60 000 error sentences

_VERSION = "v=STSv1"
_DELIM = re.compile(r"[ \t]*;[ \t]*")
_FIELD = re.compile(r"[^; \t]+")
_ID_VALUE = re.compile(r"[A-Za-z0-9]{1,32}")
_EXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_MAX_AGE_VALUE = re.compile(r"[0-9]{1,10}")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB (WSP)


def _add(messages: list[str], text: str) -> None:
    add_message(messages, text, _MAX_MESSAGES)


# ---------------------------------------------------------------------------------------------
# TXT record


@dataclass(frozen=True)
class StsRecordResult:
    """The outcome of MTA-STS discovery over the TXT strings found at `_mta-sts.<domain>`.

    `published`: some record begins with `v=STSv1` (the policy was meant to exist);
    `valid`: exactly one record and it is syntactically valid, so senders will fetch the policy.
    """

    published: bool
    valid: bool
    record: str | None = None
    id: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _parse_sts_fields(text: str, errors: list[str], warnings: list[str]) -> tuple[str | None, dict[str, str]]:
    """Parse what follows `v=STSv1` per `1*(sts-field-delim sts-field) [sts-field-delim]`."""
    sts_id: str | None = None
    extensions: dict[str, str] = {}
    pos = len(_VERSION)
    fields: list[str] = []
    while True:
        delim = _DELIM.match(text, pos)
        if delim is None:
            _add(errors, f"expected ';' at position {pos} of the record, found {shorten(text[pos:], 20)}")
            break
        pos = delim.end()
        if pos == len(text):
            break
        match = _FIELD.match(text, pos)
        if match is None:
            _add(errors, f"empty field at position {pos} of the record (two ';' in a row)")
            break
        fields.append(match.group())
        pos = match.end()
        if pos == len(text):
            break
    not_ids: list[str] = []
    for item in fields:
        if item.startswith("id=") and _ID_VALUE.fullmatch(item[3:]):
            value = item[3:]
            if sts_id is None:
                sts_id = value
            else:
                _add(warnings, f"second id {value!r} ignored; the first one, {sts_id!r}, is used")
        elif item.startswith("id=") and not _EXT.fullmatch(item):
            _add(errors, f"id {shorten(item[3:], 40)} is not 1 to 32 letters or digits (RFC 8461 §3.1)")
        elif _EXT.fullmatch(item):
            # `id=x-y` is no sts-id (1 to 32 letters or digits) but matches sts-extension: senders ignore it.
            name, _, value = item.partition("=")
            if name == "id":
                not_ids.append(value)
                _add(warnings, f"id {shorten(value, 40)} is not 1 to 32 letters or digits: read as an extension "
                               "and ignored (RFC 8461 §3.1)")
            extensions.setdefault(name, value)
        else:
            _add(errors, f"field {shorten(item, 40)} is not name=value (RFC 8461 §3.1 sts-extension)")
    if sts_id is None and not any(e.startswith("id ") for e in errors):
        why = f" (id {shorten(not_ids[0], 40)} is not 1 to 32 letters or digits)" if not_ids else ""
        _add(errors, f"the record has no valid id field, which RFC 8461 §3.1 requires{why}")
    return sts_id, extensions


def parse_sts_records(txts: Sequence[str | bytes]) -> StsRecordResult:
    """Apply RFC 8461 §3.1 to the TXT records at `_mta-sts.<domain>` (each already joined from its
    strings, without spaces): keep those beginning `v=STSv1;`, require exactly one, parse it."""
    errors: list[str] = []
    warnings: list[str] = []
    strict, loose = discover_records(txts, _VERSION, "RFC 8461 §3.1", errors, warnings)
    candidates = strict + loose
    if not candidates:
        return StsRecordResult(published=False, valid=False, errors=errors, warnings=warnings)
    if len(candidates) > 1:
        if len(strict) == 1:
            _add(errors, f"one record begins 'v=STSv1;' and {len(loose)} more begin 'v=STSv1' without the ';': "
                         "senders that discard by the prefix 'v=STSv1' see several records and ignore MTA-STS "
                         "(RFC 8461 §3.1, erratum 6285)")
        else:
            _add(errors, f"{len(candidates)} records begin with v=STSv1; RFC 8461 §3.1 requires exactly one, "
                         "so senders assume there is no MTA-STS policy")
        return StsRecordResult(published=True, valid=False, errors=errors, warnings=warnings)
    record = candidates[0]
    if len(record) > MAX_TXT_RECORD:
        _add(errors, f"the record is {len(record)} characters long; not parsed (limit {MAX_TXT_RECORD})")
        return StsRecordResult(published=True, valid=False, record=record[:MAX_TXT_RECORD] + "…",
                               errors=errors, warnings=warnings)
    if loose:
        if re.match(r"v=STSv1[ \t]+;", record):
            _add(errors, "the record begins 'v=STSv1 ;': the ABNF allows whitespace before ';' but RFC 8461 "
                         "§3.1 tells senders to discard records not beginning 'v=STSv1;' (erratum 6285), "
                         "so some senders ignore it")
        else:
            _add(errors, "the record does not begin 'v=STSv1;' (RFC 8461 §3.1)")
    if not record.isascii():
        _add(errors, "the record contains non-ASCII characters; RFC 8461 §3.1 requires US-ASCII")
    if any(ch != "\t" and (ord(ch) < 0x20 or ord(ch) == 0x7F) for ch in record):
        _add(errors, "the record contains control characters")
    sts_id, extensions = _parse_sts_fields(record, errors, warnings)
    return StsRecordResult(
        published=True, valid=not errors, record=record, id=sts_id, extensions=extensions,
        errors=errors, warnings=warnings,
    )


# ---------------------------------------------------------------------------------------------
# Policy file


@dataclass(frozen=True)
class StsPolicyResult:
    """A parsed policy. `mode`, `max_age` and `version` hold a value only when that value is valid."""

    valid: bool
    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_content_type(content_type: str | None) -> tuple[list[str], list[str]]:
    """RFC 8461 §3.2: the media type must be text/plain (case-insensitive); parameters other than
    charset are ignored. Returns (errors, warnings)."""
    if content_type is None or not content_type.strip():
        return ["no Content-Type: RFC 8461 §3.2 senders check that the policy is text/plain"], []
    text = as_text(content_type)[:1024]
    media, _, params = text.partition(";")
    media = ascii_lower(media.strip())
    if media != "text/plain":
        return [f"Content-Type {shorten(text, 60)} is not text/plain (RFC 8461 §3.2)"], []
    warnings: list[str] = []
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if ascii_lower(name.strip()) == "charset":
            charset = ascii_lower(value.strip().strip('"'))
            if charset not in ("utf-8", "us-ascii"):
                warnings.append(f"charset {shorten(charset, 30)}: policies are UTF-8 or US-ASCII (RFC 8461 §3.2)")
    return [], warnings


def _check_mx_pattern(pattern: str, errors: list[str], warnings: list[str]) -> None:
    name = pattern[2:] if pattern.startswith("*.") else pattern
    if name.endswith(".") and not name.endswith(".."):
        _add(warnings, f"mx pattern {shorten(pattern, 60)} ends with a dot; RFC 5321 domains do not "
                       "(senders usually strip it)")
        name = name[:-1]
    if "*" in name:
        _add(errors, f"mx pattern {shorten(pattern, 60)}: '*' is only allowed as the whole left-most "
                     "label ('*.example.com', RFC 8461 §4.1)")
    elif not name.isascii():
        _add(errors, f"mx pattern {shorten(pattern, 60)} is not an A-label; RFC 8461 §3.2 requires "
                     "Punycode for internationalized names")
    elif not is_domain(name):
        _add(errors, f"mx pattern {shorten(pattern, 60)} is not a valid domain name (RFC 5321 §4.1.2)")
    elif re.fullmatch(r"[0-9.]+", name):
        _add(warnings, f"mx pattern {shorten(pattern, 60)} looks like an IP address; patterns match MX "
                       "host names, never addresses")


def parse_policy(body: bytes | str, content_type: str | None) -> StsPolicyResult:
    """Parse an MTA-STS policy body (RFC 8461 §3.2) and check its Content-Type.

    The caller has already required HTTP 200 without redirects and a valid certificate (§3.3).
    """
    errors, warnings = check_content_type(content_type)
    if isinstance(body, str):
        body = body.encode("utf-8", errors="replace")
    elif not isinstance(body, bytes | bytearray | memoryview):
        return StsPolicyResult(valid=False, errors=[*errors, "no policy body"], warnings=warnings)
    raw = bytes(body)
    if len(raw) > MAX_POLICY_BYTES:
        _add(errors, f"the policy is {len(raw)} bytes, over the 64 KiB that senders may accept "
                     "(RFC 8461 §3.3); not parsed")
        return StsPolicyResult(valid=False, errors=errors, warnings=warnings)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _add(errors, "the policy is not valid UTF-8")
        text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        _add(errors, "the policy begins with a byte-order mark, so its first key is not 'version'")
        text = text[1:]

    values: dict[str, str] = {}
    mx: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the optional final sts-policy-term
    if not lines:
        _add(errors, "the policy is empty")
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if line.strip(" \t") == "":
            _add(warnings, f"line {number} is blank; the RFC 8461 grammar has no blank lines")
            continue
        if line[0] in " \t":
            _add(errors, f"line {number} begins with whitespace, so {shorten(line.strip(), 40)} is not a key "
                         "(RFC 8461 §3.2 grammar)")
            continue
        if _CTL.search(line):
            _add(errors, f"line {number} contains control characters")
            continue
        key, sep, value = line.partition(":")
        if not sep:
            _add(errors, f"line {number} {shorten(line, 40)} is not 'key: value'")
            continue
        if not _KEY.fullmatch(key):
            _add(errors, f"line {number}: {shorten(key, 40)} is not a valid key (no space before ':')")
            continue
        value = value.strip(" \t")
        if not value:
            _add(errors, f"line {number}: key {key!r} has an empty value")
            continue
        if key == "mx":
            mx.append(value)
        elif key in ("version", "mode", "max_age"):
            if key in values:
                _add(warnings, f"line {number}: repeated {key!r} ignored; the first value "
                               f"{shorten(values[key], 30)} is used (RFC 8461 §3.2)")
            else:
                values[key] = value
        elif ascii_lower(key) in ("version", "mode", "max_age", "mx"):
            _add(warnings, f"line {number}: unknown key {key!r} ignored; keys are case-sensitive "
                           f"(did you mean {ascii_lower(key)!r}?)")
        else:
            _add(warnings, f"line {number}: unknown key {shorten(key, 40)} ignored (RFC 8461 §3.2)")

    version = values.get("version")
    if version is None:
        _add(errors, "the policy has no 'version' (RFC 8461 §3.2 requires 'version: STSv1')")
    elif version != "STSv1":
        _add(errors, f"version {shorten(version, 30)} is not 'STSv1' (case-sensitive)")
        version = None

    mode = values.get("mode")
    if mode is None:
        _add(errors, "the policy has no 'mode' (RFC 8461 §3.2 requires enforce, testing or none)")
    elif mode not in MODES:
        hint = " (values are case-sensitive)" if ascii_lower(mode) in MODES else ""
        _add(errors, f"mode {shorten(mode, 30)} is not enforce, testing or none{hint}")
        mode = None

    max_age: int | None = None
    raw_age = values.get("max_age")
    if raw_age is None:
        _add(errors, "the policy has no 'max_age' (RFC 8461 §3.2)")
    elif not _MAX_AGE_VALUE.fullmatch(raw_age):
        _add(errors, f"max_age {shorten(raw_age, 30)} is not a non-negative integer of at most 10 digits")
    elif int(raw_age) > MAX_AGE_LIMIT:
        _add(errors, f"max_age {raw_age} exceeds the maximum of {MAX_AGE_LIMIT} seconds (RFC 8461 §3.2)")
    else:
        max_age = int(raw_age)

    for pattern in mx:
        _check_mx_pattern(pattern, errors, warnings)
    if not mx and mode != "none":
        _add(errors, "the policy has no 'mx' line; RFC 8461 §3.2 requires one unless mode is none")

    return StsPolicyResult(
        valid=not errors, version=version, mode=mode, max_age=max_age, mx=mx,
        errors=errors, warnings=warnings,
    )


# ---------------------------------------------------------------------------------------------
# MX matching


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: `*.example.com` matches exactly one extra left-most label; other patterns match
    the host exactly. Case-insensitive (ASCII), trailing dots ignored."""
    if not isinstance(pattern, str) or not isinstance(host, str):
        return False
    pat = normalize_host(pattern)
    name = normalize_host(host)
    if not pat or not name or not name.isascii():
        return False
    if pat.startswith("*."):
        suffix = pat[2:]
        if not suffix or "*" in suffix:
            return False
        first, dot, rest = name.partition(".")
        return bool(dot) and bool(first) and first != "*" and rest == suffix
    if "*" in pat:
        return False
    return pat == name


def uncovered_mx(patterns: Sequence[str], mx_hosts: Sequence[str]) -> list[str]:
    """The MX hosts that no pattern matches (for evidence)."""
    return [host for host in mx_hosts if not any(mx_matches(p, host) for p in patterns)]


def mx_covered(patterns: Sequence[str], mx_hosts: Sequence[str]) -> bool:
    """True when there is at least one MX host and every one matches some policy pattern: with
    `enforce`, senders refuse to deliver to an uncovered MX (RFC 8461 §5)."""
    hosts = [h for h in mx_hosts if isinstance(h, str) and normalize_host(h)]
    return bool(hosts) and not uncovered_mx(patterns, hosts)


def mta_sts_value(
    record: StsRecordResult,
    policy: StsPolicyResult | None,
    mx_hosts: Sequence[str] | None,
    fetch_errors: Sequence[str] = (),
) -> dict[str, Any]:
    """The `mta_sts` check value of CHECKS.md from the record, the policy (None when not fetched or the
    fetch failed: say why in `fetch_errors`) and the domain's MX hosts (None when unknown)."""
    valid = record.valid and policy is not None and policy.valid and not fetch_errors
    errors = [*record.errors, *fetch_errors, *(policy.errors if policy else [])]
    covered: bool | None = None
    if valid and policy is not None and mx_hosts is not None:
        covered = mx_covered(policy.mx, mx_hosts) if policy.mode != "none" else None
        if covered is False:
            missing = ", ".join(uncovered_mx(policy.mx, mx_hosts)) or "(no MX host)"
            errors.append(f"MX hosts not matched by any policy mx pattern: {missing}")
    return {
        "published": record.published,
        "mode": policy.mode if valid and policy else None,
        "valid": valid,
        "mx_covered": covered,
        "max_age": policy.max_age if policy else None,
        "errors": errors,
    }
