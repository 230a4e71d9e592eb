"""Trust spaces (sector PKIs such as IGC-Santé for MSSanté) as data: `auditor/data/trust_spaces.yaml`.

Pure look-ups and file reads, no network. A root file whose SHA-256 differs from the recorded fingerprint is a
ConfigError: the data names exactly which certificate it trusts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field, model_validator

from auditor.datafile import read_data
from auditor.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
SPACES_FILE = DATA_DIR / "trust_spaces.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Root(_Frozen):
    name: str
    file: str
    sha256: str = Field(pattern=r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
    not_after: str
    source: str
    retrieved: str
    fingerprint_confirmed_by_publisher: bool


class Pki(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    roots: tuple[Root, ...] = Field(min_length=1)


class Reference(_Frozen):
    label: str
    url: str
    checked: str


class Space(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: dict[Literal["fr", "en"], str]
    pki: str
    mail_domains: tuple[str, ...] = Field(min_length=1)
    services: tuple[Literal["smtp"], ...] = Field(min_length=1)
    references: tuple[Reference, ...] = ()

    def covers(self, domain: str) -> bool:
        """True for one of the space's mail domains or a subdomain of one."""
        name = domain.lower().rstrip(".")
        return any(name == d or name.endswith("." + d) for d in self.mail_domains)


class TrustSpaces(_Frozen):
    reviewed: str
    pkis: tuple[Pki, ...]
    spaces: tuple[Space, ...]

    @model_validator(mode="after")
    def _known_pkis(self) -> TrustSpaces:
        ids = {p.id for p in self.pkis}
        unknown = [s.pki for s in self.spaces if s.pki not in ids]
        if unknown:
            raise ValueError(f"spaces name unknown PKIs: {unknown}")
        return self

    def pki(self, pki_id: str) -> Pki:
        return next(p for p in self.pkis if p.id == pki_id)

    def space_for_mail_domain(self, domain: str) -> Space | None:
        return next((s for s in self.spaces if s.covers(domain)), None)


@cache
def load_trust_spaces(path: Path = SPACES_FILE) -> TrustSpaces:
    return read_data(path, TrustSpaces, "trust space data")


def fingerprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _read_pem(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable PEM certificate file ({exc})") from exc


@dataclass(frozen=True)
class SpaceAnchors:
    """What a certificate check needs to judge a server of a trust space."""

    space: str
    pki: str
    roots: tuple[x509.Certificate, ...]


def anchors(overrides: Mapping[str, Path] | None = None, data: TrustSpaces | None = None,
            data_dir: Path = DATA_DIR) -> dict[str, SpaceAnchors]:
    """Space id -> its PKI roots: the shipped roots (fingerprints checked), or a PEM file per PKI id from
    `overrides` (the lab's stand-in CA; a user's newer roots). An override for an unknown PKI is an error."""
    data = data or load_trust_spaces()
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {p.id for p in data.pkis})
    if unknown:
        raise ConfigError(f"pki_roots: unknown PKI {unknown[0]!r}; known: {', '.join(p.id for p in data.pkis)}")
    roots: dict[str, tuple[x509.Certificate, ...]] = {}
    for pki in data.pkis:
        if pki.id in overrides:
            roots[pki.id] = tuple(_read_pem(Path(overrides[pki.id])))
            continue
        loaded = []
        for root in pki.roots:
            path = data_dir / root.file
            certs = _read_pem(path)
            if len(certs) != 1 or fingerprint(certs[0]) != root.sha256:
                raise ConfigError(f"{path}: does not hold the certificate recorded for {root.name!r} "
                                  f"(SHA-256 {root.sha256}); restore the file")
            loaded.append(certs[0])
        roots[pki.id] = tuple(loaded)
    return {s.id: SpaceAnchors(s.id, s.pki, roots[s.pki]) for s in data.spaces}
