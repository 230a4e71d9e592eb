"""SPF vectors S1–S4 of research/standards.md (RFC 7208), plus syntax and tree-walk cases.

The lookups are dict-backed async functions: test data standing in for DNS, not mocks."""

from __future__ import annotations

import asyncio

import pytest

from auditor.policy import DnsLookupFailed
from auditor.policy.spf import SpfTree, parse_spf, select_spf, spf_tree


class Zone:
    """A tiny DNS: TXT, MX and address answers by name; names in `broken` fail like SERVFAIL."""

    def __init__(self, txt=None, mx=None, addr=None, broken=()):
        self.txt, self.mx, self.addr, self.broken = txt or {}, mx or {}, addr or {}, set(broken)
        self.asked: list[tuple[str, str]] = []

    def _answer(self, table, kind, name):
        self.asked.append((kind, name))
        if name in self.broken:
            raise DnsLookupFailed(f"SERVFAIL for {name}")
        return table.get(name)

    async def txt_lookup(self, name):
        return self._answer(self.txt, "TXT", name)

    async def mx_lookup(self, name):
        return self._answer(self.mx, "MX", name)

    async def addr_lookup(self, name):
        return self._answer(self.addr, "ADDR", name)

    def tree(self, domain) -> SpfTree:
        return asyncio.run(spf_tree(domain, self.txt_lookup, self.mx_lookup, self.addr_lookup))


# --- S1: the lookup limit -----------------------------------------------------------------------

def _includes(n: int) -> Zone:
    txt = {"example.com": ["v=spf1 " + " ".join(f"include:i{k}.example.net" for k in range(n)) + " -all"]}
    txt.update({f"i{k}.example.net": ["v=spf1 ip4:192.0.2.0/24 -all"] for k in range(n)})
    return Zone(txt=txt)


def test_S1_ten_lookups_is_fine():
    tree = _includes(10).tree("example.com")
    assert tree.status == "valid" and tree.lookups == 10 and tree.errors == []
    assert tree.value() == {"record": tree.record, "all": "-all", "lookups": 10, "errors": []}


def test_S1_eleven_lookups_is_permerror():
    tree = _includes(11).tree("example.com")
    assert tree.status == "permerror" and tree.lookups == 11
    assert "more than 10" in tree.errors[0]


def test_S1_nested_terms_count_and_ip_all_do_not():
    zone = Zone(
        txt={
            "example.com": ["v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 a mx include:_spf.example.net ~all"],
            "_spf.example.net": ["v=spf1 a:mail.example.net exists:x.example.net redirect=_r.example.net"],
            "_r.example.net": ["v=spf1 ptr -all"],
        },
        mx={"example.com": ["mx1.example.com"]},
        addr={"example.com": ["192.0.2.1"], "mail.example.net": ["192.0.2.2"], "x.example.net": ["127.0.0.2"]},
    )
    tree = zone.tree("example.com")
    # a, mx, include (3) + a, exists, redirect (3) + ptr (1)
    assert tree.lookups == 7 and tree.status == "valid", tree.errors
    assert tree.all == "~all" and tree.root is not None
    assert [c.domain for c in tree.root.children] == ["_spf.example.net"]
    assert tree.root.children[0].children[0].via == "redirect"
    assert any("ptr" in w for w in tree.warnings)


def test_S1_mx_with_more_than_ten_names_is_permerror():
    zone = Zone(txt={"example.com": ["v=spf1 mx -all"]},
                mx={"example.com": [f"mx{k}.example.com" for k in range(11)]})
    tree = zone.tree("example.com")
    assert tree.status == "permerror" and "11 MX hosts" in tree.errors[0]


def test_S1_terms_after_all_are_not_counted_and_redirect_ignored():
    zone = Zone(txt={"example.com": ["v=spf1 -all include:a.example.net redirect=b.example.net"]})
    tree = zone.tree("example.com")
    assert tree.lookups == 0 and tree.status == "valid"
    assert zone.asked == [("TXT", "example.com")]


# --- S2: void lookups ---------------------------------------------------------------------------

def test_S2_three_void_lookups_is_permerror():
    zone = Zone(txt={"example.com": ["v=spf1 a:n1.example.com a:n2.example.com mx:n3.example.com -all"]})
    tree = zone.tree("example.com")
    assert tree.void_lookups == 3 and tree.status == "permerror"
    assert any("void" in e for e in tree.errors)


def test_S2_two_void_lookups_is_tolerated():
    zone = Zone(txt={"example.com": ["v=spf1 a:n1.example.com a:n2.example.com -all"]})
    tree = zone.tree("example.com")
    assert tree.void_lookups == 2 and tree.status == "valid"


def test_S2_include_of_a_domain_without_spf_is_permerror():
    zone = Zone(txt={"example.com": ["v=spf1 include:gone.example.net -all"],
                     "other.example.net": ["hello"]})
    assert zone.tree("example.com").status == "permerror"
    zone.txt["example.com"] = ["v=spf1 include:other.example.net -all"]
    tree = zone.tree("example.com")
    assert tree.status == "permerror" and "has no SPF record" in tree.errors[0]


