"""DMARC (RFC 7489, noting the changes of RFC 9989): record selection, tags, the policy a receiver
applies, and the Organizational Domain from the public suffix list.

The policy reported follows RFC 7489 §6.6.3, which is what deployed receivers implement; RFC 9989
differences (missing `p` means `none`; `pct`, `rf`, `ri` removed; new `np`, `t`, `psd`) are exposed
alongside (`policy_rfc9989`) and as warnings, never silently mixed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from auditor.policy._common import (
    MAX_TXT_RECORD,
    MAX_TXT_RECORDS,
    add_message,
    as_text,
    ascii_lower,
    normalize_host,
    shorten,
)
from auditor.policy._uri import uri_problem

Policy = Literal["none", "quarantine", "reject"]
POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")
_VERSION = re.compile(r"v[ \t]*=[ \t]*DMARC1[ \t]*(?:;|\Z)")
_TAG = re.compile(r"([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)", re.DOTALL)
_SIZE = re.compile(r"(.*)!([0-9]+[kmgtKMGT]?)", re.DOTALL)
_KNOWN = ("v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "t", "psd")
_REMOVED_IN_9989 = ("pct", "rf", "ri")


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed DMARC record.

    `is_dmarc`: it begins with `v=DMARC1` (else receivers ignore it, RFC 7489 §6.3).
    `valid`: no syntax errors at all. `policy`: what a receiver applies per RFC 7489 §6.6.3 —
    `p`, or `none` when `p`/`sp` is invalid but a valid `rua` exists, or None (no DMARC processing).
    """

    record: str
    is_dmarc: bool
    valid: bool
    policy: Policy | None = None
    subdomain_policy: Policy | None = None  # sp, defaulting to the policy
    policy_rfc9989: Policy | None = None
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    pct: int | None = None  # as written; None when absent (RFC 7489 default 100)
    rua: list[str] = field(default_factory=list)
    ruf: list[str] = field(default_factory=list)
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    testing: bool = False  # t=y (RFC 9989)
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def value(self) -> dict[str, Any]:
        """The `dmarc` check value of CHECKS.md."""
        return {
            "record": self.record if self.is_dmarc else None,
            "policy": self.policy,
            "pct": (100 if self.pct is None else self.pct) if self.policy is not None else None,
        }


def _parse_uris(tag: str, value: str, errors: list[str]) -> list[str]:
    uris: list[str] = []
    for item in re.split(r"[ \t]*,[ \t]*", value.strip(" \t")):
        sized = _SIZE.fullmatch(item)
        uri = sized.group(1) if sized else item
        problem = uri_problem(uri)
        if problem:
            add_message(errors, f"{tag}: {problem} (RFC 7489 §6.4)")
        else:
            uris.append(uri)
    return uris


def _policy_tag(tags: dict[str, str], name: str, errors: list[str]) -> tuple[Policy | None, bool]:
    """(value, invalid): the tag's policy value if valid; invalid is True when present but bad."""
    if name not in tags:
        return None, False
    value = ascii_lower(tags[name])
    for policy in POLICIES:
        if value == policy:
            return policy, False
    add_message(errors, f"{name}={shorten(tags[name], 30)} is not none, quarantine or reject")
    return None, True


