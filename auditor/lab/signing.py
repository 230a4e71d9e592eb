"""DNSSEC signing for the lab's zones: keys, RRSIGs, NSEC/NSEC3 chains, DS records, and deliberate faults.

The lab must show every DNSSEC outcome a real provider can have (secure, insecure, expired, tampered,
orphaned signatures, broken denial), so signing is done here rather than by `dns.dnssec.sign_zone`,
which has no NSEC3 and no way to break things on purpose. The cryptography itself is dnspython's
(`dns.dnssecalgs` key classes, `make_ds`, `nsec3_hash`, through `auditor.net.dnssec.sign_rrset`, which
explains why not `dns.dnssec.sign`): nothing here is hand-written crypto.

`denial_proof` is the server side of authenticated denial: the NSEC/NSEC3 records (with their RRSIGs)
an authoritative server puts in the authority section of an NXDOMAIN or NODATA answer.
"""

from __future__ import annotations

import base64
import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.NSEC3PARAM
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zone
from dns.dnssecalgs.base import GenericPrivateKey

from auditor.net.dnssec import private_key_class, sign_rrset

FAULTS = ("expired", "bad_signature", "no_dnskey_match", "broken_denial")
ALGORITHMS = ("ECDSAP256SHA256", "ECDSAP384SHA384", "ED25519", "RSASHA256")
DEFAULT_VALIDITY = timedelta(days=30)
CLOCK_SKEW = timedelta(hours=1)  # inception in the past so a validator with a slightly slow clock accepts it

# RFC 9276: NSEC3 with 0 extra iterations and an empty salt; SHA-1 is the only NSEC3 hash defined.
NSEC3_HASH_SHA1 = 1
NSEC3_ITERATIONS = 0
DENIAL_INDEX = "_lab_denial_index"  # what sign_zone leaves on a zone: its denial chain, indexed
NSEC3_SALT = b""

_DNSSEC_TYPES = {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.NSEC3PARAM}
_KSK_SIGNED = {dns.rdatatype.DNSKEY, dns.rdatatype.CDS, dns.rdatatype.CDNSKEY}


@dataclass(frozen=True)
class ZoneKeys:
    """A zone's key-signing key and zone-signing key (private halves and their DNSKEY records)."""

    zone: dns.name.Name
    algorithm: dns.dnssec.Algorithm
    ksk_private: GenericPrivateKey
    ksk: dns.rdata.Rdata  # DNSKEY, flags 257
    zsk_private: GenericPrivateKey
    zsk: dns.rdata.Rdata  # DNSKEY, flags 256

    @property
    def ksk_tag(self) -> int:
        return dns.dnssec.key_id(self.ksk)  # type: ignore[arg-type]

    @property
    def zsk_tag(self) -> int:
        return dns.dnssec.key_id(self.zsk)  # type: ignore[arg-type]


def _make_key(algorithm: dns.dnssec.Algorithm, flags: int) -> tuple[GenericPrivateKey, dns.rdata.Rdata]:
    if algorithm.name not in ALGORITHMS:
        raise ValueError(f"unsupported lab signing algorithm {algorithm.name}; use one of {', '.join(ALGORITHMS)}")
    cls: Any = private_key_class(algorithm)
    private = cls.generate(2048) if algorithm == dns.dnssec.Algorithm.RSASHA256 else cls.generate()
    return private, private.public_key().to_dnskey(flags=flags)


def make_keys(zone_name: str, algorithm: str = "ECDSAP256SHA256") -> ZoneKeys:
    """A fresh KSK (flags 257, SEP) and ZSK (flags 256) for `zone_name`. ECDSA P-256 by default: fast."""
    zone = dns.name.from_text(zone_name)
    alg = dns.dnssec.Algorithm.make(algorithm)
    ksk_private, ksk = _make_key(alg, int(dns.dnssec.Flag.ZONE | dns.dnssec.Flag.SEP))
    zsk_private, zsk = _make_key(alg, int(dns.dnssec.Flag.ZONE))
    return ZoneKeys(zone, alg, ksk_private, ksk, zsk_private, zsk)


def ds_records(keys: ZoneKeys, digest: str = "SHA256") -> list[str]:
    """The DS rdata of the KSK, presentation format without owner/TTL (e.g. "12345 13 2 ABCD…").

    The owner in the parent zone is `keys.zone`; `add_ds` puts them there directly.
    """
    ds = dns.dnssec.make_ds(keys.zone, keys.ksk, digest)
    return [ds.to_text()]


