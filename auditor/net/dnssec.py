"""DNSSEC validation from a trust anchor: secure / insecure / bogus / indeterminate, with the chain as evidence.

We validate ourselves instead of trusting a resolver's AD bit, so a DPO can show *why* a name is secure.
Answers come from an injected `Query` function (the resolver in net.dns, the lab, or a test), asked with
DO+CD so bogus data still comes back and can be named as such.

Crypto note: dnspython 2.9's `dns.dnssec.sign/validate` need cryptography>=50, while sslyze pins
cryptography<47. The per-algorithm key classes of `dns.dnssecalgs` and dnspython's canonical
signature-data builder work with either, so `sign_rrset` / `verify_rrsig` below glue those together:
the framing and the crypto are dnspython's and cryptography's, nothing is hand-rolled.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import dns.dnssec
import dns.dnssectypes
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zonefile
from cryptography.exceptions import InvalidSignature
from dns.dnssecalgs.base import GenericPrivateKey, GenericPublicKey
from dns.dnssecalgs.ecdsa import PrivateECDSAP256SHA256, PrivateECDSAP384SHA384
from dns.dnssecalgs.eddsa import PrivateED448, PrivateED25519
from dns.dnssecalgs.rsa import (
    PrivateRSASHA1,
    PrivateRSASHA1NSEC3SHA1,
    PrivateRSASHA256,
    PrivateRSASHA512,
)

from auditor.errors import ConfigError, NetworkUnavailable
from auditor.lru import Lru

Algorithm = dns.dnssectypes.Algorithm

# RFC 8624 "MUST/RECOMMENDED validate" algorithms. Others (DSA, GOST, RSAMD5) make a zone insecure, not bogus.
_KEY_CLASSES: dict[Algorithm, type[GenericPrivateKey]] = {
    Algorithm.RSASHA1: PrivateRSASHA1,
    Algorithm.RSASHA1NSEC3SHA1: PrivateRSASHA1NSEC3SHA1,
    Algorithm.RSASHA256: PrivateRSASHA256,
    Algorithm.RSASHA512: PrivateRSASHA512,
    Algorithm.ECDSAP256SHA256: PrivateECDSAP256SHA256,
    Algorithm.ECDSAP384SHA384: PrivateECDSAP384SHA384,
    Algorithm.ED25519: PrivateED25519,
    Algorithm.ED448: PrivateED448,
}
SUPPORTED_ALGORITHMS = frozenset(_KEY_CLASSES)
SUPPORTED_DIGESTS = frozenset({dns.dnssectypes.DSDigest.SHA1, dns.dnssectypes.DSDigest.SHA256,
                               dns.dnssectypes.DSDigest.SHA384})


class SignatureInvalid(Exception):
    """The signature does not verify with that key (or the key/algorithm is unusable)."""


def private_key_class(algorithm: Algorithm) -> type[GenericPrivateKey]:
    try:
        return _KEY_CLASSES[algorithm]
    except KeyError:
        raise ValueError(f"unsupported DNSSEC algorithm {algorithm!r}") from None


def public_key(dnskey: dns.rdata.Rdata) -> GenericPublicKey:
    """The public key of a DNSKEY; SignatureInvalid if the algorithm is unsupported or the key malformed."""
    cls = _KEY_CLASSES.get(dnskey.algorithm)  # type: ignore[attr-defined]
    if cls is None:
        raise SignatureInvalid(f"unsupported algorithm {dnskey.algorithm}")  # type: ignore[attr-defined]
    try:
        return cls.public_cls.from_dnskey(dnskey)  # type: ignore[arg-type]
    except (ValueError, TypeError, IndexError, struct.error) as exc:
        raise SignatureInvalid(f"malformed public key ({exc})") from exc


def _signature_data(rrset: dns.rrset.RRset, rrsig: Any, origin: dns.name.Name | None = None) -> bytes:
    # dnspython's canonical form (RFC 4034 §3.1.8.1, §6): private, but pure Python and stable since 2.3.
    try:
        return dns.dnssec._make_rrsig_signature_data(rrset, rrsig, origin)
    except dns.dnssec.ValidationFailure as exc:
        raise SignatureInvalid(str(exc)) from exc


def sign_rrset(rrset: dns.rrset.RRset, private: GenericPrivateKey, dnskey: dns.rdata.Rdata,
               signer: dns.name.Name, inception: datetime, expiration: datetime,
               origin: dns.name.Name | None = None) -> dns.rdata.Rdata:
    """An RRSIG over `rrset` (absolute owner) by `private`, whose public half is `dnskey`.

    `origin` makes relative names inside the rdata absolute (zones loaded from text keep them relative).
    """
    labels = len(rrset.name) - 1 - (1 if rrset.name.is_wild() else 0)
    template = dns.rdtypes.ANY.RRSIG.RRSIG(
        rrset.rdclass, dns.rdatatype.RRSIG, rrset.rdtype, dnskey.algorithm,  # type: ignore[attr-defined]
        labels, rrset.ttl, int(expiration.timestamp()), int(inception.timestamp()),
        dns.dnssec.key_id(dnskey), signer, b"",  # type: ignore[arg-type]
    )
    signature = private.sign(_signature_data(rrset, template, origin))
    return template.replace(signature=signature)


def verify_rrsig(rrset: dns.rrset.RRset, rrsig: Any, dnskey: dns.rdata.Rdata) -> None:
    """Check the signature bytes only (times, tags and signer are the caller's checks); SignatureInvalid."""
    key = public_key(dnskey)
    try:
        key.verify(rrsig.signature, _signature_data(rrset, rrsig))
    except InvalidSignature as exc:
        raise SignatureInvalid("signature does not verify") from exc
    except (ValueError, TypeError) as exc:  # malformed signature bytes from a hostile server
        raise SignatureInvalid(f"malformed signature ({exc})") from exc


# --- trust anchors ---------------------------------------------------------------------------------------

MAX_ANCHOR_BYTES = 1 << 20


@dataclass(frozen=True)
class TrustAnchors:
    """DS and/or DNSKEY records we trust without proof, by owner (usually only the root)."""

    ds: dict[dns.name.Name, list[Any]] = field(default_factory=dict)
    dnskey: dict[dns.name.Name, list[Any]] = field(default_factory=dict)

    def closest(self, name: dns.name.Name) -> dns.name.Name | None:
        """The deepest anchored zone at or above `name`."""
        owners = [o for o in (*self.ds, *self.dnskey) if name.is_subdomain(o)]
        return max(owners, key=len) if owners else None


def load_trust_anchors(path: Path) -> TrustAnchors:
    """Read DS/DNSKEY records in zone-file format (any owners); ConfigError with file and line on a problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the trust anchor file ({exc.strerror})") from exc
    if len(data) > MAX_ANCHOR_BYTES:
        raise ConfigError(f"{path}: trust anchor file larger than {MAX_ANCHOR_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        rrsets = dns.zonefile.read_rrsets(text, origin=dns.name.root, relativize=False, rdclass=None,
                                          default_ttl=3600)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except dns.exception.DNSException as exc:
        raise ConfigError(_located(str(exc), path, text)) from exc
    ds: dict[dns.name.Name, list[Any]] = {}
    dnskey: dict[dns.name.Name, list[Any]] = {}
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.DS:
            ds.setdefault(rrset.name, []).extend(rrset)
        elif rrset.rdtype == dns.rdatatype.DNSKEY:
            dnskey.setdefault(rrset.name, []).extend(
                r for r in rrset if r.flags & dns.dnssec.Flag.ZONE and not r.flags & dns.dnssec.Flag.REVOKE)
        else:
            line = _line_of(text, rrset.name, rrset.rdtype)
            raise ConfigError(f"{path}:{line}: only DS and DNSKEY records belong in a trust anchor file, "
                              f"found {dns.rdatatype.to_text(rrset.rdtype)} at {rrset.name}")
    if not ds and not dnskey:
        raise ConfigError(f"{path}: no DS or DNSKEY record: nothing to trust")
    return TrustAnchors(ds, dnskey)


def _located(message: str, path: Path, text: str) -> str:
    """dnspython says "<input>:LINE: message", and LINE is one too far when the error comes at the end of a
    record (it has read the newline already): step back over blank and comment lines, and name the file."""
    match = re.match(r"<input>:(\d+): (.*)", message, re.S)
    if not match:
        return f"{path}: {message}"
    line, detail = int(match.group(1)), match.group(2)
    lines = text.splitlines()
    while line > 1 and (line > len(lines) or not lines[line - 1].split(";")[0].strip()):
        line -= 1
    return f"{path}:{line}: {detail}"


def _line_of(text: str, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> int:
    """Best-effort line number of a record, for error messages only."""
    wanted = dns.rdatatype.to_text(rdtype)
    for number, line in enumerate(text.splitlines(), 1):
        if wanted in line.upper().split(";")[0].split():
            return number
    return 1


# --- validation --------------------------------------------------------------------------------------------

Query = Callable[[dns.name.Name, dns.rdatatype.RdataType], Awaitable[dns.message.Message]]
Status = Literal["secure", "insecure", "bogus", "indeterminate"]

MAX_QUERIES = 30
MAX_DEPTH = 16  # labels walked below the anchor, per name
MAX_CNAME_HOPS = 8  # each hop is walked on its own (with the shared cache and query budget)
MAX_VERIFICATIONS = 64  # signature checks per validation: bounds KeyTrap-style CPU exhaustion (CVE-2023-50387)
MAX_RRS_CONSIDERED = 64  # RRSIGs / keys / DS / denial records looked at per RRset
MAX_NSEC3_ITERATIONS = 150  # RFC 9276 §3.2: above this a validator may treat the zone as insecure


class QueryFailed(Exception):
    """The query function could not get an answer (timeout, SERVFAIL, …)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _Stop(Exception):
    """Ends a validation early with a verdict (bogus or indeterminate)."""

    def __init__(self, status: Status, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


@dataclass
class DnssecResult:
    status: Status
    reason: str
    rrset: list[str] = field(default_factory=list)  # presentation format of the final RRset (evidence even if bogus)
    denial: Literal["nxdomain", "nodata"] | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    wire_b64: str | None = None  # the final answer (RRset or denial with its RRSIGs), DNS wire format, base64

    def evidence(self) -> dict[str, Any]:
        return {"dnssec": self.status, "reason": self.reason, "rrset": self.rrset, "denial": self.denial,
                "chain": self.chain, "wire_b64": self.wire_b64}


@dataclass
class _Zone:
    """A zone reached on the walk: secure with validated keys, or insecure (keys empty)."""

    name: dns.name.Name
    secure: bool
    keys: list[Any] = field(default_factory=list)
    reason: str = ""
    bogus: str | None = None  # set when the keys failed: a cached failure stays a failure


# Zones and zone cuts remembered per run: the shared ones (root, TLDs, hosting zones) stay, a campaign's
# one-off domains are forgotten.
VALIDATION_CACHE_ENTRIES = 4096


@dataclass
class ValidationCache:
    """DNSKEY and DS outcomes by zone/name, shareable across validations of one run (same anchors, same clock).

    Bounded (auditor.lru): `zones` and `chain` are written and read together, so they forget the same zones."""

    zones: Lru[dns.name.Name, _Zone] = field(default_factory=lambda: Lru(VALIDATION_CACHE_ENTRIES))
    cuts: Lru[dns.name.Name, tuple[str, Any]] = field(default_factory=lambda: Lru(VALIDATION_CACHE_ENTRIES))
    chain: Lru[dns.name.Name, dict[str, Any]] = field(default_factory=lambda: Lru(VALIDATION_CACHE_ENTRIES))


_RANK: dict[str, int] = {"secure": 0, "insecure": 1, "indeterminate": 2, "bogus": 3}


def _ts(value: int) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sig_summary(rrsigs: list[Any]) -> list[dict[str, Any]]:
    return [{"signer": r.signer.to_text(), "tag": r.key_tag, "algorithm": int(r.algorithm),
             "expiration": _ts(r.expiration)} for r in rrsigs[:MAX_RRS_CONSIDERED]]


def _key_summary(keys: list[Any]) -> list[dict[str, Any]]:
    return [{"tag": dns.dnssec.key_id(k), "algorithm": int(k.algorithm), "flags": int(k.flags)}
            for k in keys[:MAX_RRS_CONSIDERED]]


class _Validator:
    def __init__(self, query: Query, anchors: TrustAnchors, now: datetime, cache: ValidationCache) -> None:
        self.query_fn, self.anchors, self.cache = query, anchors, cache
        self.now = int(now.timestamp())
        self.queries = 0
        self.verifications = 0
        self.chain: list[dict[str, Any]] = []
        self.last_answer: dns.message.Message | None = None  # the response the verdict rests on

    # -- plumbing --

    async def ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        if self.queries >= MAX_QUERIES:
            raise _Stop("indeterminate", f"query budget of {MAX_QUERIES} exhausted")
        self.queries += 1
        label = f"{name} {dns.rdatatype.to_text(rdtype)}"
        try:
            response = await self.query_fn(name, rdtype)
        except QueryFailed as exc:
            raise _Stop("indeterminate", f"{label}: {exc.reason}") from exc
        except NetworkUnavailable:
            raise  # no network at all: the scan stops with exit 3 instead of a report full of "indeterminate"
        except Exception as exc:  # the caller's transport: any failure is "could not tell", never a verdict
            raise _Stop("indeterminate", f"{label}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(response, dns.message.Message):
            raise _Stop("indeterminate", f"{label}: no DNS message returned")
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise _Stop("indeterminate", f"{label}: {dns.rcode.to_text(rcode)}")
        return response

    def _note(self, entry: dict[str, Any]) -> None:
        if len(self.chain) < 4 * MAX_DEPTH:
            self.chain.append(dict(entry))  # a copy: cached entries are shared between results

    @staticmethod
    def find(section: list[dns.rrset.RRset], name: dns.name.Name, rdtype: dns.rdatatype.RdataType,
             covers: dns.rdatatype.RdataType = dns.rdatatype.NONE) -> dns.rrset.RRset | None:
        for rrset in section:
            if rrset.name == name and rrset.rdtype == rdtype and rrset.covers == covers:
                return rrset
        return None

    def rrsigs_for(self, section: list[dns.rrset.RRset], rrset: dns.rrset.RRset) -> list[Any]:
        sigs = self.find(section, rrset.name, dns.rdatatype.RRSIG, rrset.rdtype)
        return list(sigs)[:MAX_RRS_CONSIDERED] if sigs is not None else []

    def verify(self, rrset: dns.rrset.RRset, rrsigs: list[Any], zone: dns.name.Name, keys: list[Any]) -> str | None:
        """None if some RRSIG by `zone` verifies with one of `keys` now; else the reason it failed."""
        if len(rrset) > 4 * MAX_RRS_CONSIDERED:
            return "RRset too large to validate"
        failures: set[str] = set()
        for sig in rrsigs:
            if sig.signer != zone or sig.type_covered != rrset.rdtype:
                failures.add("no matching key")
                continue
            if sig.labels > len(rrset.name) - 1:
                failures.add("bad signature")
                continue
            candidates = [k for k in keys if k.algorithm == sig.algorithm and dns.dnssec.key_id(k) == sig.key_tag
                          and k.flags & dns.dnssec.Flag.ZONE and k.protocol == 3]
            if not candidates:
                failures.add("no matching key")
                continue
            if sig.expiration < self.now:
                failures.add("expired signature")
                continue
            if sig.inception > self.now:
                failures.add("signature not yet valid")
                continue
            for key in candidates[:4]:  # key-tag collisions are legal but rare; more is an attack
                if self.verifications >= MAX_VERIFICATIONS:
                    raise _Stop("indeterminate", f"more than {MAX_VERIFICATIONS} signature checks (possible KeyTrap)")
                self.verifications += 1
                try:
                    verify_rrsig(rrset, sig, key)
                    return None
                except SignatureInvalid:
                    failures.add("bad signature")
        if not rrsigs:
            return "missing signature"
        for reason in ("expired signature", "signature not yet valid", "bad signature", "no matching key"):
            if reason in failures:
                return reason
        return "no valid signature"

    def require(self, rrset: dns.rrset.RRset, section: list[dns.rrset.RRset], zone: _Zone, what: str) -> list[Any]:
        sigs = self.rrsigs_for(section, rrset)
        failure = self.verify(rrset, sigs, zone.name, zone.keys)
        if failure:
            self._note({"kind": "rrset", "zone": zone.name.to_text(), "rrset": what, "rrsig": _sig_summary(sigs),
                        "verdict": f"bogus: {failure}"})
            raise _Stop("bogus", f"{failure} on {what}")
        return sigs

    # -- keys --

    async def zone_keys(self, zone: dns.name.Name, ds: list[Any], anchored_keys: list[Any]) -> _Zone:
        """Validate the DNSKEY RRset of `zone` from its DS records (or DNSKEY anchors)."""
        cached = self.cache.zones.get(zone)
        if cached is not None:
            if zone in self.cache.chain:
                self._note(self.cache.chain[zone])
            if cached.bogus:
                raise _Stop("bogus", cached.bogus)
            return cached
        entry: dict[str, Any] = {"kind": "zone", "zone": zone.to_text(), "ds": [d.to_text() for d in ds[:16]]}
        usable_ds = [d for d in ds[:MAX_RRS_CONSIDERED]
                     if d.algorithm in SUPPORTED_ALGORITHMS and d.digest_type in SUPPORTED_DIGESTS]
        if ds and not usable_ds and not anchored_keys:
            # RFC 4035 §5.2: only unknown algorithms/digests means we cannot validate, so the zone is insecure.
            result = _Zone(zone, False, reason=f"{zone}: DS uses only unsupported algorithms or digests")
            entry["verdict"] = "insecure: unsupported algorithm"
            return self._remember(zone, result, entry)
        response = await self.ask(zone, dns.rdatatype.DNSKEY)
        dnskeys = self.find(response.answer, zone, dns.rdatatype.DNSKEY)
        if dnskeys is None:
            raise self._failed(zone, entry, "no DNSKEY", f"no matching key: {zone} has a DS but publishes no DNSKEY")
        keys = list(dnskeys)[:MAX_RRS_CONSIDERED]
        entry["dnskey"] = _key_summary(keys)
        # A DNSKEY anchor is trusted even if the zone stopped serving it (it may still sign the DNSKEY RRset).
        trusted = list(anchored_keys)
        for d in usable_ds:
            for key in keys:
                if key.algorithm != d.algorithm or dns.dnssec.key_id(key) != d.key_tag:
                    continue
                try:
                    if dns.dnssec.make_ds(zone, key, d.digest_type) == d:
                        trusted.append(key)
                except (ValueError, dns.dnssec.UnsupportedAlgorithm):
                    continue
        sigs = self.rrsigs_for(response.answer, dnskeys)
        entry["rrsig"] = _sig_summary(sigs)
        if not trusted:
            raise self._failed(zone, entry, "no matching key", f"no matching key: no DNSKEY of {zone} matches its DS")
        # The DNSKEY RRset must be signed by a key the DS (or anchor) vouches for.
        failure = self.verify(dnskeys, sigs, zone, trusted)
        if failure:
            raise self._failed(zone, entry, failure, f"{failure} on {zone} DNSKEY")
        entry["verdict"] = "secure"
        return self._remember(zone, _Zone(zone, True, keys), entry)

    def _failed(self, zone: dns.name.Name, entry: dict[str, Any], verdict: str, reason: str) -> _Stop:
        entry["verdict"] = f"bogus: {verdict}"
        self._remember(zone, _Zone(zone, False, bogus=reason), entry)
        return _Stop("bogus", reason)

    def _remember(self, zone: dns.name.Name, result: _Zone, entry: dict[str, Any]) -> _Zone:
        self.cache.zones[zone] = result
        self.cache.chain[zone] = entry
        self._note(entry)
        return result

    # -- walking down --

    async def walk(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Zone:
        """The zone holding `qname` (for DS: its parent side), validated from the closest anchor down."""
        top = self.anchors.closest(qname)
        if top is None:
            return _Zone(qname, False, reason=f"no trust anchor covers {qname}")
        try:
            zone = await self.zone_keys(top, self.anchors.ds.get(top, []), self.anchors.dnskey.get(top, []))
        except _Stop as stop:
            if stop.status != "bogus":
                raise
            # The anchor's own zone is ours to trust, not the audited domain's to fail: a resolver that does not
            # pass DNSSEC records (or an out-of-date anchor) leaves every name undecided, never bogus.
            raise _Stop("indeterminate", f"the trust anchor's zone ({top}) does not validate through this "
                                         f"resolver ({stop.reason}): it may not pass DNSSEC records, or the "
                                         "trust anchor is out of date") from stop
        # A DS RRset lives in the parent: stop one label above the name when asked for DS.
        last = qname.parent() if rdtype == dns.rdatatype.DS and qname != dns.name.root else qname
        depth = len(last) - len(top)
        if depth > MAX_DEPTH:
            raise _Stop("indeterminate", f"{qname} is {depth} labels below its trust anchor (limit {MAX_DEPTH})")
        for i in range(depth - 1, -1, -1):
            if not zone.secure:
                return zone
            candidate = dns.name.Name(last.labels[i:])
            step = await self.cut(candidate, zone)
            if step is None:
                return zone  # the name does not exist: the final answer's denial is checked in `zone`
            zone = step
        return zone

    async def cut(self, candidate: dns.name.Name, zone: _Zone) -> _Zone | None:
        """Is there a zone cut at `candidate` (a child of or below `zone`)? The child zone, the same zone,
        or None when the parent proved that `candidate` does not exist."""
        cached = self.cache.cuts.get(candidate)
        if cached is not None:
            kind, value = cached
            if kind == "child":
                return await self.zone_keys(candidate, value, [])
            if kind == "insecure":
                self._note({"kind": "zone", "zone": candidate.to_text(), "ds": [], "verdict": "insecure"})
                return _Zone(candidate, False, reason=f"{zone.name} proves that {candidate} has no DS")
            return None if kind == "nxdomain" else zone
        response = await self.ask(candidate, dns.rdatatype.DS)
        ds = self.find(response.answer, candidate, dns.rdatatype.DS)
        if ds is not None:
            self.require(ds, response.answer, zone, f"{candidate} DS")
            self.cache.cuts[candidate] = ("child", list(ds))
            return await self.zone_keys(candidate, list(ds), [])
        cname = self.find(response.answer, candidate, dns.rdatatype.CNAME)
        if cname is not None:
            self.require(cname, response.answer, zone, f"{candidate} CNAME")
            self.cache.cuts[candidate] = ("same", None)
            return zone  # an alias is never a zone cut
        if response.rcode() == dns.rcode.NXDOMAIN:
            self.prove_nxdomain(candidate, response, zone)
            self.cache.cuts[candidate] = ("nxdomain", None)
            return None
        kind = self.prove_no_ds(candidate, response, zone)
        self.cache.cuts[candidate] = (kind, None)
        if kind == "insecure":
            self._note({"kind": "zone", "zone": candidate.to_text(), "ds": [], "verdict": "insecure",
                        "reason": f"{zone.name} proves there is no DS"})
            return _Zone(candidate, False, reason=f"{zone.name} proves that {candidate} has no DS")
        return zone

    # -- authenticated denial (RFC 4035 §5.4, RFC 5155 §8) --

    def denial(self, response: dns.message.Message, zone: _Zone) -> tuple[list[Any], list[Any]]:
        """The validated NSEC and NSEC3 records of `zone` in the authority section, as (owner, rdata)."""
        nsecs: list[Any] = []
        nsec3s: list[Any] = []
        for rrset in response.authority[:MAX_RRS_CONSIDERED]:
            if rrset.rdtype not in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3):
                continue
            if not rrset.name.is_subdomain(zone.name):
                continue  # someone else's records cannot prove anything about this zone
            if rrset.rdtype == dns.rdatatype.NSEC3 and rrset.name.parent() != zone.name:
                continue
            self.require(rrset, response.authority, zone, f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}")
            target = nsecs if rrset.rdtype == dns.rdatatype.NSEC else nsec3s
            target.extend((rrset.name, rd) for rd in list(rrset)[:1])
        return nsecs, nsec3s

    @staticmethod
    def _broken(what: str) -> _Stop:
        return _Stop("bogus", f"broken denial: {what}")

    def prove_nxdomain(self, qname: dns.name.Name, response: dns.message.Message, zone: _Zone) -> None:
        nsecs, nsec3s = self.denial(response, zone)
        if nsecs:
            covering = _nsec_covering(nsecs, qname)
            if covering is None:
                raise self._broken(f"no NSEC covers {qname}")
            owner, rd = covering
            if qname.is_subdomain(owner) and _delegation(rd.windows):
                raise self._broken(f"NSEC at {owner} is from above a zone cut")
            encloser = max(_common(qname, owner), _common(qname, rd.next), key=len)
            wildcard = dns.name.Name((b"*", *encloser.labels))
            if _nsec_covering(nsecs, wildcard) is None:
                raise self._broken(f"no NSEC proves that {wildcard} does not exist")
            return
        if nsec3s:
            n3 = _Nsec3Set(nsec3s, zone.name)
            encloser3, _opt_out = n3.closest_encloser(qname)
            if encloser3 is None:
                raise self._broken(f"no NSEC3 closest-encloser proof for {qname}")
            if n3.covering(dns.name.Name((b"*", *encloser3.labels))) is None:
                raise self._broken(f"no NSEC3 proves that *.{encloser3} does not exist")
            return
        raise self._broken(f"NXDOMAIN for {qname} without NSEC or NSEC3")

    def prove_nodata(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                     response: dns.message.Message, zone: _Zone) -> None:
        nsecs, nsec3s = self.denial(response, zone)
        if nsecs:
            match = next((rd for owner, rd in nsecs if owner == qname), None)
            if match is not None:
                if _has(match.windows, rdtype) or _has(match.windows, dns.rdatatype.CNAME):
                    raise self._broken(f"NSEC at {qname} lists {dns.rdatatype.to_text(rdtype)}")
                if rdtype != dns.rdatatype.DS and _delegation(match.windows):
                    raise self._broken(f"NSEC at {qname} is the parent side of a delegation")
                return
            covering = _nsec_covering(nsecs, qname)
            if covering is not None and covering[1].next.is_subdomain(qname) and covering[1].next != qname:
                return  # an empty non-terminal: nothing at qname, something below it
            raise self._broken(f"no NSEC proves that {qname} has no {dns.rdatatype.to_text(rdtype)}")
        if nsec3s:
            n3 = _Nsec3Set(nsec3s, zone.name)
            match3 = n3.matching(qname)
            if match3 is not None:
                if _has(match3.windows, rdtype) or _has(match3.windows, dns.rdatatype.CNAME):
                    raise self._broken(f"NSEC3 for {qname} lists {dns.rdatatype.to_text(rdtype)}")
                if rdtype != dns.rdatatype.DS and _delegation(match3.windows):
                    raise self._broken(f"NSEC3 for {qname} is the parent side of a delegation")
                return
            raise self._broken(f"no NSEC3 matches {qname}")
        raise self._broken(f"NODATA for {qname} {dns.rdatatype.to_text(rdtype)} without NSEC or NSEC3")

    def prove_no_ds(self, candidate: dns.name.Name, response: dns.message.Message, zone: _Zone) -> str:
        """'insecure' (a delegation without DS), or 'same' (no zone cut at candidate); bogus if unproven."""
        nsecs, nsec3s = self.denial(response, zone)
        windows = None
        if nsecs:
            match = next((rd for owner, rd in nsecs if owner == candidate), None)
            if match is None:
                covering = _nsec_covering(nsecs, candidate)
                if covering is not None and covering[1].next.is_subdomain(candidate):
                    return "same"  # empty non-terminal: no cut here
                raise self._broken(f"no NSEC proves that {candidate} has no DS")
            windows = match.windows
        elif nsec3s:
            n3 = _Nsec3Set(nsec3s, zone.name)
            match3 = n3.matching(candidate)
            if match3 is None:
                encloser, opt_out = n3.closest_encloser(candidate)
                if encloser is not None and opt_out:
                    return "insecure"  # RFC 5155 §8.6: an opt-out span may hide an unsigned delegation
                raise self._broken(f"no NSEC3 proves that {candidate} has no DS")
            windows = match3.windows
        else:
            raise self._broken(f"no NSEC or NSEC3 proves that {candidate} has no DS")
        if _has(windows, dns.rdatatype.SOA):
            raise self._broken(f"the DS denial for {candidate} comes from the child zone, not from {zone.name}")
        if _has(windows, dns.rdatatype.DS):
            raise self._broken(f"{zone.name} lists a DS at {candidate} but returned none")
        return "insecure" if _has(windows, dns.rdatatype.NS) else "same"

    def prove_wildcard(self, qname: dns.name.Name, labels: int, response: dns.message.Message, zone: _Zone) -> None:
        """A wildcard-expanded answer also needs proof that qname itself does not exist (RFC 4035 §5.3.4)."""
        nsecs, nsec3s = self.denial(response, zone)
        if nsecs and _nsec_covering(nsecs, qname) is not None:
            return
        if nsec3s:
            next_closer = dns.name.Name(qname.labels[-(labels + 2):])
            if _Nsec3Set(nsec3s, zone.name).covering(next_closer) is not None:
                return
        raise self._broken(f"wildcard answer for {qname} without proof that {qname} does not exist")

    # -- the answer --

    async def answer(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, hops: int) -> DnssecResult:
        result = await self._answer(qname, rdtype, hops)
        if result.wire_b64 is None and self.last_answer is not None:
            result.wire_b64 = base64.b64encode(self.last_answer.to_wire()).decode()  # kept as evidence (bundle)
        return result

    async def _answer(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, hops: int) -> DnssecResult:
        zone = await self.walk(qname, rdtype)
        response = self.last_answer = await self.ask(qname, rdtype)
        what = f"{qname} {dns.rdatatype.to_text(rdtype)}"
        rrset = self.find(response.answer, qname, rdtype)
        if rrset is not None:
            records = sorted(r.to_text() for r in list(rrset)[:4 * MAX_RRS_CONSIDERED])
            if not zone.secure:
                return DnssecResult("insecure", zone.reason, records)
            sigs = self.require(rrset, response.answer, zone, what)
            good = [s for s in sigs if s.signer == zone.name]
            if good and min(s.labels for s in good) < len(qname) - 1:
                self.prove_wildcard(qname, min(s.labels for s in good), response, zone)
            self._note({"kind": "answer", "zone": zone.name.to_text(), "rrset": what,
                        "rrsig": _sig_summary(sigs), "verdict": "secure"})
            return DnssecResult("secure", f"{what} validated from the trust anchor", records)
        cname = self.find(response.answer, qname, dns.rdatatype.CNAME) if rdtype != dns.rdatatype.CNAME else None
        if cname is not None:
            if zone.secure:
                sigs = self.require(cname, response.answer, zone, f"{qname} CNAME")
                self._note({"kind": "answer", "zone": zone.name.to_text(), "rrset": f"{qname} CNAME",
                            "rrsig": _sig_summary(sigs), "verdict": "secure"})
            if hops >= MAX_CNAME_HOPS:
                raise _Stop("indeterminate", f"more than {MAX_CNAME_HOPS} CNAME hops")
            target = cname[0].target
            rest = await self.answer(target, rdtype, hops + 1)
            if not zone.secure and _RANK[rest.status] < _RANK["insecure"]:
                # RFC 7672 §2.1.3: one insecure hop makes the whole chain insecure.
                return DnssecResult("insecure", zone.reason, rest.rrset, rest.denial)
            return rest
        nxdomain = response.rcode() == dns.rcode.NXDOMAIN
        denial: Literal["nxdomain", "nodata"] = "nxdomain" if nxdomain else "nodata"
        if not zone.secure:
            return DnssecResult("insecure", zone.reason, [], denial)
        if nxdomain:
            self.prove_nxdomain(qname, response, zone)
        else:
            self.prove_nodata(qname, rdtype, response, zone)
        self._note({"kind": "denial", "zone": zone.name.to_text(), "rrset": what, "verdict": f"secure {denial}"})
        return DnssecResult("secure", f"{what}: {denial} proven by {zone.name}", [], denial)


# --- NSEC / NSEC3 helpers --------------------------------------------------------------------------------


def _has(windows: Any, rdtype: dns.rdatatype.RdataType) -> bool:
    window, bit = divmod(int(rdtype), 256)
    for number, bitmap in windows:
        if number == window:
            byte = bit // 8
            return byte < len(bitmap) and bool(bitmap[byte] & (0x80 >> (bit % 8)))
    return False


def _delegation(windows: Any) -> bool:
    """NS without SOA: the record sits at a zone cut, on the parent side (or a DNAME redirects)."""
    return (_has(windows, dns.rdatatype.NS) and not _has(windows, dns.rdatatype.SOA)) or _has(
        windows, dns.rdatatype.DNAME)


def _between(owner: Any, nxt: Any, value: Any) -> bool:
    """`value` strictly inside the span (owner, next), the last span wrapping around to the first."""
    if owner < nxt:
        return bool(owner < value < nxt)
    return bool(value > owner or value < nxt)


def _nsec_covering(nsecs: list[Any], name: dns.name.Name) -> tuple[dns.name.Name, Any] | None:
    for owner, rd in nsecs:
        if owner != name and _between(owner, rd.next, name):
            return owner, rd
    return None


def _common(a: dns.name.Name, b: dns.name.Name) -> dns.name.Name:
    _relation, _order, common = a.fullcompare(b)
    return dns.name.Name(a.labels[len(a.labels) - common:])


class _Nsec3Set:
    """The NSEC3 records of one zone, hashed with their own parameters (SHA-1, capped iterations)."""

    def __init__(self, records: list[Any], zone: dns.name.Name) -> None:
        self.zone = zone
        self.records: list[tuple[bytes, Any]] = []
        for owner, rd in records:
            if rd.algorithm != 1:
                continue  # only SHA-1 is defined; an unknown hash cannot prove anything
            if rd.iterations > MAX_NSEC3_ITERATIONS:
                raise _Stop("insecure", f"NSEC3 with {rd.iterations} iterations in {zone} (RFC 9276: treated as "
                                        "insecure)")
            try:
                digest = base64.b32hexdecode(owner.labels[0].upper())
            except ValueError:
                continue
            self.records.append((digest, rd))
        # One parameter set per zone (RFC 5155 §7.1); hashing with the first record's is what resolvers do.
        self.salt: bytes = self.records[0][1].salt if self.records else b""
        self.iterations: int = self.records[0][1].iterations if self.records else 0

    def _hash(self, name: dns.name.Name) -> bytes:
        text = dns.dnssec.nsec3_hash(name, self.salt, self.iterations, 1)
        return base64.b32hexdecode(text.upper())

    def matching(self, name: dns.name.Name) -> Any:
        digest = self._hash(name)
        return next((rd for d, rd in self.records if d == digest), None)

    def covering(self, name: dns.name.Name) -> Any:
        digest = self._hash(name)
        return next((rd for d, rd in self.records if d != digest and _between(d, rd.next, digest)), None)

    def closest_encloser(self, qname: dns.name.Name) -> tuple[dns.name.Name | None, bool]:
        """(closest encloser, opt-out of the next-closer cover) per RFC 5155 §8.3, or (None, False)."""
        candidate = qname
        while candidate != self.zone and len(candidate) > len(self.zone):
            parent = candidate.parent()
            match = self.matching(parent)
            if match is not None:
                if _delegation(match.windows):
                    return None, False  # a proof "from above" a zone cut proves nothing about names below it
                cover = self.covering(candidate)
                if cover is None:
                    return None, False
                return parent, bool(cover.flags & 1)
            candidate = parent
        return None, False


def query_via(resolver: Any) -> Query:
    """A `Query` over `auditor.net.dns.Resolver` (or anything with the same `query(name, rdtype, dnssec=)`)."""

    async def query(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        response: dns.message.Message = await resolver.query(name, dns.rdatatype.to_text(rdtype), dnssec=True)
        return response

    return query


async def validate(name: str, rdtype: str, query: Query, anchors: TrustAnchors, now: datetime | None = None,
                   cache: ValidationCache | None = None) -> DnssecResult:
    """Validate `name` `rdtype` from the trust anchors down, asking `query` (DO+CD) for every record.

    secure: the RRset (or its NXDOMAIN/NODATA) is proven from an anchor; insecure: a signed parent proves
    there is no DS on the way (or no anchor covers the name); bogus: a signature, key or denial proof is
    wrong; indeterminate: a query failed or a budget ran out. Never raises for anything the network says.
    """
    try:
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
    except dns.exception.DNSException as exc:
        return DnssecResult("indeterminate", f"invalid question {name!r} {rdtype!r}: {exc}")
    validator = _Validator(query, anchors, now or datetime.now(UTC), cache or ValidationCache())
    try:
        result = await validator.answer(qname, qtype, 0)
    except _Stop as stop:
        result = DnssecResult(stop.status, stop.reason)
    except NetworkUnavailable:
        raise
    except (dns.exception.DNSException, ValueError, TypeError, AttributeError, IndexError, struct.error) as exc:
        # Malformed data that slipped past the checks above: say so, never crash the probe.
        result = DnssecResult("indeterminate", f"malformed DNSSEC data: {type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug here must cost one verdict ("could not tell"), not the whole scan
        result = DnssecResult("indeterminate", f"internal error while validating: {type(exc).__name__}: {exc}")
    result.chain = validator.chain
    return result
