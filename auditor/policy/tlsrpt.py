"""SMTP TLS Reporting (RFC 8460 §3): the `_smtp._tls.<domain>` TXT record.

Grammar (RFC 8460 §3, `%s` strings are case-sensitive):
    tlsrpt-record = %s"v=TLSRPTv1" 1*(field-delim tlsrpt-field) [field-delim]
    field-delim   = *WSP ";" *WSP
    tlsrpt-rua    = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)   ; required
    tlsrpt-extension = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") "=" 1*(%x21-3A / %x3C / %x3E-7E)
Records not beginning `v=TLSRPTv1;` are discarded; if the number left is not one, there is no TLS-RPT.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.policy._common import MAX_TXT_RECORD, add_message, discover_records, shorten
from auditor.policy._uri import uri_problem

_VERSION = "v=TLSRPTv1"
_RFC = "RFC 8460 §3"
_DELIM = re.compile(r"[ \t]*;[ \t]*")
_EXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+")


@dataclass(frozen=True)
class TlsRptResult:
    """`present`: a record beginning `v=TLSRPTv1` exists; `valid`: exactly one and it parses, with at
    least one valid report URI; `rua`: the valid destinations, in record order."""

    present: bool
    valid: bool
    rua: list[str] = field(default_factory=list)
    record: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def value(self) -> dict[str, Any]:
        """The `tlsrpt` check value of CHECKS.md."""
        return {"present": self.present, "valid": self.valid, "rua": list(self.rua)}


def parse_tlsrpt_records(txts: Sequence[str | bytes]) -> TlsRptResult:
    """Apply RFC 8460 §3 to the TXT records at `_smtp._tls.<domain>` (each joined from its strings)."""
    errors: list[str] = []
    warnings: list[str] = []
    strict, loose = discover_records(txts, _VERSION, _RFC, errors, warnings)
    candidates = strict + loose
    if not candidates:
        return TlsRptResult(present=False, valid=False, errors=errors, warnings=warnings)
    if len(candidates) > 1:
        if len(strict) == 1:
            add_message(errors, f"one record begins 'v=TLSRPTv1;' and {len(loose)} more begin 'v=TLSRPTv1' "
                                "without the ';': senders that discard by that prefix see several records "
                                "and send no reports")
        else:
            add_message(errors, f"{len(candidates)} records begin with v=TLSRPTv1; {_RFC} requires exactly one, "
                                "so senders send no reports")
        return TlsRptResult(present=True, valid=False, errors=errors, warnings=warnings)
    record = candidates[0]
    if len(record) > MAX_TXT_RECORD:
        add_message(errors, f"the record is {len(record)} characters long; not parsed")
        return TlsRptResult(present=True, valid=False, errors=errors, warnings=warnings)
    if loose:
        add_message(errors, f"the record does not begin 'v=TLSRPTv1;'; senders following {_RFC} discard it")
    if not record.isascii():
        add_message(errors, "the record contains non-ASCII characters")

    rua: list[str] = []
    seen_rua = False
    rest = record[len(_VERSION):]
    if not _DELIM.match(rest):
        add_message(errors, f"expected ';' after v=TLSRPTv1, found {shorten(rest, 20)}")
    else:
        parts = _DELIM.split(rest)[1:]
        if parts and parts[-1] == "":
            parts.pop()  # the optional final field-delim
        for part in parts:
            if not part:
                add_message(errors, "empty field (two ';' in a row)")
            elif part.startswith("rua="):
                if seen_rua:
                    add_message(warnings, "second rua field ignored; the first is used")
                    continue
                seen_rua = True
                for uri in re.split(r"[ \t]*,[ \t]*", part[4:]):
                    problem = uri_problem(uri)
                    if problem:
                        add_message(errors, f"rua: {problem}")
                    else:
                        rua.append(uri)
            elif not _EXT.fullmatch(part):
                add_message(errors, f"field {shorten(part, 40)} is not name=value ({_RFC})")
    if not seen_rua:
        add_message(errors, f"the record has no rua field, which {_RFC} requires")
    return TlsRptResult(
        present=True, valid=not errors and bool(rua), rua=rua, record=record, errors=errors, warnings=warnings,
    )