def add_ds(parent: dns.zone.Zone, keys: ZoneKeys, ttl: int = 3600, digest: str = "SHA256") -> None:
    """Put the child's DS RRset into the parent zone (do it before signing the parent, so it gets signed)."""
    rdataset = dns.rdataset.from_text("IN", "DS", ttl, *ds_records(keys, digest))
    with parent.writer() as txn:
        txn.replace(keys.zone, rdataset)


def trust_anchor_text(root_keys: ZoneKeys) -> str:
    """DS lines of the lab root's KSK in zone-file format: a trust anchor file for `--trust-anchor`."""
    owner = root_keys.zone.to_text()
    lines = [
        f"; Trust anchor of the auditor lab root ({owner}), not the Internet's root.",
        f"; KSK key tag {root_keys.ksk_tag}, algorithm {root_keys.algorithm.name}.",
    ]
    lines += [f"{owner} 3600 IN DS {ds}" for ds in ds_records(root_keys)]
    return "\n".join(lines) + "\n"


# --- signing ---------------------------------------------------------------------------------------------


def _absolute(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name:
    assert zone.origin is not None
    return name.derelativize(zone.origin)


def _below_cut(name: dns.name.Name, origin: dns.name.Name, delegations: set[dns.name.Name]) -> bool:
    """Whether `name` is at or below one of the zone cuts: its ancestors up to the origin looked up in the
    set (a TLD zone of the synthetic world holds 10,000 delegations; testing each was quadratic)."""
    while name != origin and len(name) > len(origin):
        if name in delegations:
            return True
        name = name.parent()
    return False


def _classify(zone: dns.zone.Zone) -> tuple[list[dns.name.Name], set[dns.name.Name]]:
    """Authoritative owner names (canonical order, occluded glue excluded) and the delegation points among them."""
    origin = zone.origin
    assert origin is not None
    names = sorted(_absolute(zone, n) for n in zone.nodes)
    authoritative: list[dns.name.Name] = []
    delegations: set[dns.name.Name] = set()
    for name in names:
        if _below_cut(name, origin, delegations):
            continue  # glue or other occluded data below a zone cut: not ours to sign or deny
        node = zone.get_node(name)
        if node is None or not any(rds.rdtype not in _DNSSEC_TYPES for rds in node.rdatasets):
            continue
        if name != origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None:
            delegations.add(name)
        authoritative.append(name)
    return authoritative, delegations


def _types_at(zone: dns.zone.Zone, name: dns.name.Name) -> set[dns.rdatatype.RdataType]:
    node = zone.get_node(name)
    if node is None:
        return set()
    return {rds.rdtype for rds in node.rdatasets if rds.rdtype not in _DNSSEC_TYPES}


def _nsec3_owner(name: dns.name.Name, origin: dns.name.Name) -> dns.name.Name:
    digest = dns.dnssec.nsec3_hash(name, NSEC3_SALT, NSEC3_ITERATIONS, NSEC3_HASH_SHA1)
    return dns.name.Name((digest.lower().encode(), *origin.labels))


def _empty_non_terminals(names: list[dns.name.Name], origin: dns.name.Name) -> set[dns.name.Name]:
    existing = set(names)
    ents: set[dns.name.Name] = set()
    for name in names:
        parent = name
        while parent != origin and len(parent) > len(origin):
            parent = parent.parent()
            if parent not in existing:
                ents.add(parent)
    return ents


def _denial_chain(zone: dns.zone.Zone, nsec3: bool, ttl: int, opt_out: bool = False) -> list[dns.rrset.RRset]:
    origin = zone.origin
    assert origin is not None
    names, delegations = _classify(zone)
    if nsec3 and opt_out:
        # RFC 5155 §6: unsigned delegations stay out of the chain; the spans that hide them carry the flag.
        names = [n for n in names if n not in delegations or dns.rdatatype.DS in _types_at(zone, n)]
    chain: list[dns.rrset.RRset] = []
    if not nsec3:
        for i, name in enumerate(names):
            # At an unsigned delegation this is NS + NSEC + RRSIG (of the NSEC): exactly the "no DS" proof.
            types = _types_at(zone, name) | {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}
            nxt = names[(i + 1) % len(names)]
            rdata = dns.rdtypes.ANY.NSEC.NSEC(
                dns.rdataclass.IN, dns.rdatatype.NSEC, nxt,
                dns.rdtypes.ANY.NSEC.Bitmap.from_rdtypes(sorted(types)),
            )
            chain.append(dns.rrset.from_rdata(name, ttl, rdata))
        return chain
    hashed: list[tuple[bytes, set[dns.rdatatype.RdataType], dns.name.Name]] = []
    for name in names:
        types = _types_at(zone, name)
        # An unsigned delegation has no RRSIG at its name (RFC 5155 §7.1: NS only); everything else is signed.
        if name not in delegations or dns.rdatatype.DS in types:
            types.add(dns.rdatatype.RRSIG)
        hashed.append((_nsec3_owner(name, origin).labels[0], types, name))
    for ent in _empty_non_terminals(names, origin):
        hashed.append((_nsec3_owner(ent, origin).labels[0], set(), ent))
    hashed.sort()
    for i, (label, types, _name) in enumerate(hashed):
        next_label = hashed[(i + 1) % len(hashed)][0]
        rdata3 = dns.rdtypes.ANY.NSEC3.NSEC3(
            dns.rdataclass.IN, dns.rdatatype.NSEC3, NSEC3_HASH_SHA1, 1 if opt_out else 0, NSEC3_ITERATIONS, NSEC3_SALT,
            base64.b32hexdecode(next_label.upper()),
            dns.rdtypes.ANY.NSEC3.Bitmap.from_rdtypes(sorted(types)),
        )
        chain.append(dns.rrset.from_rdata(dns.name.Name((label, *origin.labels)), ttl, rdata3))
    return chain


def _tamper(rrsig: dns.rdata.Rdata) -> dns.rdata.Rdata:
    """The same RRSIG with one bit of the signature flipped: well-formed, cryptographically wrong."""
    sig = bytearray(rrsig.signature)  # type: ignore[attr-defined]
    sig[len(sig) // 2] ^= 0x01
    return rrsig.replace(signature=bytes(sig))


def sign_zone(
    zone: dns.zone.Zone,
    keys: ZoneKeys,
    *,
    nsec3: bool = False,
    inception: datetime | None = None,
    expiration: datetime | None = None,
    fault: str | None = None,
    opt_out: bool = False,
) -> None:
    """Sign `zone` in place: DNSKEY at the apex, RRSIGs over every authoritative RRset, and an NSEC chain
    (or NSEC3: SHA-1, no opt-out, 0 extra iterations, empty salt, with NSEC3PARAM).

    Delegation NS and glue are not signed; DS at a delegation is. Any earlier DNSSEC records are replaced,
    so a zone can be re-signed. `fault` breaks the result on purpose:
    - "expired": signatures valid from -30 days to -1 day (unless inception/expiration are given);
    - "bad_signature": every ZSK signature has a flipped bit (the DNSKEY RRset still validates, so the
      failure shows at the answer, as with a corrupted zone file);
    - "no_dnskey_match": data signed by a ZSK that is not in the DNSKEY RRset;
    - "broken_denial": the NSEC/NSEC3 record of the apex is missing, a gap in the chain that leaves every
      NXDOMAIN (its wildcard proof) and apex NODATA unprovable.
    `opt_out` (NSEC3 only, off by default) leaves unsigned delegations out of the chain, as .com does.
    """
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown signing fault {fault!r}; expected one of {', '.join(FAULTS)}")
    origin = zone.origin
    if origin is None or origin != keys.zone:
        raise ValueError(f"keys are for {keys.zone}, the zone is {origin}")
    now = datetime.now(UTC)
    if fault == "expired":
        inception = inception or now - timedelta(days=30)
        expiration = expiration or now - timedelta(days=1)
    inception = inception or now - CLOCK_SKEW
    expiration = expiration or inception + DEFAULT_VALIDITY

    soa = zone.get_rdataset(origin, dns.rdatatype.SOA)
    if soa is None:
        raise ValueError(f"zone {origin} has no SOA at its apex")
    negative_ttl = min(soa.ttl, soa[0].minimum)  # RFC 9077 for NSEC/NSEC3 TTLs

    zsk_private, zsk = keys.zsk_private, keys.zsk
    if fault == "no_dnskey_match":
        zsk_private, zsk = _make_key(keys.algorithm, int(dns.dnssec.Flag.ZONE))

    with zone.writer() as txn:
        for name in list(txn.iterate_names()):
            node = txn.get_node(name)
            # By (type, covers): RRSIG rdatasets are keyed by the type they cover.
            stale = [(rds.rdtype, rds.covers) for rds in node.rdatasets
                     if rds.rdtype in _DNSSEC_TYPES or rds.rdtype == dns.rdatatype.DNSKEY] if node else []
            for rdtype, covers in stale:
                txn.delete(name, rdtype, covers)
        txn.add(origin, soa.ttl, keys.ksk)
        txn.add(origin, soa.ttl, keys.zsk)
        if nsec3:
            param = dns.rdtypes.ANY.NSEC3PARAM.NSEC3PARAM(
                dns.rdataclass.IN, dns.rdatatype.NSEC3PARAM, NSEC3_HASH_SHA1, 0, NSEC3_ITERATIONS, NSEC3_SALT)
            txn.add(origin, 0, param)  # TTL 0 (RFC 5155 §4): resolvers do not use it

    chain = _denial_chain(zone, nsec3, negative_ttl, opt_out)
    if fault == "broken_denial":
        apex_owner = _nsec3_owner(origin, origin) if nsec3 else origin
        chain = [rrset for rrset in chain if rrset.name != apex_owner]

    names, delegations = _classify(zone)
    to_sign: list[dns.rrset.RRset] = list(chain)
    for name in names:
        node = zone.get_node(name)
        assert node is not None
        for rds in node.rdatasets:
            if rds.rdtype in _DNSSEC_TYPES:
                continue
            if name in delegations and rds.rdtype != dns.rdatatype.DS:
                continue  # the child is authoritative for its NS; glue is never signed
            to_sign.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))

    with zone.writer() as txn:
        for rrset in chain:
            txn.add(rrset)
        for rrset in to_sign:
            by_ksk = rrset.rdtype in _KSK_SIGNED
            private, dnskey = (keys.ksk_private, keys.ksk) if by_ksk else (zsk_private, zsk)
            rrsig = sign_rrset(rrset, private, dnskey, origin, inception, expiration, origin)
            if fault == "bad_signature" and not by_ksk:
                rrsig = _tamper(rrsig)
            txn.add(rrset.name, rrset.ttl, rrsig)
    _index_denial(zone)


