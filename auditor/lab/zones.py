"""Lab DNS data: a tree of `dns.zone.Zone`s (root, TLDs, provider zones) with real zone cuts.

Records are added by owner name; each lands in the deepest zone that holds it (the registrable domain,
the last two labels, unless a deeper zone was declared). `finish()` then wires the hierarchy: NS + glue in
every parent, signing bottom-up (children first, so each DS lands in its parent before the parent is
signed), and DS records for signed children. That is what lets a validator walk DS -> DNSKEY -> RRSIG from
the root trust anchor down to any lab name.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.zone

ROOT = dns.name.root
DEFAULT_TTL = 300
# RFC 4034 DNSKEY flags: 256 = zone key, 257 = zone key + secure entry point (what DS records point at).
SEP = 0x0001


@dataclass
class SigningPolicy:
    """How one zone is signed; passed to `auditor.lab.signing.sign_zone` (owned by the DNSSEC engineer)."""

    signed: bool = False
    nsec3: bool = False
    fault: str | None = None  # e.g. expired, bad_signature: interpreted by the signer
    ds_fault: str | None = None  # "missing": no DS in the parent (island); "mismatch": DS of another key
    extra: dict[str, Any] = field(default_factory=dict)


def registrable(name: dns.name.Name) -> dns.name.Name:
    """The default zone for a name: its last two labels (`mx01.posteo.de.` -> `posteo.de.`)."""
    labels = name.labels
    return dns.name.Name(labels[-3:]) if len(labels) > 3 else name


class ZoneSet:
    """Every zone the lab's resolver knows, by origin."""

    def __init__(self) -> None:
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}
        self.policies: dict[dns.name.Name, SigningPolicy] = {}
        self.keys: dict[dns.name.Name, Any] = {}  # what the signer returned per signed zone

    def zone_for(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType | None = None) -> dns.zone.Zone | None:
        """The deepest zone holding `name`; a DS at a zone cut is answered by the parent side."""
        n = name
        if rdtype == dns.rdatatype.DS and n in self.zones and n != ROOT:
            n = n.parent()
        while True:
            zone = self.zones.get(n)
            if zone is not None:
                return zone
            if n == ROOT:
                return None
            n = n.parent()

    def parent_of(self, origin: dns.name.Name) -> dns.zone.Zone | None:
        return None if origin == ROOT else self.zone_for(origin.parent())

    def is_signed(self, origin: dns.name.Name) -> bool:
        zone = self.zones.get(origin)
        return bool(zone and zone.get_rdataset(origin, dns.rdatatype.DNSKEY))

    def view(self, answers: Mapping[str, Sequence[tuple[str, str]]]) -> ZoneSet:
        """A DNS view: a copy in which each name answers with other address records (`(A|AAAA, value)`), as a
        geo-DNS service answers each region. The zones holding those names are copied and re-signed with their
        own keys (the DS in the parent still matches); every other zone is shared with this set."""
        out = ZoneSet()
        out.zones, out.policies, out.keys = dict(self.zones), dict(self.policies), dict(self.keys)
        changed: dict[dns.name.Name, dns.zone.Zone] = {}
        for owner, records in answers.items():
            name = dns.name.from_text(owner)
            zone = self.zone_for(name)
            if zone is None or zone.origin is None:
                raise ValueError(f"DNS view: no lab zone holds {owner}")
            copy_ = changed.setdefault(zone.origin, copy.deepcopy(zone))
            with copy_.writer() as txn:
                for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    txn.delete(name, rdtype)
                for rdtype_text, value in records:
                    rdtype = dns.rdatatype.from_text(rdtype_text)
                    txn.add(name, DEFAULT_TTL, dns.rdata.from_text(dns.rdataclass.IN, rdtype, value))
        for origin, zone in changed.items():
            if origin in self.keys:
                _sign_with(zone, self.keys[origin], self.policies[origin])
            out.zones[origin] = zone
        return out


