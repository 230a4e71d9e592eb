"""The lab's certificate authority: a root, an intermediate, and leaf certificates with chosen faults.

Scanners verify lab servers against `LabCA.bundle` (the root only), exactly as they would verify real
servers against certifi's bundle. A second, "rogue" root that is never written to the bundle signs the
certificates of servers whose fault is `untrusted`.

Key generation is the slow part of starting a lab: ECDSA P-256 keys are generated per host (sub-millisecond);
RSA keys are generated once per size and shared, which keeps a start in the low seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

KEY_TYPES = ("ECDSA-P256", "RSA-2048", "RSA-1024")
DAY = dt.timedelta(days=1)


@dataclass
class LeafSpec:
    """What a certificate should look like; the builder applies `fault` last."""

    names: list[str]
    key_type: str = "ECDSA-P256"
    fault: str | None = None  # one of CERT_FAULTS, or None for a good certificate
    not_before: dt.datetime = field(default_factory=lambda: _now() - 30 * DAY)
    not_after: dt.datetime = field(default_factory=lambda: _now() + 90 * DAY)
    issuer: str = "intermediate"  # intermediate | future-intermediate | rogue | self | private:<name>
    organization: str = "Auditor Lab"  # the subject's O=, a free UTF8String any CA customer can influence


@dataclass(frozen=True)
class IssuedCert:
    """A leaf as served: PEM files ready for `ssl.SSLContext.load_cert_chain`."""

    names: tuple[str, ...]
    chain_file: Path  # leaf first, then the intermediates the server sends
    key_file: Path
    leaf_der: bytes
    spki_der: bytes  # SubjectPublicKeyInfo, what DANE `3 1 x` TLSA records hash
    key_type: str
    fault: str | None
    not_after: dt.datetime

    def tlsa_3_1_1(self) -> str:
        """The `3 1 1` TLSA record data (DANE-EE, SPKI, SHA-256) matching this certificate."""
        return f"3 1 1 {hashlib.sha256(self.spki_der).hexdigest()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _expired(spec: LeafSpec) -> None:
    spec.not_before = _now() - 400 * DAY
    spec.not_after = _now() - 2 * DAY


def _not_yet_valid(spec: LeafSpec) -> None:
    spec.not_before = _now() + 10 * DAY
    spec.not_after = _now() + 100 * DAY


def _wrong_name(spec: LeafSpec) -> None:
    # A real-looking certificate, for somebody else: what a misconfigured shared host serves.
    spec.names = ["unrelated-host.example"]


def _self_signed(spec: LeafSpec) -> None:
    spec.issuer = "self"


def _untrusted(spec: LeafSpec) -> None:
    spec.issuer = "rogue"


def _underscore_name(spec: LeafSpec) -> None:
    # Names a stranger may write, for somebody else's host: the first is not a host name (RFC 952/1123), yet
    # seen on real servers. A scan must say "name does not match" and still judge the chain by the second.
    spec.names = ["a_b.example", "unrelated-host.example"]


def _double_wildcard(spec: LeafSpec) -> None:
    # Only a wildcard no verifier accepts (RFC 6125 §6.4.3: one `*`, the whole leftmost label).
    spec.names = ["*.*.x"]


def _intermediate_not_yet_valid(spec: LeafSpec) -> None:
    spec.issuer = "future-intermediate"


# Markup in certificate names: reports must show it as text (see the `hostile` lab provider).
HOSTILE_PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def _hostile_names(spec: LeafSpec) -> None:
    # The real host name stays first (CN and the first SAN), so the certificate still matches and chains;
    # the payloads ride along in O= and as extra SAN entries, where scanners copy them into evidence.
    spec.organization = " ".join(HOSTILE_PAYLOADS)
    spec.names = [spec.names[0], *HOSTILE_PAYLOADS]


# Certificate faults by name. To add one, write a function that edits the LeafSpec and register it here.
CERT_FAULTS: dict[str, Callable[[LeafSpec], None]] = {
    "expired": _expired,
    "not_yet_valid": _not_yet_valid,
    "wrong_name": _wrong_name,
    "self_signed": _self_signed,
    "untrusted": _untrusted,
    "hostile_names": _hostile_names,
    "underscore_name": _underscore_name,
    "double_wildcard": _double_wildcard,
    "intermediate_not_yet_valid": _intermediate_not_yet_valid,
}


def _name(common_name: str, organization: str = "Auditor Lab") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


class LabCA:
    """Issues certificates into `directory`; `bundle` is the PEM file a scanner must trust."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._rsa_keys: dict[int, rsa.RSAPrivateKey] = {}
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca_cert("Auditor Lab Root CA", self.root_key, self.root_key, None, path_len=1)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca_cert(
            "Auditor Lab Issuing CA 1", self.inter_key, self.root_key, self.root, path_len=0
        )
        # Never written to the bundle: what an attacker's or a private CA's certificate looks like.
        self.rogue_key = ec.generate_private_key(ec.SECP256R1())
        self.rogue = self._ca_cert("Rogue Lab CA (not trusted)", self.rogue_key, self.rogue_key, None, 0)
        self.bundle = directory / "lab-ca.pem"
        self.bundle.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self._serial = 1000
        # Sector PKIs outside the public trust stores (e.g. France's IGC-Santé for MSSanté servers).
        self.private: dict[str, tuple[PrivateKey, x509.Certificate, Path]] = {}
        self._future: tuple[PrivateKey, x509.Certificate] | None = None

    def private_ca(self, name: str) -> tuple[PrivateKey, x509.Certificate, Path]:
        """A named private root (created on first use), its PEM written next to the bundle, not in it."""
        if name not in self.private:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = self._ca_cert(f"{name} (lab private root)", key, key, None, 1)
            pem = self.directory / f"private-ca-{name}.pem"
            pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self.private[name] = (key, cert, pem)
        return self.private[name]

    def future_intermediate(self) -> tuple[PrivateKey, x509.Certificate]:
        """An intermediate of the lab root valid only from ten days on (created on first use)."""
        if self._future is None:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = self._ca_cert("Auditor Lab Issuing CA (not yet valid)", key, self.root_key, self.root, 0,
                                 not_before=_now() + 10 * DAY)
            self._future = (key, cert)
        return self._future

    def _ca_cert(
        self, cn: str, key: PrivateKey, signer: PrivateKey, issuer: x509.Certificate | None, path_len: int,
        not_before: dt.datetime | None = None,
    ) -> x509.Certificate:
        now = _now()
        subject = _name(cn)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - 365 * DAY)
            .not_valid_after(now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    def _key(self, key_type: str) -> PrivateKey:
        if key_type == "ECDSA-P256":
            return ec.generate_private_key(ec.SECP256R1())
        if key_type.startswith("RSA-"):
            bits = int(key_type.removeprefix("RSA-"))
            if bits not in self._rsa_keys:
                self._rsa_keys[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            return self._rsa_keys[bits]
        raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")

    def issue(
        self, names: list[str], key_type: str = "ECDSA-P256", fault: str | None = None, ca: str | None = None
    ) -> IssuedCert:
        """A leaf certificate for `names` (the first is the file name), with `fault` applied.

        `ca`: the name of a private CA to issue from instead of the lab's public one."""
        spec = LeafSpec(names=list(names), key_type=key_type, fault=fault)
        if ca:
            spec.issuer = f"private:{ca}"
        if fault:
            if fault not in CERT_FAULTS:
                raise ValueError(f"unknown certificate fault {fault!r}; known: {', '.join(CERT_FAULTS)}")
            CERT_FAULTS[fault](spec)
        key = self._key(spec.key_type)
        signer_key: PrivateKey
        chain: list[x509.Certificate]
        if spec.issuer == "self":
            signer_key, issuer_name, chain = key, _name(spec.names[0]), []
        elif spec.issuer.startswith("private:"):
            # The server sends its sector root along, as such servers do: the chain ends in a root that
            # the public bundle does not hold.
            pkey, pcert, _ = self.private_ca(spec.issuer.removeprefix("private:"))
            signer_key, issuer_name, chain = pkey, pcert.subject, [pcert]
        elif spec.issuer == "future-intermediate":
            fkey, fcert = self.future_intermediate()
            signer_key, issuer_name, chain = fkey, fcert.subject, [fcert]
        elif spec.issuer == "rogue":
            # Only the leaf is sent, as servers with a private CA usually do: "unable to get local issuer".
            signer_key, issuer_name, chain = self.rogue_key, self.rogue.subject, []
        else:
            signer_key, issuer_name, chain = self.inter_key, self.intermediate.subject, [self.intermediate]
        self._serial += 1
        sans: list[x509.GeneralName] = []
        for n in spec.names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(spec.names[0], spec.organization))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(spec.not_before)
            .not_valid_after(spec.not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
                critical=False,
            )
        )
        leaf = builder.sign(signer_key, hashes.SHA256())
        stem = f"{names[0]}-{self._serial}"
        chain_file, key_file = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        chain_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [leaf, *chain]))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        return IssuedCert(
            names=tuple(spec.names),
            chain_file=chain_file,
            key_file=key_file,
            leaf_der=leaf.public_bytes(serialization.Encoding.DER),
            spki_der=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            key_type=spec.key_type,
            fault=fault,
            not_after=spec.not_after,
        )