# --- the server side of authenticated denial ------------------------------------------------------------


def _with_rrsigs(zone: dns.zone.Zone, rrset_name: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                 out: list[dns.rrset.RRset]) -> None:
    rds = zone.get_rdataset(rrset_name, rdtype)
    if rds is None or any(r.name == rrset_name and r.rdtype == rdtype for r in out):
        return
    out.append(dns.rrset.from_rdata_list(rrset_name, rds.ttl, list(rds)))
    sigs = zone.get_rdataset(rrset_name, dns.rdatatype.RRSIG, rdtype)
    if sigs is not None:
        out.append(dns.rrset.from_rdata_list(rrset_name, sigs.ttl, list(sigs)))


def _owners(zone: dns.zone.Zone, rdtype: dns.rdatatype.RdataType) -> list[dns.name.Name]:
    """The zone's NSEC (or NSEC3) owners in canonical order: from the index `sign_zone` leaves on the zone,
    else read from its nodes. Reading every node per negative answer made the lab's answers linear in the
    zone's size (a 10,000-delegation TLD answered each DS question by walking 12,500 nodes)."""
    index: _DenialIndex | None = getattr(zone, DENIAL_INDEX, None)
    if index is not None:
        return index.owners[rdtype]
    return _read_owners(zone, rdtype)


