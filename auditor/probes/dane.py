"""`dane` for an MX host (RFC 7672, 7671, 6698): the TLSA RRset at `_25._tcp.<base>`, usable only when
DNSSEC-secure, matched against the chain the server actually sent on every address.

The TLSA base domain is the MX host name, or, when that name is an alias whose whole CNAME chain is
DNSSEC-secure, the name it expands to; when the expanded name securely has no TLSA records, the original
name is asked (RFC 7672 §2.2.2, RFC 7671 §7). A DANE-TA certificate may then carry either name (§3.2.3)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditor.findings import Finding, Status, error
from auditor.net.certs import hostname_matches
from auditor.net.dnssec import DnssecResult
from auditor.net.tls import TlsScan

SMTP_TLSA_PORT = 25
_DIGEST_SIZES = {0: None, 1: 32, 2: 64}


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


def parse_tlsa(text: str) -> Tlsa | None:
    parts = text.split()
    if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    try:
        data = bytes.fromhex("".join(parts[3:]))
    except ValueError:
        return None
    return Tlsa(int(parts[0]), int(parts[1]), int(parts[2]), data)


def is_usable(record: Tlsa) -> bool:
    """Usages 0/1 are ignored on port 25 (RFC 7672 §3.1.3); unknown parameters make a record unusable."""
    if record.usage not in (2, 3) or record.selector not in (0, 1) or record.mtype not in _DIGEST_SIZES:
        return False
    size = _DIGEST_SIZES[record.mtype]
    return size is None or len(record.data) == size


def _association(cert: x509.Certificate, selector: int, mtype: int) -> bytes:
    blob = cert.public_bytes(Encoding.DER) if selector == 0 else cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if mtype == 1:
        return hashlib.sha256(blob).digest()
    if mtype == 2:
        return hashlib.sha512(blob).digest()
    return blob


def _signed_path(chain: list[x509.Certificate], upto: int) -> bool:
    """chain[0] … chain[upto] each signed by the next: the leaf really chains to the matched anchor."""
    for child, parent in itertools.pairwise(chain[:upto + 1]):
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError):
            return False
    return True


def match_chain(records: list[Tlsa], chain: list[x509.Certificate], names: list[str]) -> str | None:
    """The record that authenticates this chain, in words, or None.

    DANE-EE(3): the leaf's key or certificate; names and expiry are ignored (RFC 7671 §5.1).
    DANE-TA(2): a certificate the server sent (RFC 7671 §5.2: the anchor must be in the chain), the leaf
    chaining to it by signature, and the leaf's name matching one of `names` (RFC 7672 §3.2.3).
    """
    if not chain:
        return None
    for record in records:
        if record.usage == 3 and _association(chain[0], record.selector, record.mtype) == record.data:
            return f"DANE-EE {record.usage} {record.selector} {record.mtype} matches the server's certificate"
        if record.usage == 2:
            for i, cert in enumerate(chain[1:], start=1):
                if _association(cert, record.selector, record.mtype) != record.data:
                    continue
                if _signed_path(chain, i) and any(hostname_matches(chain[0], n) for n in names):
                    return f"DANE-TA {record.usage} {record.selector} {record.mtype} matches certificate #{i} sent"
    return None


def rollover_ready(records: list[Tlsa]) -> bool:
    """More than one usable association: a key can be replaced without a window of failure (RFC 7671 §8.1)."""
    ee = [r for r in records if r.usage == 3]
    ta = [r for r in records if r.usage == 2]
    return len(ee) > 1 or (bool(ee) and bool(ta)) or len({r.data for r in ta}) > 1


@dataclass(frozen=True)
class TlsaLookup:
    result: DnssecResult
    base: str  # the TLSA base domain the records were found at (or asked at last)
    names: list[str]  # the reference identifiers a DANE-TA certificate may match
    asked: list[str]  # every TLSA name asked, in order


def tlsa_name(base: str) -> str:
    return f"_{SMTP_TLSA_PORT}._tcp.{base}"


async def lookup_tlsa(host: str, expanded: str | None, chain_secure: bool,
                      validate: Callable[[str, str], Awaitable[DnssecResult]]) -> TlsaLookup:
    """The TLSA records of an MX host. `expanded`: the name `host` is an alias of (None if it is not one);
    `chain_secure`: that alias chain validated as DNSSEC-secure, so the expanded name may be trusted."""
    asked: list[str] = []
    if expanded and chain_secure:
        asked.append(tlsa_name(expanded))
        first = await validate(asked[-1], "TLSA")
        if not (first.status == "secure" and not first.rrset):  # found, or failed: that is the answer
            return TlsaLookup(first, expanded, [expanded, host], asked)
    asked.append(tlsa_name(host))
    return TlsaLookup(await validate(asked[-1], "TLSA"), host, [host], asked)


def dane_finding(subject: str, host: str, lookup: TlsaLookup, scans: list[TlsScan]) -> Finding:
    tlsa = lookup.result
    records = [r for r in (parse_tlsa(t) for t in tlsa.rrset[:64]) if r is not None]
    usable = [r for r in records if is_usable(r)]
    evidence = {"tlsa_name": tlsa_name(lookup.base), "tlsa_names_asked": lookup.asked,
                "records": [r.text for r in records], "usable": [r.text for r in usable],
                "rollover_ready": rollover_ready(usable), **tlsa.evidence()}

    def found(value: str, status: Status, summary: str) -> Finding:
        return Finding(id="dane", subject=subject, target=host, status=status, value=value, summary=summary[:500],
                       evidence=evidence)

    if tlsa.status == "indeterminate":
        return error("dane", subject, f"TLSA records could not be validated: {tlsa.reason}", target=host,
                     evidence=evidence)
    if tlsa.status == "bogus":
        return found("not_usable", Status.FAIL, f"TLSA records fail DNSSEC validation ({tlsa.reason}): "
                                                "DANE senders will not deliver")
    if not records:
        why = "no TLSA record" + (" (proven absent)" if tlsa.status == "secure" else " and no DNSSEC")
        return found("none", Status.WARN, f"{why}: mail to this MX is not authenticated by DANE")
    if tlsa.status != "secure":
        return found("not_usable", Status.WARN, "TLSA records published in a zone without DNSSEC: unusable")
    if not usable:
        return found("not_usable", Status.WARN, "only unusable TLSA records (usages 0/1 or unknown parameters)")
    if not scans:
        return error("dane", subject, "no certificate chain to match against (no address probed)", target=host,
                     evidence=evidence)
    results = []
    for scan in scans:
        if scan.error is not None or not scan.chain:
            return error("dane", subject, f"no certificate chain to match against ({scan.ip}: {scan.error})",
                         target=host, evidence=evidence)
        results.append((scan.ip, match_chain(usable, scan.chain, lookup.names)))
    evidence["matches"] = {ip: how for ip, how in results}
    if all(how for _, how in results):
        return found("valid", Status.PASS, f"DANE valid: {results[0][1]}")
    bad = [ip for ip, how in results if not how]
    return found("mismatch", Status.FAIL, f"TLSA records do not match the certificate served on {', '.join(bad)}")
