"""DNSSEC signing (auditor.lab.signing) and validation (auditor.net.dnssec) against in-memory zones.

A small authoritative "server" below answers from the deepest hosted zone, the way a real one would:
DS from the parent side of a cut, RRSIGs with every RRset, SOA + NSEC/NSEC3 for negative answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from auditor.errors import ConfigError, NetworkUnavailable
from auditor.lab import signing
from auditor.net.dnssec import (
    MAX_QUERIES,
    DnssecResult,
    QueryFailed,
    TrustAnchors,
    ValidationCache,
    load_trust_anchors,
    query_via,
    validate,
)

Q = Callable[[dns.name.Name, dns.rdatatype.RdataType], Awaitable[dns.message.Message]]

SOA = "@ 3600 IN SOA ns1 hostmaster 1 3600 600 604800 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n"
DELEGATED = ("signed", "unsigned", "nsec3", "expired", "badsig", "nokey", "gap", "gap3", "hidden", "optout")
OPT_OUT = {"optout.test."}  # NSEC3 with opt-out, as .com is signed

# zone -> (extra records, signed?, nsec3?, fault, DS in parent?)
ZONES: dict[str, tuple[str, bool, bool, str | None, bool]] = {
    ".": ("test. NS ns1.test.\nns1.test. A 192.0.2.1\n", True, False, None, True),
    "test.": (
        "".join(f"{z} NS ns1.{z}\nns1.{z} A 192.0.2.2\n" for z in DELEGATED)
        + "alias CNAME www.signed.test.\nualias CNAME www.unsigned.test.\n"
        + "loop1 CNAME loop2\nloop2 CNAME loop1\n",
        True, False, None, True),
    "signed.test.": ("www A 192.0.2.10\nmail MX 10 mx.signed.test.\na.b TXT \"deep\"\ncn CNAME www\n",
                     True, False, None, True),
    "unsigned.test.": ("www A 192.0.2.11\n", False, False, None, False),
    "nsec3.test.": ("www A 192.0.2.12\na.b TXT \"deep\"\nsub NS ns1.sub\nns1.sub A 192.0.2.3\n",
                    True, True, None, True),
    "sub.nsec3.test.": ("www A 192.0.2.13\n", False, False, None, False),
    "expired.test.": ("www A 192.0.2.14\n", True, False, "expired", True),
    "badsig.test.": ("www A 192.0.2.15\n", True, False, "bad_signature", True),
    "nokey.test.": ("www A 192.0.2.16\n", True, False, "no_dnskey_match", True),
    "gap.test.": ("www A 192.0.2.17\n", True, False, "broken_denial", True),
    "gap3.test.": ("www A 192.0.2.18\n", True, True, "broken_denial", True),
    "hidden.test.": ("www A 192.0.2.19\n", True, False, None, False),  # signed, but its parent has no DS
    "optout.test.": ("www A 192.0.2.20\nins NS ns1.ins\nns1.ins A 192.0.2.4\n", True, True, None, True),
    "ins.optout.test.": ("www A 192.0.2.21\n", False, False, None, False),
}


class World:
    """Signed zones plus an in-test authoritative responder over all of them."""

    def __init__(self) -> None:
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self.keys: dict[dns.name.Name, signing.ZoneKeys] = {}
        for text, (extra, _signed, _n3, _fault, _ds) in ZONES.items():
            self.zones[dns.name.from_text(text)] = dns.zone.from_text(SOA + extra, text, relativize=False)
        # Children first, so each DS is in its parent before the parent is signed.
        for origin in sorted(self.zones, key=len, reverse=True):
            _extra, signed, nsec3, fault, with_ds = ZONES[origin.to_text()]
            if not signed:
                continue
            keys = signing.make_keys(origin.to_text())
            self.keys[origin] = keys
            signing.sign_zone(self.zones[origin], keys, nsec3=nsec3, fault=fault,
                              opt_out=origin.to_text() in OPT_OUT)
            if with_ds and origin != dns.name.root:
                signing.add_ds(self.zones[origin.parent()], keys)
        self.anchors = TrustAnchors()  # replaced by the fixture with the loaded anchor file
        self.queries: list[tuple[str, str]] = []

    def anchor_file(self, tmp: Path) -> Path:
        path = tmp / "lab-anchor.zone"
        path.write_text(signing.trust_anchor_text(self.keys[dns.name.root]), encoding="utf-8")
        return path

    def zone_for(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.zone.Zone:
        best = dns.name.root
        for origin in self.zones:
            # DS at a zone apex is the parent's data: a server answers it from the parent side.
            if rdtype == dns.rdatatype.DS and origin == qname and origin != dns.name.root:
                continue
            if qname.is_subdomain(origin) and len(origin) > len(best):
                best = origin
        return self.zones[best]

    async def query(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        self.queries.append((qname.to_text(), dns.rdatatype.to_text(rdtype)))
        request = dns.message.make_query(qname, rdtype, want_dnssec=True)
        request.flags |= dns.flags.CD
        response = dns.message.make_response(request)
        zone = self.zone_for(qname, rdtype)
        origin = zone.origin
        assert origin is not None

        def add(section: list[dns.rrset.RRset], name: dns.name.Name, rtype: dns.rdatatype.RdataType) -> bool:
            rds = zone.get_rdataset(name, rtype)
            if rds is None:
                return False
            section.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))
            sig = zone.get_rdataset(name, dns.rdatatype.RRSIG, rtype)
            if sig is not None:
                section.append(dns.rrset.from_rdata_list(name, sig.ttl, list(sig)))
            return True

        if add(response.answer, qname, rdtype):
            return response
        if rdtype != dns.rdatatype.CNAME and add(response.answer, qname, dns.rdatatype.CNAME):
            return response
        exists = any(n.is_subdomain(qname) for n, node in zone.nodes.items()
                     if any(r.rdtype not in (dns.rdatatype.NSEC3, dns.rdatatype.RRSIG) for r in node.rdatasets))
        add(response.authority, origin, dns.rdatatype.SOA)
        if not exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.extend(signing.denial_proof(zone, qname, nxdomain=not exists))
        return response


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World()
    # Through the real loader: the lab writes the anchor with trust_anchor_text, the auditor reads it.
    w.anchors = load_trust_anchors(w.anchor_file(tmp_path_factory.mktemp("anchor")))
    return w


def run(world: World, name: str, rdtype: str = "A", query: Q | None = None, **kw: Any) -> DnssecResult:
    world.queries.clear()
    return asyncio.run(validate(name, rdtype, query or world.query, world.anchors, **kw))


# --- secure answers and proven denials ------------------------------------------------------------------


def test_secure_answer_with_chain(world: World) -> None:
    result = run(world, "www.signed.test.")
    assert result.status == "secure", result.reason
    assert result.rrset == ["192.0.2.10"]
    assert result.denial is None
    zones = [c["zone"] for c in result.chain if c["kind"] == "zone"]
    assert zones == [".", "test.", "signed.test."]
    assert all(c["verdict"] == "secure" for c in result.chain)
    signed = next(c for c in result.chain if c["zone"] == "signed.test.")
    assert signed["ds"] and {k["flags"] for k in signed["dnskey"]} == {256, 257}
    assert signed["rrsig"][0]["signer"] == "signed.test."
    assert len(world.queries) <= MAX_QUERIES


def test_secure_ds_is_validated_in_the_parent(world: World) -> None:
    result = run(world, "signed.test.", "DS")
    assert result.status == "secure", result.reason
    assert len(result.rrset) == 1
    assert result.chain[-1]["zone"] == "test."


@pytest.mark.parametrize(("name", "rdtype", "denial"), [
    ("nothere.signed.test.", "A", "nxdomain"),
    ("x.y.signed.test.", "A", "nxdomain"),
    ("www.signed.test.", "AAAA", "nodata"),
    ("b.signed.test.", "TXT", "nodata"),  # an empty non-terminal
    ("nothere.nsec3.test.", "A", "nxdomain"),
    ("x.a.b.nsec3.test.", "A", "nxdomain"),
    ("www.nsec3.test.", "AAAA", "nodata"),
    ("b.nsec3.test.", "TXT", "nodata"),  # an empty non-terminal, hashed in the NSEC3 chain
    ("nsec3.test.", "MX", "nodata"),
])
def test_denial_is_proven(world: World, name: str, rdtype: str, denial: str) -> None:
    result = run(world, name, rdtype)
    assert result.status == "secure", result.reason
    assert result.denial == denial
    assert result.rrset == []


def test_nsec3_zone_answers_are_secure(world: World) -> None:
    nsec3_zone = world.zones[dns.name.from_text("nsec3.test.")]
    assert nsec3_zone.get_rdataset("nsec3.test.", "NSEC3PARAM") is not None
    assert not any(node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC) for node in nsec3_zone.nodes.values())
    result = run(world, "www.nsec3.test.")
    assert result.status == "secure", result.reason
    assert result.rrset == ["192.0.2.12"]


def test_cname_hops_are_each_validated(world: World) -> None:
    result = run(world, "alias.test.")
    assert result.status == "secure", result.reason
    assert result.rrset == ["192.0.2.10"]
    assert [c["rrset"] for c in result.chain if c["kind"] == "answer"] == ["alias.test. CNAME", "www.signed.test. A"]
    inside = run(world, "cn.signed.test.")
    assert inside.status == "secure" and inside.rrset == ["192.0.2.10"]


# --- insecure ----------------------------------------------------------------------------------------------


def test_unsigned_delegation_proven_by_nsec_is_insecure(world: World) -> None:
    result = run(world, "www.unsigned.test.")
    assert result.status == "insecure", result.reason
    assert result.rrset == ["192.0.2.11"]
    assert result.chain[-1] == {"kind": "zone", "zone": "unsigned.test.", "ds": [], "verdict": "insecure",
                                "reason": "test. proves there is no DS"}


def test_unsigned_delegation_proven_by_nsec3_is_insecure(world: World) -> None:
    result = run(world, "www.sub.nsec3.test.")
    assert result.status == "insecure", result.reason
    assert result.rrset == ["192.0.2.13"]


def test_signed_zone_without_ds_is_insecure(world: World) -> None:
    # Signatures alone prove nothing: without a DS the chain of trust stops at the parent.
    assert run(world, "www.hidden.test.").status == "insecure"


def test_insecure_cname_hop_makes_the_answer_insecure(world: World) -> None:
    result = run(world, "ualias.test.")
    assert result.status == "insecure"
    assert result.rrset == ["192.0.2.11"]


def test_no_anchor_covering_the_name_is_insecure(world: World) -> None:
    anchors = TrustAnchors(ds={dns.name.from_text("elsewhere."): world.anchors.ds[dns.name.root]})
    result = asyncio.run(validate("www.signed.test.", "A", world.query, anchors))
    assert result.status == "insecure"
    assert "no trust anchor" in result.reason


# --- bogus -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reason"), [
    ("www.expired.test.", "expired signature"),
    ("www.badsig.test.", "bad signature"),
    ("www.nokey.test.", "no matching key"),
    ("nothere.gap.test.", "broken denial"),
    ("nothere.gap3.test.", "broken denial"),
    ("gap.test.", "broken denial"),  # apex NODATA needs the missing apex NSEC
])
def test_faults_are_bogus_with_the_reason(world: World, name: str, reason: str) -> None:
    rdtype = "MX" if name == "gap.test." else "A"
    result = run(world, name, rdtype)
    assert result.status == "bogus"
    assert reason in result.reason


def test_gap_zone_positive_answers_still_validate(world: World) -> None:
    assert run(world, "www.gap.test.").status == "secure"


def test_signatures_expire_with_the_clock(world: World) -> None:
    # Every zone's signatures expire together, the root's first: the anchor's own zone failing leaves the
    # name undecided (a wrong clock, a stale anchor or a stripping resolver), never blamed on the zone.
    result = run(world, "www.signed.test.", now=datetime.now(UTC) + timedelta(days=60))
    assert result.status == "indeterminate"
    assert "expired signature" in result.reason and "trust anchor's zone (.)" in result.reason


def _stripping(world: World, rdtypes: set[dns.rdatatype.RdataType], *, only: dns.rdatatype.RdataType | None = None,
               section: str = "authority") -> Q:
    """A man in the middle removing some record types from answers."""

    async def query(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        response = await world.query(qname, rdtype)
        if only is None or rdtype == only:
            kept = [r for r in getattr(response, section) if r.rdtype not in rdtypes and r.covers not in rdtypes]
            setattr(response, section, kept)
        return response

    return query


def test_unproven_absence_of_ds_is_bogus(world: World) -> None:
    strip = _stripping(world, {dns.rdatatype.NSEC}, only=dns.rdatatype.DS)
    result = run(world, "www.unsigned.test.", query=strip)
    assert result.status == "bogus"
    assert "broken denial" in result.reason


def test_stripped_ds_of_a_signed_zone_is_bogus(world: World) -> None:
    # Downgrade attack: hide the DS and pretend the child is unsigned; the parent's NSEC lists DS.
    async def query(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        response = await world.query(qname, rdtype)
        if rdtype == dns.rdatatype.DS and qname == dns.name.from_text("signed.test."):
            response.answer = []
            zone = world.zones[dns.name.from_text("test.")]
            response.authority = signing.denial_proof(zone, qname, nxdomain=False)
        return response

    result = run(world, "www.signed.test.", query=query)
    assert result.status == "bogus"
    assert "broken denial" in result.reason


def test_stripped_signatures_are_bogus(world: World) -> None:
    """Signatures missing below a root that validates: bogus. Missing everywhere (a resolver that strips
    DNSSEC records): the anchor's own zone fails, so nothing can be decided: indeterminate, never a verdict."""
    def stripping(keep_root: bool) -> Callable[[dns.name.Name, dns.rdatatype.RdataType],
                                                Awaitable[dns.message.Message]]:
        async def query(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
            response = await world.query(qname, rdtype)
            if not (keep_root and qname == dns.name.root):
                response.answer = [r for r in response.answer if r.rdtype != dns.rdatatype.RRSIG]
            return response
        return query

    result = run(world, "www.signed.test.", query=stripping(keep_root=True))
    assert result.status == "bogus"
    assert "missing signature" in result.reason
    result = run(world, "www.signed.test.", query=stripping(keep_root=False))
    assert result.status == "indeterminate"
    assert "missing signature on . DNSKEY" in result.reason and "may not pass DNSSEC records" in result.reason


def test_nxdomain_without_proof_is_bogus(world: World) -> None:
    strip = _stripping(world, {dns.rdatatype.NSEC, dns.rdatatype.NSEC3}, only=dns.rdatatype.A)
    result = run(world, "nothere.signed.test.", query=strip)
    assert result.status == "bogus"
    assert "broken denial" in result.reason


def test_forged_nxdomain_for_an_existing_name_is_bogus(world: World) -> None:
    # A real NSEC from the zone cannot cover a name that exists.
    async def query(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        if qname == dns.name.from_text("www.signed.test.") and rdtype == dns.rdatatype.A:
            forged = await world.query(dns.name.from_text("nothere.signed.test."), rdtype)
            forged.question = (await world.query(qname, rdtype)).question
            return forged
        return await world.query(qname, rdtype)

    result = run(world, "www.signed.test.", query=query)
    assert result.status == "bogus"
    assert "broken denial" in result.reason


# --- indeterminate and limits --------------------------------------------------------------------------------


def test_query_failure_is_indeterminate_with_the_reason(world: World) -> None:
    async def failing(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        if rdtype == dns.rdatatype.DNSKEY and qname == dns.name.from_text("signed.test."):
            raise QueryFailed("timeout after 5s")
        return await world.query(qname, rdtype)

    result = run(world, "www.signed.test.", query=failing)
    assert result.status == "indeterminate"
    assert "timeout after 5s" in result.reason
    assert "signed.test. DNSKEY" in result.reason


def test_any_exception_is_indeterminate(world: World) -> None:
    async def broken(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        raise OSError("network is down")

    result = run(world, "www.signed.test.", query=broken)
    assert result.status == "indeterminate"
    assert "network is down" in result.reason


def test_servfail_is_indeterminate(world: World) -> None:
    async def servfail(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        response = await world.query(qname, rdtype)
        if rdtype == dns.rdatatype.A:
            response.set_rcode(dns.rcode.SERVFAIL)
        return response

    assert run(world, "www.signed.test.", query=servfail).status == "indeterminate"


def test_cname_loop_is_bounded(world: World) -> None:
    result = run(world, "loop1.test.")
    assert result.status == "indeterminate"
    assert len(world.queries) <= MAX_QUERIES


def test_query_budget(world: World) -> None:
    deep = ".".join(["l"] * 13) + ".signed.test."  # 15 labels: within MAX_DEPTH; NXDOMAIN stops the walk
    result = run(world, deep)
    assert result.status == "secure" and result.denial == "nxdomain"
    too_deep = ".".join(["l"] * 20) + ".signed.test."
    assert run(world, too_deep).status == "indeterminate"


def test_garbage_answers_do_not_crash(world: World) -> None:
    async def garbage(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        response = await world.query(qname, rdtype)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.DNSKEY:
                rrset.clear()
                rrset.add(dns.rdata.from_text("IN", "DNSKEY", "257 3 13 AAAA"))
        return response

    result = run(world, "www.signed.test.", query=garbage)
    assert result.status in ("bogus", "indeterminate")
    assert result.reason


def test_invalid_question_is_indeterminate(world: World) -> None:
    assert run(world, "www.signed.test.", "NOT-A-TYPE").status == "indeterminate"


def test_shared_cache_saves_queries(world: World) -> None:
    cache = ValidationCache()
    run(world, "www.signed.test.", cache=cache)
    first = len(world.queries)
    result = run(world, "mail.signed.test.", "MX", cache=cache)
    assert result.status == "secure", result.reason
    assert len(world.queries) < first
    assert [c["zone"] for c in result.chain if c["kind"] == "zone"] == [".", "test.", "signed.test."]


# --- signing module --------------------------------------------------------------------------------------------


def test_signing_skips_delegation_ns_and_glue(world: World) -> None:
    test_zone = world.zones[dns.name.from_text("test.")]
    assert test_zone.get_rdataset("signed.test.", "RRSIG", "NS") is None
    assert test_zone.get_rdataset("ns1.signed.test.", "RRSIG", "A") is None
    assert test_zone.get_rdataset("signed.test.", "RRSIG", "DS") is not None
    assert test_zone.get_rdataset("signed.test.", "NSEC") is not None
    assert test_zone.get_rdataset("ns1.signed.test.", "NSEC") is None


def test_ds_records_and_anchor_text(world: World) -> None:
    keys = world.keys[dns.name.from_text("signed.test.")]
    (ds,) = signing.ds_records(keys)
    assert ds.startswith(f"{keys.ksk_tag} 13 2 ")
    assert signing.ds_records(keys, "SHA384")[0].startswith(f"{keys.ksk_tag} 13 4 ")
    text = signing.trust_anchor_text(world.keys[dns.name.root])
    assert ". 3600 IN DS " in text


def test_sign_zone_rejects_unknown_fault_and_wrong_keys() -> None:
    zone = dns.zone.from_text(SOA, "x.test.", relativize=False)
    with pytest.raises(ValueError, match="unknown signing fault"):
        signing.sign_zone(zone, signing.make_keys("x.test."), fault="nope")
    with pytest.raises(ValueError, match="keys are for"):
        signing.sign_zone(zone, signing.make_keys("y.test."))


def test_relative_zone_and_other_algorithms_sign_and_validate() -> None:
    for algorithm in ("ED25519", "ECDSAP384SHA384", "RSASHA256"):
        zone = dns.zone.from_text(SOA + "www A 192.0.2.1\n", ".", relativize=True)
        keys = signing.make_keys(".", algorithm)
        signing.sign_zone(zone, keys)
        anchors = TrustAnchors(ds={dns.name.root: [dns.rdata.from_text("IN", "DS", d)
                                                   for d in signing.ds_records(keys)]})

        async def query(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                        zone: dns.zone.Zone = zone) -> dns.message.Message:
            response = dns.message.make_response(dns.message.make_query(qname, rdtype, want_dnssec=True))
            for t in (rdtype, dns.rdatatype.RRSIG):
                rds = zone.get_rdataset(qname, t, rdtype if t == dns.rdatatype.RRSIG else dns.rdatatype.NONE)
                if rds is not None:  # a server sends absolute names; this zone keeps them relative
                    absolute = [dns.rdata.from_text("IN", t, r.to_text(origin=zone.origin, relativize=False))
                                for r in rds]
                    response.answer.append(dns.rrset.from_rdata_list(qname, rds.ttl, absolute))
            return response

        result = asyncio.run(validate(".", "SOA", query, anchors))
        assert result.status == "secure", (algorithm, result.reason)


# --- trust anchors -------------------------------------------------------------------------------------------------


def test_root_anchor_file_holds_both_iana_ksks() -> None:
    anchors = load_trust_anchors(Path(__file__).parent.parent / "auditor" / "data" / "root-anchors.zone")
    assert sorted(d.key_tag for d in anchors.ds[dns.name.root]) == [20326, 38696]
    assert {d.algorithm for d in anchors.ds[dns.name.root]} == {8}


def test_anchor_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zone"
    bad.write_text("; comment\n. IN DS 20326 8 2 E06D\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.zone:2: digest length"):
        load_trust_anchors(bad)
    bad.write_text("; comment\n. IN DS 20326 8 X E06D\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.zone:2: expecting an integer"):
        load_trust_anchors(bad)
    wrong = tmp_path / "wrong.zone"
    wrong.write_text("; comment\n\n. IN A 192.0.2.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrong\.zone:3: only DS and DNSKEY"):
        load_trust_anchors(wrong)
    with pytest.raises(ConfigError, match="cannot read"):
        load_trust_anchors(tmp_path / "missing.zone")
    empty = tmp_path / "empty.zone"
    empty.write_text("; nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nothing to trust"):
        load_trust_anchors(empty)


def test_dnskey_anchor_works(world: World) -> None:
    root_keys = world.keys[dns.name.root]
    anchors = TrustAnchors(dnskey={dns.name.root: [root_keys.ksk]})
    result = asyncio.run(validate("www.signed.test.", "A", world.query, anchors))
    assert result.status == "secure", result.reason


def test_cached_failure_stays_bogus(world: World) -> None:
    cache = ValidationCache()
    first = run(world, "www.expired.test.", cache=cache)
    second = run(world, "other.expired.test.", cache=cache)
    assert first.status == second.status == "bogus"
    assert "expired signature" in second.reason


def test_no_network_at_all_propagates(world: World) -> None:
    # Not a verdict about the domain: the scan must stop with exit 3 (auditor.errors.NetworkUnavailable).
    async def offline(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        raise NetworkUnavailable("network unreachable")

    with pytest.raises(NetworkUnavailable):
        run(world, "www.signed.test.", query=offline)


def test_query_via_a_resolver_object(world: World) -> None:
    class FakeResolver:  # the shape of auditor.net.dns.Resolver.query
        async def query(self, name: dns.name.Name, rdtype: str, *, dnssec: bool = False) -> dns.message.Message:
            assert dnssec
            return await world.query(name, dns.rdatatype.from_text(rdtype))

    result = run(world, "www.signed.test.", query=query_via(FakeResolver()))
    assert result.status == "secure", result.reason


def test_resigning_replaces_all_dnssec_records() -> None:
    zone = dns.zone.from_text(SOA + "www A 192.0.2.1\n", "r.test.", relativize=True)
    keys = signing.make_keys("r.test.")
    signing.sign_zone(zone, keys)
    before = zone.to_text()
    signing.sign_zone(zone, keys, nsec3=True)
    signing.sign_zone(zone, keys, fault="bad_signature")
    signing.sign_zone(zone, keys)
    after = zone.to_text()
    assert "NSEC3" not in after
    assert len(after.splitlines()) == len(before.splitlines())


def test_nsec3_opt_out_delegation_is_insecure(world: World) -> None:
    optout = world.zones[dns.name.from_text("optout.test.")]
    assert all(rd.flags == 1 for node in optout.nodes.values()
               for rds in node.rdatasets if rds.rdtype == dns.rdatatype.NSEC3 for rd in rds)
    result = run(world, "www.ins.optout.test.")
    assert result.status == "insecure", result.reason
    assert result.rrset == ["192.0.2.21"]
    assert run(world, "www.optout.test.").status == "secure"
    nx = run(world, "nothere.optout.test.")
    assert nx.status == "secure" and nx.denial == "nxdomain"
