"""Server-side TLS settings of one lab server and the `ssl.SSLContext` they produce."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from typing import Any

from auditor.lab.ca import IssuedCert

VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TlsSettings:
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    ciphers: str | None = None  # OpenSSL cipher string for TLS <= 1.2; None: OpenSSL's default
    cert_fault: str | None = None  # a key of auditor.lab.ca.CERT_FAULTS
    key_type: str = "ECDSA-P256"
    ca: str | None = None  # a private CA's name (e.g. igc-sante): certificates outside the public bundle

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsSettings:
        data = dict(data or {})
        for v in ("min_version", "max_version"):
            if v in data and data[v] not in VERSIONS:
                raise ValueError(f"{v}: unknown TLS version {data[v]!r}; known: {', '.join(VERSIONS)}")
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TLS setting(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    @property
    def legacy(self) -> bool:
        """TLS 1.0/1.1 and 1024-bit keys only work at OpenSSL security level 0."""
        return VERSIONS[self.min_version] < ssl.TLSVersion.TLSv1_2 or self.key_type == "RSA-1024"


def server_context(cert: IssuedCert, tls: TlsSettings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ciphers = tls.ciphers or "DEFAULT"
    if tls.legacy:
        ciphers += ":@SECLEVEL=0"
    ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        # Python warns that TLS 1.0/1.1 are deprecated; simulating them is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = VERSIONS[tls.min_version]
        ctx.maximum_version = VERSIONS[tls.max_version]
    ctx.load_cert_chain(str(cert.chain_file), str(cert.key_file))
    return ctx