def _nsec3_hashes(zone: dns.zone.Zone, owners: list[dns.name.Name]) -> tuple[dict[bytes, dns.name.Name], list[bytes]]:
    """NSEC3 owners by their hash label, and the labels sorted (an owner sorts as its label: one origin)."""
    index: _DenialIndex | None = getattr(zone, DENIAL_INDEX, None)
    if index is not None and index.hashes is not None:
        return index.hashes
    by_hash = {owner.labels[0].lower(): owner for owner in owners}
    hashes = (by_hash, sorted(by_hash))
    if index is not None:
        index.hashes = hashes
    return hashes


def _read_owners(zone: dns.zone.Zone, rdtype: dns.rdatatype.RdataType) -> list[dns.name.Name]:
    found = [_absolute(zone, n) for n, node in zone.nodes.items()
             if node.get_rdataset(dns.rdataclass.IN, rdtype) is not None]
    return sorted(found)


@dataclass
class _DenialIndex:
    owners: dict[dns.rdatatype.RdataType, list[dns.name.Name]]
    hashes: tuple[dict[bytes, dns.name.Name], list[bytes]] | None = None


def _index_denial(zone: dns.zone.Zone) -> None:
    """Remember the denial chain's owners as signed (a zone changed later must be signed again, which
    refreshes this)."""
    setattr(zone, DENIAL_INDEX, _DenialIndex({t: _read_owners(zone, t)
                                              for t in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)}))