def parse_dmarc(record: str | bytes) -> DmarcRecord:
    """Parse one DMARC TXT record (RFC 7489 §6.3–§6.4). Never raises."""
    text = as_text(record)
    errors: list[str] = []
    warnings: list[str] = []
    if len(text) > MAX_TXT_RECORD:
        return DmarcRecord(record=text[:MAX_TXT_RECORD] + "…", is_dmarc=False, valid=False,
                           errors=[f"record of {len(text)} characters not parsed"])
    if not _VERSION.match(text):
        if re.search(r"v[ \t]*=[ \t]*DMARC1", text, re.IGNORECASE):
            why = ("'v=DMARC1' must be the first tag" if not text.lstrip().lower().startswith("v")
                   else "the version must be exactly 'DMARC1' at the very start")
        else:
            why = "it does not begin with 'v=DMARC1'"
        return DmarcRecord(record=text, is_dmarc=False, valid=False,
                           errors=[f"not a DMARC record: {why}; receivers ignore it (RFC 7489 §6.3)"])
    if not text.isascii():
        add_message(errors, "the record contains non-ASCII characters")

    tags: dict[str, str] = {}
    order: list[str] = []
    parts = text.split(";")
    for index, part in enumerate(parts):
        part = part.strip(" \t")
        if not part:
            if index not in (len(parts) - 1,):
                add_message(warnings, "empty tag (two ';' in a row)")
            continue
        match = _TAG.fullmatch(part)
        if match is None:
            add_message(errors, f"{shorten(part, 40)} is not tag=value (RFC 7489 §6.4)")
            continue
        name, value = ascii_lower(match.group(1)), match.group(2).strip(" \t")
        order.append(name)
        if name in tags:
            add_message(errors, f"tag {name!r} appears more than once; the first value is used")
            continue
        tags[name] = value
        if name not in _KNOWN:
            add_message(warnings, f"unknown tag {shorten(name, 30)} ignored (RFC 7489 §6.3)")
        elif name in _REMOVED_IN_9989:
            add_message(warnings, f"{name} is removed by RFC 9989; receivers following it ignore {name}=")

    p, p_invalid = _policy_tag(tags, "p", errors)
    if "p" not in tags:
        add_message(errors, "no p tag: RFC 7489 §6.3 requires it (RFC 9989 reads a missing p as p=none)")
        p_invalid = True
    elif order.count("p") and order[1:2] != ["p"]:
        add_message(warnings, "p is not the tag right after v; RFC 7489 §6.3 requires that order "
                              "(RFC 9989 does not)")
    if order.count("p") > 1:
        p_invalid = True
    sp, sp_invalid = _policy_tag(tags, "sp", errors)
    np, _np_invalid = _policy_tag(tags, "np", errors)

    pct: int | None = None
    if "pct" in tags:
        if re.fullmatch(r"[0-9]{1,3}", tags["pct"]) and int(tags["pct"]) <= 100:
            pct = int(tags["pct"])
            if pct < 100:
                add_message(warnings, f"pct={pct}: the policy applies to {pct}% of failing mail only")
        else:
            add_message(errors, f"pct={shorten(tags['pct'], 20)} is not an integer 0–100; "
                                "receivers use the default 100")

    rua = _parse_uris("rua", tags["rua"], errors) if "rua" in tags else []
    ruf = _parse_uris("ruf", tags["ruf"], errors) if "ruf" in tags else []

    alignment: dict[str, Literal["r", "s"]] = {"adkim": "r", "aspf": "r"}
    for name in ("adkim", "aspf"):
        if name in tags:
            value = ascii_lower(tags[name])
            if value == "s":
                alignment[name] = "s"
            elif value != "r":
                add_message(errors, f"{name}={shorten(tags[name], 20)} is not r or s; receivers use r")
    if "fo" in tags and not re.fullmatch(r"[01ds]([ \t]*:[ \t]*[01ds])*", ascii_lower(tags["fo"])):
        add_message(errors, f"fo={shorten(tags['fo'], 20)} is not a ':'-separated list of 0, 1, d, s")
    if "ri" in tags and not re.fullmatch(r"[0-9]{1,10}", tags["ri"]):
        add_message(errors, f"ri={shorten(tags['ri'], 20)} is not an integer")
    testing = False
    if "t" in tags:
        value = ascii_lower(tags["t"])
        if value == "y":
            testing = True
            add_message(warnings, "t=y: testing mode; RFC 9989 receivers apply the next weaker policy "
                                  "(reject as quarantine, quarantine as none)")
        elif value != "n":
            add_message(errors, f"t={shorten(tags['t'], 20)} is not y or n (RFC 9989)")
    if "psd" in tags and ascii_lower(tags["psd"]) not in ("y", "n", "u"):
        add_message(errors, f"psd={shorten(tags['psd'], 20)} is not y, n or u (RFC 9989)")

    # RFC 7489 §6.6.3 step 6: an invalid p or sp falls back to p=none only when rua can report it.
    policy: Policy | None = p
    if p_invalid or sp_invalid:
        if rua:
            policy = "none"
            add_message(warnings, "invalid p or sp with a valid rua: receivers act as p=none (RFC 7489 §6.6.3)")
        else:
            policy = None
            add_message(errors, "invalid p or sp and no valid rua: receivers apply no DMARC at all "
                                "(RFC 7489 §6.6.3)")
    if policy == "none":
        add_message(warnings, "p=none only monitors: failing mail is delivered as usual")
    subdomain_policy: Policy | None = None
    if policy is not None:
        subdomain_policy = "none" if (p_invalid or sp_invalid) else (sp or policy)
    policy_9989: Policy | None = p if p is not None else ("none" if "p" not in tags else policy)
    return DmarcRecord(
        record=text, is_dmarc=True, valid=not errors, policy=policy, subdomain_policy=subdomain_policy,
        policy_rfc9989=policy_9989, p=p, sp=sp, np=np, pct=pct, rua=rua, ruf=ruf,
        adkim=alignment["adkim"], aspf=alignment["aspf"], testing=testing, tags=tags,
        errors=errors, warnings=warnings,
    )


@dataclass(frozen=True)
class DmarcSelection:
    """RFC 7489 §6.6.3 steps 2–5: `record` is the one DMARC record, else None (`status` says why)."""

    record: str | None
    status: Literal["found", "none", "multiple"]
    errors: list[str] = field(default_factory=list)


def select_dmarc(txts: Sequence[str | bytes]) -> DmarcSelection:
    """Keep TXT records beginning `v=DMARC1`; none -> none (try the Organizational Domain next);
    several -> no DMARC at all."""
    if isinstance(txts, str | bytes):
        txts = [txts]
    items = [as_text(t) for t in list(txts)[:MAX_TXT_RECORDS]] if isinstance(txts, list | tuple) else []
    found = [t for t in items if _VERSION.match(t)]
    errors: list[str] = []
    for text in items:
        if text in found:
            continue
        if re.search(r"v[ \t]*=[ \t]*DMARC1", text, re.IGNORECASE):
            add_message(errors, f"record {shorten(text)} discarded: it does not begin exactly 'v=DMARC1'")
        elif ascii_lower(text).startswith("v=spf1"):
            add_message(errors, "an SPF record is published where the DMARC record belongs")
    if not found:
        return DmarcSelection(record=None, status="none", errors=errors)
    if len(found) > 1:
        add_message(errors, f"{len(found)} DMARC records; RFC 7489 §6.6.3 then applies no DMARC at all")
        return DmarcSelection(record=None, status="multiple", errors=errors)
    return DmarcSelection(record=found[0], status="found", errors=errors)


@lru_cache(maxsize=1)
def _psl() -> Any:
    # Imported lazily: loading the bundled list takes a moment and only DMARC and claims need it.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix (from the offline public suffix list shipped by the
    `publicsuffixlist` package) plus one label. A public suffix itself, or an unusable name, is
    returned as given (normalized). Never raises."""
    name = normalize_host(as_text(domain))
    if not name or len(name) > 253:
        return name
    try:
        org = _psl().privatesuffix(name)
    except Exception:  # the PSL library on hostile input: fall back to the name itself
        return name
    return org if isinstance(org, str) and org else name