# --- S3: record selection -----------------------------------------------------------------------

def test_S3_spf10_is_discarded():
    assert select_spf(["v=spf10 -all"]).status == "none"
    tree = Zone(txt={"example.com": ["v=spf10 -all"]}).tree("example.com")
    assert tree.status == "none" and tree.record is None and tree.value()["all"] is None


def test_S3_two_records_is_permerror():
    sel = select_spf(["v=spf1 -all", "v=spf1 ~all"])
    assert sel.status == "permerror" and sel.record is None and sel.errors
    tree = Zone(txt={"example.com": ["v=spf1 -all", "v=spf1 ~all"]}).tree("example.com")
    assert tree.status == "permerror" and tree.errors


def test_S3_selection_details():
    assert select_spf(["google-site-verification=x", "v=spf1 -all"]).record == "v=spf1 -all"
    assert select_spf(["V=SPF1 -all"]).record == "V=SPF1 -all"  # ABNF strings are case-insensitive
    assert select_spf(["v=spf1"]).record == "v=spf1"
    sel = select_spf([" v=spf1 -all"])
    assert sel.status == "none" and "whitespace" in sel.errors[0]
    assert select_spf([]).status == "none"


# --- S4: the all mechanism ----------------------------------------------------------------------

@pytest.mark.parametrize(("record", "expected"), [
    ("v=spf1 -all", "-all"), ("v=spf1 mx ~all", "~all"), ("v=spf1 ?all", "?all"),
    ("v=spf1 +all", "+all"), ("v=spf1 all", "+all"), ("v=spf1 mx", None), ("v=spf1 ALL", "+all"),
])
def test_S4_all_qualifier(record, expected):
    r = parse_spf(record)
    assert r.valid and r.all == expected


def test_S4_warnings_for_weak_all():
    assert "every host" in parse_spf("v=spf1 +all").warnings[0]
    assert "neutral" in parse_spf("v=spf1 ?all").warnings[0]
    assert "default" in parse_spf("v=spf1 mx").warnings[0]
    assert parse_spf("v=spf1 redirect=_spf.example.com").warnings == []


def test_S4_all_through_redirect():
    zone = Zone(txt={"example.com": ["v=spf1 redirect=_spf.example.net"],
                     "_spf.example.net": ["v=spf1 ip4:192.0.2.0/24 -all"]})
    tree = zone.tree("example.com")
    assert tree.all == "-all" and tree.lookups == 1 and tree.status == "valid"


# --- syntax -------------------------------------------------------------------------------------

@pytest.mark.parametrize("record", [
    "v=spf1 ip4:192.0.2.0/24 ip4:192.0.2.1 ip6:2001:db8::/48 ip6:::1 a/24 a:mail.example.com/24//64 mx//64 "
    "ptr:example.com exists:%{i}._spf.example.com include:_spf.example.com -all",
    "v=spf1 redirect=_spf.example.com",
    "v=spf1 exp=explain._spf.%{d} -all",
    "v=spf1 -all foo=bar",
    "v=spf1  mx   -all  ",
    "v=spf1 include:example.com.",
])
def test_valid_syntax(record):
    r = parse_spf(record)
    assert r.valid, r.errors


@pytest.mark.parametrize(("record", "fragment"), [
    ("v=spf1 ip4:192.0.2.0/33 -all", "ip4"),
    ("v=spf1 ip4:192.0.2.300 -all", "ip4"),
    ("v=spf1 ip4:010.0.0.1 -all", "ip4"),
    ("v=spf1 ip6:2001:db8::/129 -all", "ip6"),
    ("v=spf1 ip4 -all", "ip4"),
    ("v=spf1 include -all", "needs"),
    ("v=spf1 include:com -all", "top-level"),
    ("v=spf1 include:%{z}.example.com -all", "macro"),
    ("v=spf1 include:50%.example.com -all", "macro"),
    ("v=spf1 a:example..com -all", "label"),
    ("v=spf1 foo:bar -all", "unknown mechanism"),
    ("v=spf1 all:example.com", "no argument"),
    ("v=spf1 redirect=a.example.com redirect=b.example.com", "at most once"),
    ("v=spf1 include=example.com", "mechanism"),
    ("v=spf1 mx\t-all", "TAB"),
    ("v=spf1 a/33", "over 32"),
    ("v=spf1 mx//129", "over 128"),
    ("v=spf1 a:exa mple.com", "top-level"),
    ("v=spf1 *all", "not a mechanism"),
])
def test_syntax_errors(record, fragment):
    r = parse_spf(record)
    assert not r.valid and any(fragment in e for e in r.errors), r.errors


def test_parse_terms_and_evidence():
    r = parse_spf("v=spf1 -a:mail.example.com/24//64 ~ip4:192.0.2.0/24 ?include:x.example.com")
    a, ip4, inc = r.terms
    assert (a.qualifier, a.name, a.value, a.cidr4, a.cidr6) == ("-", "a", "mail.example.com", 24, 64)
    assert (ip4.qualifier, ip4.value, ip4.cidr4) == ("~", "192.0.2.0", 24)
    assert inc.queries_dns and not ip4.queries_dns
    assert a.as_dict()["cidr6"] == 64
    assert r.lookups == 2


