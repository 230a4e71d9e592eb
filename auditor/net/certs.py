"""Certificate facts from a received chain: trust against a CA bundle, name match, expiry, key. Pure functions."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

MAX_NAME = 253


@dataclass(frozen=True)
class CertFacts:
    trusted: bool
    hostname_match: bool
    expired: bool
    not_before: str
    not_after: str
    key: str  # e.g. "RSA-2048", "EC-256", "Ed25519"
    subject: str
    issuer: str
    names: list[str]
    trust_error: str | None

    def value(self) -> dict[str, object]:
        """The `tls.certificate` value of CHECKS.md."""
        return {"trusted": self.trusted, "hostname_match": self.hostname_match, "expired": self.expired,
                "not_after": self.not_after, "key": self.key}


def key_description(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [n[:MAX_NAME] for n in san.get_values_for_type(x509.DNSName)]


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 DNS-ID match: case-insensitive, a wildcard only as the whole leftmost label, one label."""
    p = pattern.lower().rstrip(".").split(".")
    h = host.lower().rstrip(".").split(".")
    if len(p) != len(h) or len(p) < 2:
        return False
    if p[0] == "*":
        return p[1:] == h[1:] and len(p) > 2 and h[0] != ""
    return p == h


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False  # we only ever verify names: mail and web endpoints are reached by name
    except ValueError:
        pass
    return any(name_matches(n, host) for n in dns_names(cert))


def load_bundle(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _utc(d: dt.datetime) -> str:
    return d.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def analyse_chain(chain: list[x509.Certificate], host: str, roots: list[x509.Certificate],
                  now: dt.datetime | None = None) -> CertFacts:
    """Trust, name and expiry as three separate facts, so a report can say which one failed.

    Trust is checked at a moment inside the leaf's validity period and against one of its own names, so that
    an expired or misnamed certificate is still reported as chaining (or not) to a trusted root.
    """
    now = now or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    expired = now > na or now < nb
    names = dns_names(leaf)
    match = hostname_matches(leaf, host)
    trusted, error = False, None
    if not roots:
        error = "empty CA bundle"
    elif not names:
        error = "the certificate has no DNS name"
    else:
        # Only the leaf's own validity moves the moment: an intermediate not yet (or no longer) valid fails.
        at = now if not expired else nb + (na - nb) / 2
        builder = PolicyBuilder().store(Store(roots)).time(at)
        verifier = None
        # A name the verifier accepts: a_b.example or *.*.x are names a stranger may write, not DNS names.
        for name in [host] if match else [n.replace("*", "x", 1) for n in names]:
            try:
                verifier = builder.build_server_verifier(x509.DNSName(name))
                break
            except ValueError:
                continue
        if verifier is None:
            error = f"no valid DNS name to verify the chain for ({', '.join(names[:3])[:200]})"
        else:
            try:
                verifier.verify(leaf, chain[1:])
                trusted = True
            except (VerificationError, ValueError) as exc:
                error = str(exc)[:300]
    return CertFacts(trusted, match, expired, _utc(nb), _utc(na), key_description(leaf),
                     leaf.subject.rfc4514_string()[:500], leaf.issuer.rfc4514_string()[:500], names[:50], error)