Signer = Callable[[dns.zone.Zone, SigningPolicy], object]


def signing_module() -> Any | None:
    """`auditor.lab.signing` (the DNSSEC engineer's module), or None when it is not there yet."""
    try:
        return importlib.import_module("auditor.lab.signing")
    except ImportError:
        return None


def default_signer() -> Signer | None:
    """The hook where zones get signed: a fresh KSK/ZSK pair per zone, then `signing.sign_zone`.

    Returns the keys object (the runner writes the root's as the trust anchor). Without the signing
    module, zones stay unsigned (their `dnssec` flag is kept in `ZoneSet.policies`).
    """
    signing = signing_module()
    if signing is None or not hasattr(signing, "sign_zone") or not hasattr(signing, "make_keys"):
        return None

    def signer(zone: dns.zone.Zone, policy: SigningPolicy) -> object:
        assert zone.origin is not None
        keys = signing.make_keys(zone.origin.to_text(), policy.extra.get("algorithm", "ECDSAP256SHA256"))
        _sign_with(zone, keys, policy)
        return keys

    return signer


def _sign_with(zone: dns.zone.Zone, keys: object, policy: SigningPolicy) -> None:
    """`signing.sign_zone` with the zone's keys and policy (earlier signatures are replaced)."""
    signing = signing_module()
    assert signing is not None  # keys exist only when it signed the zone in the first place
    params = inspect.signature(signing.sign_zone).parameters
    # Pass only what the signer accepts, so either side can grow options independently.
    offered: dict[str, Any] = {"nsec3": policy.nsec3, "fault": policy.fault}
    offered.update({k: v for k, v in policy.extra.items() if k != "algorithm"})
    signing.sign_zone(zone, keys, **{k: v for k, v in offered.items() if k in params})