def test_not_spf_and_hostile_records_never_raise():
    assert not parse_spf("v=spf10 -all").valid
    assert not parse_spf("").valid
    assert not parse_spf(b"v=spf1 \xff\xfe -all").valid
    assert not parse_spf("v=spf1 " + "a " * 5000).valid
    assert not parse_spf("v=spf1 " + "x" * 100_000).valid
    assert not parse_spf(None).valid  # type: ignore[arg-type]


# --- the walk: loops, failures, caps --------------------------------------------------------------

def test_include_loop_detected():
    zone = Zone(txt={"a.example": ["v=spf1 include:b.example -all"], "b.example": ["v=spf1 include:a.example -all"]})
    tree = zone.tree("a.example")
    assert tree.status == "permerror" and any("loops" in e for e in tree.errors)


def test_redirect_loop_and_self_include():
    zone = Zone(txt={"a.example": ["v=spf1 redirect=a.example"]})
    assert zone.tree("a.example").status == "permerror"
    zone = Zone(txt={"a.example": ["v=spf1 include:A.Example. -all"]})
    assert zone.tree("a.example").status == "permerror"


def test_resolver_failure_is_temperror_not_none():
    zone = Zone(txt={}, broken={"example.com"})
    tree = zone.tree("example.com")
    assert tree.status == "temperror" and tree.record is None
    assert "SERVFAIL" in tree.errors[0]


def test_resolver_failure_in_include_is_temperror():
    zone = Zone(txt={"example.com": ["v=spf1 include:x.example.net -all"]}, broken={"x.example.net"})
    tree = zone.tree("example.com")
    assert tree.status == "temperror" and tree.lookups == 1 and tree.root is not None
    assert tree.root.children[0].errors


def test_any_exception_from_a_lookup_is_temperror():
    async def bad(name):
        raise RuntimeError("boom")

    tree = asyncio.run(spf_tree("example.com", bad, bad, bad))
    assert tree.status == "temperror" and "boom" in tree.errors[0]


def test_no_record_is_none():
    tree = Zone(txt={"example.com": ["hello"]}).tree("example.com")
    assert tree.status == "none" and tree.errors == []
    assert Zone().tree("example.com").status == "none"


def test_syntax_error_in_include_is_permerror():
    zone = Zone(txt={"example.com": ["v=spf1 include:x.example.net -all"], "x.example.net": ["v=spf1 ip4:1 -all"]})
    tree = zone.tree("example.com")
    assert tree.status == "permerror" and "x.example.net: syntax" in tree.errors[0]


def test_macros_are_counted_not_followed():
    zone = Zone(txt={"example.com": ["v=spf1 exists:%{i}.spf.example.com include:%{d}.x.example -all"]})
    tree = zone.tree("example.com")
    assert tree.lookups == 2 and tree.queries == 1 and tree.status == "valid"


def test_work_cap_bounds_a_hostile_fan_out():
    # Each record includes 9 distinct others: exponential without a cap.
    txt = {f"d{k}.example": ["v=spf1 " + " ".join(f"include:d{k * 9 + j}.example" for j in range(1, 10)) + " -all"]
           for k in range(200)}
    zone = Zone(txt=txt)
    tree = zone.tree("d0.example")
    assert tree.queries <= 60 and len(zone.asked) <= 60
    assert tree.status == "permerror" and tree.lookups > 10


def test_repeated_include_counts_twice_but_queries_once():
    zone = Zone(txt={"example.com": ["v=spf1 include:x.example.net a:x.example.net include:x.example.net -all"],
                     "x.example.net": ["v=spf1 -all"]}, addr={"x.example.net": ["192.0.2.1"]})
    tree = zone.tree("example.com")
    assert tree.lookups == 3 and zone.asked.count(("TXT", "x.example.net")) == 1


def test_evidence_is_a_plain_tree():
    zone = Zone(txt={"example.com": ["v=spf1 include:x.example.net -all"], "x.example.net": ["v=spf1 -all"]})
    ev = zone.tree("example.com").evidence()
    assert ev["tree"]["children"][0]["domain"] == "x.example.net"
    assert ev["tree"]["terms"][0] == {"term": "include:x.example.net", "kind": "mechanism", "name": "include",
                                      "qualifier": "+", "value": "x.example.net"}
    import json
    json.dumps(ev)


def test_S3_version_must_end_with_space_or_end():
    assert select_spf(["v=spf1\n-all"]).status == "none"
    assert select_spf(["v=spf1\t-all"]).status == "none"
    assert not parse_spf("v=spf1\n").valid


@pytest.mark.parametrize("domain", ["", "localhost", "a..example", "x" * 64 + ".example", "."])
def test_malformed_domain_is_none_without_a_query(domain):
    zone = Zone()
    tree = zone.tree(domain)
    assert tree.status == "none" and zone.asked == [] and tree.warnings
