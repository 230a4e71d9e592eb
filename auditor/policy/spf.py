"""SPF (RFC 7208): record selection, term syntax, and the DNS lookup budget of a whole policy tree.

The parser and selector are pure. `spf_tree` walks includes and redirects through injected async
lookup callables (the probe passes ones backed by `net.dns`; tests pass dict-backed ones), so this
module never touches the network itself. It audits the record, it does not evaluate it for a client
IP: every reachable DNS-querying term is counted, as a receiver meeting the worst case would.

Lookup callables return the answer, or None for NXDOMAIN/NODATA (a "void lookup", §4.6.4); they raise
`LookupError` (e.g. `auditor.policy.DnsLookupFailed`) for a resolver failure, which becomes a
temperror and is never read as "no record".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
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

LOOKUP_LIMIT = 10  # §4.6.4: include, a, mx, ptr, exists and redirect
VOID_LIMIT = 2  # §4.6.4: SHOULD limit void lookups to two
MX_NAMES_LIMIT = 10  # §4.6.4: an "mx" evaluation may query at most 10 address records
MAX_TERMS = 200  # a 450-byte TXT string has room for ~200 terms; more is hostile
MAX_QUERIES = 60  # hard cap on DNS queries one tree may cost us, loops and fan-out included
MAX_DEPTH = 12  # include/redirect nesting; the lookup limit makes deeper trees permerror anyway

Qualifier = Literal["+", "-", "~", "?"]
DNS_MECHANISMS = ("include", "a", "mx", "ptr", "exists")
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.DOTALL)
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9._-]*)(.*)", re.DOTALL)
_MACRO_EXPAND = re.compile(r"%\{[slodiphcrtvSLODIPHCRTV][0-9]*[rR]?[.\-+,/_=]*\}|%%|%_|%-")
_EXP_ONLY = "crt"  # §7.1: these macro letters are allowed only in "exp" text, never in a domain-spec
_MACRO_LITERAL = re.compile(r"[\x21-\x24\x26-\x7e]")
_TOPLABEL = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]")
_DUAL_CIDR = re.compile(r"(?P<spec>.*?)(?P<c4>/(?:0|[1-9][0-9]?))?(?P<c6>//(?:0|[1-9][0-9]{0,2}))?", re.DOTALL)
_VERSION = re.compile(r"v=spf1(?: |\Z)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# One record


@dataclass(frozen=True)
class SpfTerm:
    """One directive or modifier. `name` is lower-case; `value` is the domain-spec or network."""

    text: str
    kind: Literal["mechanism", "modifier"]
    name: str
    qualifier: Qualifier | None = None  # mechanisms only; "+" when omitted
    value: str | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    has_macro: bool = False

    @property
    def queries_dns(self) -> bool:
        """Counts toward the limit of 10 (§4.6.4)."""
        return self.name in DNS_MECHANISMS if self.kind == "mechanism" else self.name == "redirect"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"term": self.text, "kind": self.kind, "name": self.name}
        if self.qualifier is not None:
            out["qualifier"] = self.qualifier
        for key in ("value", "cidr4", "cidr6"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.has_macro:
            out["macro"] = True
        return out


@dataclass(frozen=True)
class SpfRecord:
    """A parsed `v=spf1` record. `valid` is False when a syntax error makes it a permerror (§4.6)."""

    record: str
    valid: bool
    terms: list[SpfTerm] = field(default_factory=list)
    all: str | None = None  # e.g. "-all": the first `all` mechanism with its qualifier
    redirect: str | None = None  # in effect only when there is no `all` (§6.1)
    exp: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def reachable_terms(self) -> list[SpfTerm]:
        """Mechanisms up to and including the first `all` (later ones are never evaluated), then the
        redirect modifier when it is in effect."""
        out: list[SpfTerm] = []
        for term in self.terms:
            if term.kind == "mechanism":
                out.append(term)
                if term.name == "all":
                    break
        if self.all is None:
            out.extend(t for t in self.terms if t.kind == "modifier" and t.name == "redirect")
        return out

    @property
    def lookups(self) -> int:
        """DNS-querying terms in this record alone (children not included)."""
        return sum(1 for t in self.reachable_terms if t.queries_dns)


def _domain_spec_problem(spec: str) -> str | None:
    """None when `spec` matches `domain-spec = macro-string domain-end` (§7.1), else why not."""
    if not spec:
        return "empty domain"
    pos = 0
    last_was_macro = False
    while pos < len(spec):
        macro = _MACRO_EXPAND.match(spec, pos)
        if macro:
            letter = macro.group()[2:3]
            if letter.lower() in _EXP_ONLY:
                return f"macro {macro.group()} is allowed only in explanation text (RFC 7208 §7.1)"
            pos = macro.end()
            last_was_macro = True
            continue
        if spec[pos] == "%":
            return f"invalid macro at {shorten(spec[pos:pos + 6], 10)}"
        if not _MACRO_LITERAL.match(spec, pos):
            return f"character {shorten(spec[pos], 6)} not allowed"
        pos += 1
        last_was_macro = False
    if last_was_macro:
        return None
    body = spec[:-1] if spec.endswith(".") else spec
    head, dot, top = body.rpartition(".")
    if not dot or not head or not _TOPLABEL.fullmatch(top):
        return "not a domain name ending in a valid top-level label"
    if "%" not in spec:
        labels = body.split(".")
        if any(not label for label in labels) or any(len(label) > 63 for label in labels) or len(body) > 253:
            return "not a valid DNS name (empty or over-long label)"
    return None


def _parse_term(text: str, errors: list[str], warnings: list[str]) -> SpfTerm | None:
    modifier = _MODIFIER.fullmatch(text)
    if modifier:
        name, value = ascii_lower(modifier.group(1)), modifier.group(2)
        if name in ("redirect", "exp"):
            problem = _domain_spec_problem(value)
            if problem:
                add_message(errors, f"{shorten(text, 60)}: {problem}")
                return None
        elif name in MECHANISMS:
            add_message(errors, f"{shorten(text, 60)}: '{name}' is a mechanism; it takes ':' not '='")
            return None
        else:
            # Unknown modifiers are ignored (§6) but must still be a macro-string.
            if any(not (_MACRO_LITERAL.match(c) or c == "%") for c in value) or re.search(
                    r"%(?!\{|%|_|-)", value):
                add_message(errors, f"{shorten(text, 60)}: invalid value for modifier {name!r}")
                return None
            add_message(warnings, f"unknown modifier {shorten(name, 30)} ignored (RFC 7208 §6)")
        return SpfTerm(text=text, kind="modifier", name=name, value=value, has_macro="%" in value)

    mech = _MECHANISM.fullmatch(text)
    if mech is None:
        add_message(errors, f"{shorten(text, 60)} is not a mechanism or modifier (RFC 7208 §4.6.1)")
        return None
    qualifier = mech.group(1) or "+"
    name = ascii_lower(mech.group(2))
    rest = mech.group(3)
    if name not in MECHANISMS:
        add_message(errors, f"unknown mechanism {shorten(name, 30)} (permerror, RFC 7208 §4.6.1)")
        return None
    term: dict[str, Any] = {"text": text, "kind": "mechanism", "name": name, "qualifier": qualifier}
    if name == "all":
        if rest:
            add_message(errors, f"{shorten(text, 60)}: 'all' takes no argument")
            return None
    elif name in ("include", "exists"):
        if not rest.startswith(":"):
            add_message(errors, f"{shorten(text, 60)}: '{name}' needs ':domain'")
            return None
        problem = _domain_spec_problem(rest[1:])
        if problem:
            add_message(errors, f"{shorten(text, 60)}: {problem}")
            return None
        term["value"] = rest[1:]
    elif name in ("a", "mx", "ptr"):
        spec = rest
        if name != "ptr":
            cidr = _DUAL_CIDR.fullmatch(rest)
            assert cidr is not None  # the pattern matches every string
            spec = cidr.group("spec")
            if cidr.group("c4"):
                term["cidr4"] = int(cidr.group("c4")[1:])
                if term["cidr4"] > 32:
                    add_message(errors, f"{shorten(text, 60)}: IPv4 prefix length over 32")
                    return None
            if cidr.group("c6"):
                term["cidr6"] = int(cidr.group("c6")[2:])
                if term["cidr6"] > 128:
                    add_message(errors, f"{shorten(text, 60)}: IPv6 prefix length over 128")
                    return None
        if spec:
            if not spec.startswith(":"):
                add_message(errors, f"{shorten(text, 60)} is not a valid '{name}' mechanism")
                return None
            problem = _domain_spec_problem(spec[1:])
            if problem:
                add_message(errors, f"{shorten(text, 60)}: {problem}")
                return None
            term["value"] = spec[1:]
        if name == "ptr":
            add_message(warnings, "the 'ptr' mechanism SHOULD NOT be used (RFC 7208 §5.5): slow and unreliable")
    else:  # ip4 / ip6
        network, slash, length = rest.removeprefix(":").partition("/")
        limit = 32 if name == "ip4" else 128
        try:
            if not rest.startswith(":"):
                raise ValueError
            if name == "ip4":
                ipaddress.IPv4Address(network)
            else:
                ipaddress.IPv6Address(network)
            if slash:
                if not re.fullmatch(r"0|[1-9][0-9]{0,2}", length) or int(length) > limit:
                    raise ValueError
                term["cidr4" if name == "ip4" else "cidr6"] = int(length)
        except ValueError:
            add_message(errors, f"{shorten(text, 60)}: not a valid {name} network (RFC 7208 §5.6)")
            return None
        term["value"] = network
    term["has_macro"] = "%" in (term.get("value") or "")
    return SpfTerm(**term)


def parse_spf(record: str | bytes) -> SpfRecord:
    """Parse one SPF record (RFC 7208 §4.5–§6, ABNF §12). Never raises."""
    text = as_text(record)
    errors: list[str] = []
    warnings: list[str] = []
    if len(text) > MAX_TXT_RECORD:
        return SpfRecord(record=text[:MAX_TXT_RECORD] + "…", valid=False,
                         errors=[f"record of {len(text)} characters not parsed"])
    if not _VERSION.match(text):
        return SpfRecord(record=text, valid=False, errors=["the record does not begin with 'v=spf1'"])
    if not text.isascii():
        add_message(errors, "the record contains non-ASCII characters")
    if "\t" in text:
        add_message(errors, "terms are separated by spaces; a TAB is a syntax error (RFC 7208 §12)")
    raw_terms = [t for t in text[6:].split(" ") if t]
    if len(raw_terms) > MAX_TERMS:
        add_message(errors, f"{len(raw_terms)} terms; only the first {MAX_TERMS} parsed")
        raw_terms = raw_terms[:MAX_TERMS]
    terms: list[SpfTerm] = []
    for raw in raw_terms:
        term = _parse_term(raw, errors, warnings)
        if term is not None:
            terms.append(term)

    all_terms = [t for t in terms if t.kind == "mechanism" and t.name == "all"]
    all_value = f"{all_terms[0].qualifier}all" if all_terms else None
    if all_terms:
        index = terms.index(all_terms[0])
        if any(t.kind == "mechanism" for t in terms[index + 1:]):
            add_message(warnings, "mechanisms after 'all' are never evaluated")
    redirect: str | None = None
    exp: str | None = None
    for name in ("redirect", "exp"):
        found = [t for t in terms if t.kind == "modifier" and t.name == name]
        if len(found) > 1:
            add_message(errors, f"'{name}' appears {len(found)} times; at most once (permerror, RFC 7208 §6)")
        if found:
            if name == "redirect":
                redirect = found[0].value
            else:
                exp = found[0].value
    if redirect is not None and all_value is not None:
        add_message(warnings, "'redirect' is ignored because the record has an 'all' mechanism (RFC 7208 §6.1)")
    if all_value == "+all":
        add_message(warnings, "'+all' authorizes every host on the Internet to send as this domain")
    elif all_value == "?all":
        add_message(warnings, "'?all' is neutral: it gives receivers no instruction")
    elif all_value is None and redirect is None:
        add_message(warnings, "no 'all' and no 'redirect': unmatched senders get the default 'neutral'")
    return SpfRecord(record=text, valid=not errors, terms=terms, all=all_value, redirect=redirect,
                     exp=exp, errors=errors, warnings=warnings)


@dataclass(frozen=True)
class SpfSelection:
    """RFC 7208 §4.5 record selection: `record` is the one SPF record, or None (`errors` says whether
    that is "none" or a permerror from several records)."""

    record: str | None
    status: Literal["found", "none", "permerror"]
    errors: list[str] = field(default_factory=list)


def select_spf(txts: Sequence[str | bytes]) -> SpfSelection:
    """Keep the TXT records beginning exactly `v=spf1` (then a space or the end: `v=spf10` is not one);
    none left -> none; more than one -> permerror."""
    if isinstance(txts, str | bytes):
        txts = [txts]
    items = [as_text(t) for t in list(txts)[:MAX_TXT_RECORDS]] if isinstance(txts, list | tuple) else []
    found = [t for t in items if _VERSION.match(t)]
    errors: list[str] = []
    for text in items:
        if text[:1] in (" ", "\t") and _VERSION.match(text.lstrip()):
            add_message(errors, f"record {shorten(text)} discarded: it starts with whitespace")
    if not found:
        return SpfSelection(record=None, status="none", errors=errors)
    if len(found) > 1:
        add_message(errors, f"{len(found)} SPF records; RFC 7208 §4.5 makes that a permerror")
        return SpfSelection(record=None, status="permerror", errors=errors)
    return SpfSelection(record=found[0], status="found", errors=errors)


# ---------------------------------------------------------------------------------------------
# The lookup budget over the whole tree

TxtLookup = Callable[[str], Awaitable[list[str] | None]]
MxLookup = Callable[[str], Awaitable[list[str] | None]]
AddrLookup = Callable[[str], Awaitable[list[str] | None]]


@dataclass
class SpfNode:
    """One record in the tree: the domain it was read from and how it was reached."""

    domain: str
    via: Literal["root", "include", "redirect"]
    record: str | None = None
    parsed: SpfRecord | None = None
    children: list[SpfNode] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lookups: int = 0  # DNS-querying terms of this record
    void_lookups: int = 0

    def effective_all(self) -> str | None:
        """The `all` that ends evaluation here: this record's, else its redirect target's."""
        if self.parsed is None:
            return None
        if self.parsed.all is not None:
            return self.parsed.all
        redirects = [c for c in self.children if c.via == "redirect"]
        return redirects[0].effective_all() if redirects else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "via": self.via,
            "record": self.record,
            "terms": [t.as_dict() for t in self.parsed.terms] if self.parsed else [],
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "children": [c.as_dict() for c in self.children],
        }


@dataclass
class SpfTree:
    """The audit of a domain's SPF policy. `status`: `valid`, `none` (no SPF record), `permerror`
    (syntax, limits, loops, several records) or `temperror` (a lookup failed: counts are lower bounds).
    """

    domain: str
    root: SpfNode | None = None
    status: Literal["valid", "none", "permerror", "temperror"] = "none"
    lookups: int = 0
    void_lookups: int = 0
    queries: int = 0  # DNS queries actually made for the walk
    truncated: bool = False  # the work cap stopped the walk: counts are lower bounds
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def record(self) -> str | None:
        return self.root.record if self.root else None

    @property
    def all(self) -> str | None:
        return self.root.effective_all() if self.root else None

    def value(self) -> dict[str, Any]:
        """The `spf` check value of CHECKS.md."""
        return {"record": self.record, "all": self.all, "lookups": self.lookups, "errors": list(self.errors)}

    def evidence(self) -> dict[str, Any]:
        return {
            "status": self.status, "lookups": self.lookups, "void_lookups": self.void_lookups,
            "queries": self.queries, "truncated": self.truncated, "limits": {
                "lookups": LOOKUP_LIMIT, "void_lookups": VOID_LIMIT, "mx_names": MX_NAMES_LIMIT},
            "tree": self.root.as_dict() if self.root else None,
        }


class _Walk:
    """State of one tree walk: counters, a memo of answers (a name queried twice costs us one query
    but counts twice, as it would for a receiver), and the hard cap on work."""

    def __init__(self, tree: SpfTree, txt: TxtLookup, mx: MxLookup, addr: AddrLookup) -> None:
        self.tree = tree
        self.lookup_fns = {"TXT": txt, "MX": mx, "ADDR": addr}
        self.memo: dict[tuple[str, str], list[str] | None] = {}
        self.permerror = False
        self.temperror = False
        self.stopped = False

    async def query(self, kind: str, name: str, node: SpfNode) -> tuple[bool, list[str] | None]:
        """(ok, answer): ok False on a resolver failure or when the work cap is reached."""
        key = (kind, name)
        if key in self.memo:
            return True, self.memo[key]
        if self.tree.queries >= MAX_QUERIES:
            if not self.stopped:
                self.stopped = True
                self.tree.truncated = True
                add_message(self.tree.errors, f"walk stopped after {MAX_QUERIES} DNS queries; "
                                              "the counts are lower bounds")
            return False, None
        self.tree.queries += 1
        try:
            answer = await self.lookup_fns[kind](name)
        except Exception as exc:  # the lookup is injected code: any failure of it is a temperror
            self.temperror = True
            reason = f"temperror: {kind if kind != 'ADDR' else 'A/AAAA'} lookup for {name} failed " \
                     f"({type(exc).__name__}{': ' + str(exc)[:120] if str(exc) else ''})"
            add_message(node.errors, reason)
            add_message(self.tree.errors, reason)
            return False, None
        if answer is not None and not isinstance(answer, list):
            answer = list(answer) if isinstance(answer, tuple) else None
        if answer is not None and not answer:
            answer = None  # an empty answer is NODATA: void
        self.memo[key] = answer
        return True, answer

    def perm(self, node: SpfNode, reason: str) -> None:
        self.permerror = True
        add_message(node.errors, reason)
        add_message(self.tree.errors, f"{node.domain}: {reason}" if node.via != "root" else reason)

    def count(self, node: SpfNode, term: SpfTerm) -> None:
        node.lookups += 1
        self.tree.lookups += 1
        if self.tree.lookups == LOOKUP_LIMIT + 1:
            self.perm(node, f"more than {LOOKUP_LIMIT} DNS-querying terms (permerror, RFC 7208 §4.6.4); "
                            f"the {LOOKUP_LIMIT + 1}th is {term.text!r}")

    def void(self, node: SpfNode, what: str) -> None:
        node.void_lookups += 1
        self.tree.void_lookups += 1
        add_message(node.warnings, f"void lookup: {what}")
        if self.tree.void_lookups == VOID_LIMIT + 1:
            self.perm(node, f"more than {VOID_LIMIT} void lookups (permerror, RFC 7208 §4.6.4)")

    async def node(self, domain: str, via: Literal["root", "include", "redirect"], path: tuple[str, ...]
                   ) -> SpfNode:
        node = SpfNode(domain=domain, via=via)
        ok, txts = await self.query("TXT", domain, node)
        if not ok:
            return node
        if txts is None and via != "root":
            self.void(node, f"no TXT records at {domain}")
        selection = select_spf([as_text(t) for t in (txts or [])])
        if selection.status == "permerror":
            self.perm(node, selection.errors[-1])
            return node
        node.warnings.extend(selection.errors)  # discarded look-alike records
        if selection.record is None:
            if via != "root":
                self.perm(node, f"{via} target {domain} has no SPF record (permerror, RFC 7208 "
                                f"{'§5.2' if via == 'include' else '§6.1'})")
            return node
        node.record = selection.record
        parsed = parse_spf(selection.record)
        node.parsed = parsed
        node.warnings.extend(parsed.warnings)
        for error in parsed.errors:
            self.perm(node, f"syntax: {error}")
        for term in parsed.reachable_terms:
            if not term.queries_dns:
                continue
            self.count(node, term)
            await self.term(node, term, path)
        return node

    async def term(self, node: SpfNode, term: SpfTerm, path: tuple[str, ...]) -> None:
        target = normalize_host(term.value) if term.value else node.domain
        if term.has_macro:
            add_message(node.warnings, f"{term.text!r} uses macros: counted, not followed (depends on the sender)")
            return
        if term.name == "ptr":
            return  # needs the client IP; counted only
        if term.name in ("include", "redirect"):
            if target in path:
                self.perm(node, f"{term.text!r} loops back to {target} (permerror)")
                return
            if len(path) >= MAX_DEPTH:
                self.perm(node, f"{term.text!r}: nesting deeper than {MAX_DEPTH} records")
                return
            child = await self.node(target, "include" if term.name == "include" else "redirect", (*path, target))
            node.children.append(child)
            return
        if term.name == "mx":
            ok, names = await self.query("MX", target, node)
            if not ok:
                return
            if names is None:
                self.void(node, f"no MX records at {target} ({term.text!r})")
                return
            hosts = [n for n in (normalize_host(as_text(x)) for x in names) if n]
            if len(hosts) > MX_NAMES_LIMIT:
                self.perm(node, f"{term.text!r}: {target} has {len(hosts)} MX hosts; more than "
                                f"{MX_NAMES_LIMIT} is a permerror (RFC 7208 §4.6.4)")
            return
        # a, exists
        ok, addrs = await self.query("ADDR", target, node)
        if ok and addrs is None:
            self.void(node, f"no address for {target} ({term.text!r})")


async def spf_tree(
    domain: str,
    txt_lookup: TxtLookup,
    mx_lookup: MxLookup,
    addr_lookup: AddrLookup,
) -> SpfTree:
    """Walk the SPF policy of `domain`: select and parse its record, follow include and redirect,
    count DNS-querying terms (limit 10), void lookups (limit 2) and MX names per `mx` (limit 10),
    detect loops, and stop after `MAX_QUERIES` queries. Never raises (except on cancellation)."""
    name = normalize_host(as_text(domain))
    tree = SpfTree(domain=name)
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or any(not label or len(label) > 63 for label in labels):
        # RFC 7208 §4.3: a malformed or single-label domain gives "none" without any query.
        tree.warnings.append(f"{shorten(name, 60)} is not a multi-label domain name: SPF result none")
        return tree
    walk = _Walk(tree, txt_lookup, mx_lookup, addr_lookup)
    root = await walk.node(name, "root", (name,))
    tree.root = root
    if walk.permerror:
        tree.status = "permerror"
    elif walk.temperror or tree.truncated:
        tree.status = "temperror"
    elif root.record is None:
        tree.status = "none"
    else:
        tree.status = "valid"
    tree.warnings.extend(_collect_warnings(root))
    return tree


def _collect_warnings(node: SpfNode) -> list[str]:
    out = [w if node.via == "root" else f"{node.domain}: {w}" for w in node.warnings]
    for child in node.children:
        out.extend(_collect_warnings(child))
    return out[:100]