def _predecessor(owners: list[Any], key: Any) -> Any:
    """The last owner <= key in canonical order (`owners` sorted), wrapping to the last one (a ring)."""
    at = bisect.bisect_right(owners, key)
    return owners[at - 1] if at else owners[-1]


def _name_exists(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """Owner name with data, or an empty non-terminal above one."""
    # Nodes holding only NSEC3 (hashed owners) or nothing do not make a name exist.
    return any(_absolute(zone, n).is_subdomain(name) and _types_at(zone, _absolute(zone, n)) for n in zone.nodes)


def _closest_encloser(zone: dns.zone.Zone, qname: dns.name.Name) -> dns.name.Name:
    assert zone.origin is not None
    encloser = qname
    while encloser != zone.origin and not _name_exists(zone, encloser):
        encloser = encloser.parent()
    return encloser


def denial_proof(zone: dns.zone.Zone, qname: dns.name.Name, *, nxdomain: bool) -> list[dns.rrset.RRset]:
    """NSEC or NSEC3 RRsets, each followed by its RRSIG RRset, proving NXDOMAIN or NODATA for `qname`.

    NSEC: NODATA is the NSEC at qname (or the one covering an empty non-terminal); NXDOMAIN is the NSEC
    covering qname plus the one covering the wildcard at the closest encloser (RFC 4035 §3.1.3).
    NSEC3: NODATA is the NSEC3 matching qname; NXDOMAIN is the closest-encloser proof (matching encloser,
    covering next closer name) plus the NSEC3 covering the wildcard (RFC 5155 §7.2.2). Returns [] for an
    unsigned zone. Servers put these in the authority section, after the SOA and its RRSIG.
    """
    origin = zone.origin
    assert origin is not None
    out: list[dns.rrset.RRset] = []
    nsec_owners = _owners(zone, dns.rdatatype.NSEC)
    if nsec_owners:
        _with_rrsigs(zone, _predecessor(nsec_owners, qname), dns.rdatatype.NSEC, out)
        if nxdomain:
            wildcard = dns.name.Name((b"*", *_closest_encloser(zone, qname).labels))
            _with_rrsigs(zone, _predecessor(nsec_owners, wildcard), dns.rdatatype.NSEC, out)
        return out
    nsec3_owners = _owners(zone, dns.rdatatype.NSEC3)
    if not nsec3_owners:
        return out
    by_hash, hashes = _nsec3_hashes(zone, nsec3_owners)

    def nsec3_for(name: dns.name.Name) -> None:
        label = _nsec3_owner(name, origin).labels[0]
        _with_rrsigs(zone, by_hash[_predecessor(hashes, label)], dns.rdatatype.NSEC3, out)

    def hashed(name: dns.name.Name) -> bool:
        return _nsec3_owner(name, origin).labels[0] in by_hash

    if not nxdomain and hashed(qname):
        nsec3_for(qname)
        return out
    # Closest-encloser proof: the nearest ancestor in the chain (with opt-out, an unsigned delegation
    # has no NSEC3 of its own, so a NODATA for its DS is proven this way too, RFC 5155 §7.2.4).
    encloser = qname.parent() if qname != origin else origin
    while encloser != origin and not hashed(encloser):
        encloser = encloser.parent()
    next_closer = dns.name.Name(qname.labels[-(len(encloser) + 1):])
    nsec3_for(encloser)
    nsec3_for(next_closer)
    if nxdomain:
        nsec3_for(dns.name.Name((b"*", *encloser.labels)))
    return out