class ZoneBuilder:
    """Collects records by owner name, then builds the `ZoneSet`."""

    def __init__(self, ns_address: str) -> None:
        self.ns_address = ns_address
        self._records: list[tuple[dns.name.Name, dns.rdatatype.RdataType, str, int]] = []
        self._declared: set[dns.name.Name] = {ROOT}
        self.policies: dict[dns.name.Name, SigningPolicy] = {}

    def declare_zone(self, origin: str, policy: SigningPolicy | None = None) -> None:
        name = dns.name.from_text(origin)
        self._declared.add(name)
        if policy is not None:
            self.policies[name] = policy

    def add(self, owner: str, rdtype: str, value: str, ttl: int = DEFAULT_TTL) -> None:
        name = dns.name.from_text(owner)
        self._records.append((name, dns.rdatatype.from_text(rdtype), value, ttl))

    def _origin_for(self, name: dns.name.Name, origins: Container[dns.name.Name]) -> dns.name.Name:
        """The deepest origin that `name` is at or below: its ancestors looked up, not every origin scanned
        (the 10,000-domain synthetic world has 10,000 zones; a scan per record was quadratic)."""
        n = name
        while n != ROOT and n not in origins:
            n = n.parent()
        return n

    def finish(self, signer: Signer | bool | None = True, sign_infrastructure: bool = True) -> ZoneSet:
        """Build every zone; `signer=True` uses the `auditor.lab.signing` hook, False/None signs nothing.

        `sign_infrastructure`: the root and TLD zones are signed (as on the Internet) unless declared
        otherwise, so a provider's own flag decides whether its domain is secure or insecure."""
        origins = set(self._declared)
        for name, _, _, _ in self._records:
            reg = registrable(name)
            origins.add(reg)
            # Every TLD gets its own zone, like the real tree.
            if len(reg) > 2:
                origins.add(dns.name.Name(reg.labels[-2:]))
        zs = ZoneSet()
        for origin in origins:
            zs.zones[origin] = self._new_zone(origin)
            default = SigningPolicy(signed=sign_infrastructure and len(origin) <= 2)
            zs.policies[origin] = self.policies.get(origin, default)
        for name, rdtype, value, ttl in self._records:
            zone = zs.zones[self._origin_for(name, origins)]
            rds = zone.find_rdataset(name, rdtype, create=True)
            rds.add(_rdata(rdtype, value), ttl)
        # Delegations: NS + glue in the parent of every zone but the root.
        for origin, zone in zs.zones.items():
            parent = zs.parent_of(origin)
            if parent is None:
                continue
            ns = zone.get_rdataset(origin, dns.rdatatype.NS)
            assert ns is not None
            parent.replace_rdataset(origin, ns.copy())
            for rr in ns:
                target = rr.target
                if target.is_subdomain(origin):
                    glue = zone.get_rdataset(target, dns.rdatatype.A)
                    if glue is not None:
                        parent.replace_rdataset(target, glue.copy())
        real_signer = default_signer() if signer is True else (signer or None)
        # Bottom-up: deepest zones first, so a child's DS is in its parent before the parent is signed.
        for origin in sorted(zs.zones, key=len, reverse=True):
            zone = zs.zones[origin]
            policy = zs.policies[origin]
            if policy.signed and real_signer is not None:
                zs.keys[origin] = real_signer(zone, policy)
                if policy.ds_fault == "missing":
                    continue
                # The parent's DS (written before the parent itself is signed, since children go first).
                if origin != ROOT:
                    parent = zs.parent_of(origin)
                    ds = ds_for(zone, broken=policy.ds_fault == "mismatch")
                    if parent is not None and ds is not None:
                        parent.replace_rdataset(origin, ds)
        return zs

    def _new_zone(self, origin: dns.name.Name) -> dns.zone.Zone:
        zone = dns.zone.Zone(origin, relativize=False)
        ns_name = dns.name.from_text("a.root-servers.net.") if origin == ROOT else dns.name.Name(
            (b"ns1", *origin.labels)
        )
        mbox = "hostmaster.lab." if origin == ROOT else f"hostmaster.{origin.to_text()}"
        soa = f"{ns_name.to_text()} {mbox} 2026010101 3600 600 604800 300"
        zone.find_rdataset(origin, dns.rdatatype.SOA, create=True).add(_rdata(dns.rdatatype.SOA, soa), 3600)
        ns = _rdata(dns.rdatatype.NS, ns_name.to_text())
        zone.find_rdataset(origin, dns.rdatatype.NS, create=True).add(ns, 86400)
        if ns_name.is_subdomain(origin):
            zone.find_rdataset(ns_name, dns.rdatatype.A, create=True).add(_rdata(dns.rdatatype.A, self.ns_address),
                                                                          86400)
        return zone


@functools.lru_cache(maxsize=65536)
def _rdata(rdtype: dns.rdatatype.RdataType, value: str) -> dns.rdata.Rdata:
    """Parsed once per distinct value: rdata are immutable, and a synthetic world repeats the same MX, NS and
    SPF values across thousands of zones (parsing them was a third of a 10,000-domain lab's start-up)."""
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=ROOT, relativize=False)


def ds_for(zone: dns.zone.Zone, broken: bool = False) -> dns.rdataset.Rdataset | None:
    """DS records (SHA-256) for the zone's secure-entry-point keys (all keys when none is flagged SEP).

    `broken`: a DS whose digest matches no key (a botched key rollover at the registrar)."""
    origin = zone.origin
    assert origin is not None
    keys = zone.get_rdataset(origin, dns.rdatatype.DNSKEY)
    if not keys:
        return None
    chosen = [k for k in keys if k.flags & SEP] or list(keys)
    out = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DS)
    for key in chosen:
        assert isinstance(key, dns.rdtypes.ANY.DNSKEY.DNSKEY)
        ds: dns.rdata.Rdata = dns.dnssec.make_ds(origin, key, "SHA256")
        if broken:
            ds = ds.replace(digest=bytes(b ^ 0xFF for b in ds.digest))  # type: ignore[attr-defined]
        out.add(ds, keys.ttl)
    return out
