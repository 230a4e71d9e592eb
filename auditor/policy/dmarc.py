"""DMARC (RFC 9989, which obsoletes RFC 7489): record selection, tags, the policy a receiver applies, and
the Organizational Domain (still from the public suffix list; RFC 9989's DNS tree walk is not implemented).

RFC 9989 (§4.7, §4.8, §4.10.1), as applied here:
- tag names are case-insensitive (the ABNF literal "v", RFC 5234 §2.3), so `V=DMARC1` is a DMARC record;
  the version value is case-sensitive (`%s"DMARC1"`, RFC 7405), so `v=dmarc1` is not;
- policy values (`none`, `quarantine`, `reject`) are ABNF literals too: `p=REJECT` is `reject`;
- `pct`, `rf` and `ri` are removed: read, warned about, and never applied (the value's `pct` is always null);
- `t=y` is test mode: the domain asks receivers to apply one level less than `p` (reject as quarantine,
  quarantine as none), so an enforcing `p` with `t=y` is not enforcement;
- a record without a valid `p`, or with an invalid `sp` or `np`, is read as `p=none` when it has a valid
  `rua`, else no DMARC applies; `np` is the policy for non-existent subdomains.
Where RFC 7489 readers differ (they require `p` right after `v`, and apply `pct`), a warning says so.
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
_VERSION = re.compile(r"[vV][ \t]*=[ \t]*DMARC1[ \t]*(?:;|\Z)")
_TAG = re.compile(r"([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)", re.DOTALL)
_SIZE = re.compile(r"(.*)!([0-9]+[kmgtKMGT]?)", re.DOTALL)
_KNOWN = ("v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "t", "psd")
_REMOVED_IN_9989 = ("pct", "rf", "ri")


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed DMARC record.

    `is_dmarc`: it begins with `v=DMARC1` (else receivers ignore it, RFC 9989 §4.7).
    `valid`: no syntax errors at all. `policy`: what a receiver applies per RFC 9989 §4.10.1 —
    `p`, or `none` when `p` is missing or invalid (or `sp`/`np` invalid) but a valid `rua` exists, or None
    (no DMARC processing). `testing` (t=y) lowers what is applied by one level; `policy` stays as published.
    """

    record: str
    is_dmarc: bool
    valid: bool
    policy: Policy | None = None
    subdomain_policy: Policy | None = None  # sp, defaulting to the policy
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    pct: int | None = None  # as written (removed by RFC 9989: never applied); None when absent
    rua: list[str] = field(default_factory=list)
    ruf: list[str] = field(default_factory=list)
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    testing: bool = False  # t=y (RFC 9989 §4.7): test mode, not enforcement
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def enforcing(self) -> bool:
        """Failing mail is quarantined or rejected: an enforcing policy, not in test mode."""
        return self.policy in ("quarantine", "reject") and not self.testing

    def value(self) -> dict[str, Any]:
        """The `dmarc` check value: `pct` stays in the contract but is always null (removed by RFC 9989;
        the record text keeps what was published)."""
        applies = self.policy is not None
        return {
            "record": self.record if self.is_dmarc else None,
            "policy": self.policy,
            "pct": None,
            "testing": self.testing if applies else None,
            "subdomain_policy": self.subdomain_policy,
            "np": (self.np or self.subdomain_policy) if applies else None,
        }


