"""Helpers shared by the policy parsers: hostile-text handling and host-name syntax.

Everything here is pure and total: no function raises on any input.
"""

from __future__ import annotations

import re

# A DNS TXT RRset can carry at most 64 KiB on the wire; a single record longer than this is hostile
# or broken, and parsing it further would only burn CPU.
MAX_TXT_RECORD = 8192
# A resolver answer with more TXT records than this is not a mail-policy answer.
MAX_TXT_RECORDS = 1024  # a 64 KiB answer holds a few thousand tiny records: the one that matters must not be cut

_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def as_text(value: object) -> str:
    """A str for any TXT-ish input: bytes decode as UTF-8 with replacement (never raises).

    Non-ASCII survives as U+FFFD or as itself, so the ASCII-only grammars reject it later.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return ""


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only: DNS names compare case-insensitively for ASCII letters, nothing else
    (str.lower() would fold e.g. 'K' (Kelvin sign) to 'k' and make two different names equal)."""
    return text.translate(_ASCII_UPPER)


def shorten(text: str, limit: int = 80) -> str:
    """A printable excerpt of hostile text for an error sentence (repr escapes control characters)."""
    excerpt = text if len(text) <= limit else text[:limit] + "…"
    return repr(excerpt)


def is_domain(name: str) -> bool:
    """RFC 5321 §4.1.2 `Domain` (LDH labels, no trailing dot), with the RFC 1035 length limits."""
    if not name or len(name) > 253 or not name.isascii():
        return False
    return all(_LDH_LABEL.fullmatch(label) for label in name.split("."))


def normalize_host(name: str) -> str:
    """Case-folded (ASCII only) host name without trailing dots, for comparisons."""
    return ascii_lower(name.strip()).rstrip(".")


def add_message(messages: list[str], text: str, cap: int = 50) -> None:
    """Append, but never more than `cap` sentences: a 64 KiB file of garbage must not yield 60 000."""
    if len(messages) < cap:
        messages.append(text)
    elif len(messages) == cap:
        messages.append("further problems not listed")


def discover_records(
    txts: object, version: str, rfc: str, errors: list[str], warnings: list[str]
) -> tuple[list[str], list[str]]:
    """Record discovery shared by MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3): records not
    beginning `<version>;` are discarded.

    Returns (strict, loose): `strict` begin exactly `<version>;`; `loose` begin `<version>` followed by
    whitespace or nothing, which the ABNF (`*WSP ";"`) admits but the prose discards. Records that look
    like failed attempts (wrong case, leading space, version not first, `v=STSv12`) get a sentence saying
    why senders ignore them: an error when nothing else is left, a warning beside a record that counts
    (they are discarded before counting, so they change nothing for senders).
    """
    if isinstance(txts, str | bytes):
        txts = [txts]  # one record passed bare, not a list of its characters
    items: list[object] = []
    if isinstance(txts, list | tuple):
        items = list(txts[: MAX_TXT_RECORDS + 1])
    if len(items) > MAX_TXT_RECORDS:
        add_message(warnings, f"more than {MAX_TXT_RECORDS} TXT records; only the first {MAX_TXT_RECORDS} read")
        items = items[:MAX_TXT_RECORDS]
    strict: list[str] = []
    loose: list[str] = []
    discarded: list[str] = []
    low_version = ascii_lower(version)
    for raw in items:
        text = as_text(raw)
        if text.startswith(version + ";"):
            strict.append(text)
        elif re.match(re.escape(version) + r"(?:[ \t]|\Z)", text):
            loose.append(text)
        elif low_version in ascii_lower(text[:MAX_TXT_RECORD]):
            if ascii_lower(text).lstrip().startswith(low_version) and not text.lstrip().startswith(version):
                why = f"'{version}' is case-sensitive"
            elif text[:1] in (" ", "\t"):
                why = "it starts with whitespace"
            elif text.startswith(version):
                why = f"the version is {shorten(text.split(';')[0], 20)}, not {version.partition('=')[2]}"
            else:
                why = f"{version} must be the first field"
            add_message(discarded, f"record {shorten(text)} discarded: {why} ({rfc})")
    for message in discarded:
        add_message(warnings if strict or loose else errors, message)
    return strict, loose