def _parse_uris(tag: str, value: str, errors: list[str]) -> list[str]:
    uris: list[str] = []
    for item in re.split(r"[ \t]*,[ \t]*", value.strip(" \t")):
        sized = _SIZE.fullmatch(item)
        uri = sized.group(1) if sized else item
        problem = uri_problem(uri)
        if problem:
            add_message(errors, f"{tag}: {problem} (RFC 9989 §4.8)")
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
    """Parse one DMARC TXT record (RFC 9989 §4.7–§4.8). Never raises."""
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
                           errors=[f"not a DMARC record: {why}; receivers ignore it (RFC 9989 §4.7)"])
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
            add_message(errors, f"{shorten(part, 40)} is not tag=value (RFC 9989 §4.8)")
            continue
        name, value = ascii_lower(match.group(1)), match.group(2).strip(" \t")
        order.append(name)
        if name in tags:
            add_message(errors, f"tag {name!r} appears more than once; the first value is used")
            continue
        tags[name] = value
        if name not in _KNOWN:
            add_message(warnings, f"unknown tag {shorten(name, 30)} ignored (RFC 9989 §4.7)")
        elif name in _REMOVED_IN_9989:
            add_message(warnings, f"{name} is removed by RFC 9989: receivers following it ignore {name}= "
                                  "(older RFC 7489 receivers may still apply it)")

    p, p_invalid = _policy_tag(tags, "p", errors)
    if "p" not in tags:
        add_message(warnings, "no p tag: RFC 9989 reads it as p=none when a valid rua is present "
                              "(RFC 7489 required p)")
        p_invalid = True
    elif order.count("p") and order[1:2] != ["p"]:
        add_message(warnings, "p is not the tag right after v: RFC 9989 allows it, RFC 7489 receivers "
                              "required that order")
    if order.count("p") > 1:
        p_invalid = True
    sp, sp_invalid = _policy_tag(tags, "sp", errors)
    np, np_invalid = _policy_tag(tags, "np", errors)

    pct: int | None = None
    if "pct" in tags:
        if re.fullmatch(r"[0-9]{1,3}", tags["pct"]) and int(tags["pct"]) <= 100:
            pct = int(tags["pct"])
            if pct < 100:
                add_message(warnings, f"pct={pct}: RFC 9989 receivers apply the policy to all failing mail; "
                                      f"older ones to {pct}% only")
        else:
            add_message(warnings, f"pct={shorten(tags['pct'], 20)} is not an integer 0–100 (and pct is removed "
                                  "by RFC 9989)")

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
        add_message(warnings, f"ri={shorten(tags['ri'], 20)} is not an integer (and ri is removed by RFC 9989)")
    testing = False
    if "t" in tags:
        value = ascii_lower(tags["t"])
        if value == "y":
            testing = True
            add_message(warnings, "t=y: test mode; RFC 9989 receivers apply the next weaker policy "
                                  "(reject as quarantine, quarantine as none)")
        elif value != "n":
            add_message(errors, f"t={shorten(tags['t'], 20)} is not y or n (RFC 9989)")
    if "psd" in tags and ascii_lower(tags["psd"]) not in ("y", "n", "u"):
        add_message(errors, f"psd={shorten(tags['psd'], 20)} is not y, n or u (RFC 9989)")

    # RFC 9989 §4.10.1: no valid p, or an invalid sp or np, falls back to p=none only when rua can report it.
    policy: Policy | None = p
    if p_invalid or sp_invalid or np_invalid:
        if rua:
            policy = "none"
            add_message(warnings, "no valid p, or an invalid sp or np, with a valid rua: receivers act as "
                                  "p=none (RFC 9989 §4.10.1)")
        else:
            policy = None
            add_message(errors, "no valid p, or an invalid sp or np, and no valid rua: receivers apply no DMARC "
                                "at all (RFC 9989 §4.10.1)")
    if policy == "none":
        add_message(warnings, "p=none only monitors: failing mail is delivered as usual")
    elif policy is not None and testing:
        add_message(warnings, "t=y with an enforcing p: test mode, not enforcement (RFC 9989 §4.7)")
    subdomain_policy: Policy | None = None
    if policy is not None:
        subdomain_policy = "none" if (p_invalid or sp_invalid or np_invalid) else (sp or policy)
    return DmarcRecord(
        record=text, is_dmarc=True, valid=not errors, policy=policy, subdomain_policy=subdomain_policy,
        p=p, sp=sp, np=np, pct=pct, rua=rua, ruf=ruf,
        adkim=alignment["adkim"], aspf=alignment["aspf"], testing=testing, tags=tags,
        errors=errors, warnings=warnings,
    )


@dataclass(frozen=True)
class DmarcSelection:
    """RFC 9989 §4.10 step 2: `record` is the one DMARC record, else None (`status` says why)."""

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
            add_message(errors, f"record {shorten(text)} discarded: it does not begin with 'v=DMARC1' "
                                "(the version value is case-sensitive)")
        elif ascii_lower(text).startswith("v=spf1"):
            add_message(errors, "an SPF record is published where the DMARC record belongs")
    if not found:
        return DmarcSelection(record=None, status="none", errors=errors)
    if len(found) > 1:
        add_message(errors, f"{len(found)} DMARC records; RFC 9989 §4.10 then applies no DMARC at all")
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
