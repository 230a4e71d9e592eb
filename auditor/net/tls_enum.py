"""The blocking TLS scan of one address, protocol version first. Runs in a worker thread (see `tls.TlsScanner`).

sslyze's cipher-suite commands try every suite of every version, one handshake each: ~540 handshakes per
address, most of them for versions and key exchanges the server refuses outright. We ask coarse questions
first and let sslyze test single suites only where the answer was yes:

1. one handshake per version offering all its suites, alongside sslyze's connectivity test;
2. for each version not refused, one handshake per family (suites sharing key exchange and authentication:
   TLS 1.2's 158 suites make 21), offering the family's suites;
3. each suite of each family not refused, with sslyze's own single-suite test.

A server that refuses a ClientHello offering a set of suites accepts none of them, so the answer is the same
as sslyze's (tests/test_tls_enum.py compares both on lab servers); a probe that could not tell (network
trouble) counts as yes. A modern lab server costs 57 handshakes instead of ~540. The certificate chain comes
from the probe of the highest version accepted, with SNI.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from nassl import _nassl
from nassl.ssl_client import ClientCertificateRequested
from sslyze import ProtocolWithOpportunisticTlsEnum, ServerNetworkConfiguration, ServerNetworkLocation
from sslyze.connection_helpers.tls_connection import NoCiphersAvailableBugInSSlyze, SslConnection
from sslyze.errors import ConnectionToServerFailed, ServerTlsConfigurationNotSupported, TlsHandshakeFailed
from sslyze.plugins.openssl_cipher_suites._test_cipher_suite import (
    CipherSuiteAcceptedByServer,
    connect_with_cipher_suite,
)
from sslyze.plugins.openssl_cipher_suites._tls12_workaround import WorkaroundForTls12ForCipherSuites
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuite, CipherSuitesRepository
from sslyze.server_connectivity import ServerConnectivityInfo, TlsVersionEnum, check_connectivity_to_server

T = TypeVar("T")

# Each version, oldest first, as reported and as sslyze names it.
VERSIONS: dict[str, TlsVersionEnum] = {
    "SSLv2": TlsVersionEnum.SSL_2_0,
    "SSLv3": TlsVersionEnum.SSL_3_0,
    "TLSv1": TlsVersionEnum.TLS_1_0,
    "TLSv1.1": TlsVersionEnum.TLS_1_1,
    "TLSv1.2": TlsVersionEnum.TLS_1_2,
    "TLSv1.3": TlsVersionEnum.TLS_1_3,
}

_ALL = "ALL:COMPLEMENTOFALL:-PSK:-SRP"
_TLS13_ALL = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
              "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256")
# The ClientHellos of one version probe, tried in turn until one is accepted: (legacy OpenSSL?, suites).
# A short list first, as sslyze's connectivity test does (some F5 devices drop a long ClientHello), then
# every suite of the modern client, then of the legacy one (TLS 1.2 suites only the old OpenSSL still has).
_PROBES: dict[str, list[tuple[bool, str]]] = {
    "SSLv2": [(True, "SSLv2")],
    "SSLv3": [(True, "DEFAULT"), (True, _ALL)],
    "TLSv1": [(True, "DEFAULT"), (True, _ALL)],
    "TLSv1.1": [(True, "DEFAULT"), (True, _ALL)],
    "TLSv1.2": [(False, "DEFAULT"), (False, _ALL), (True, _ALL)],
    "TLSv1.3": [(False, _TLS13_ALL)],
}


MALFORMED_CHAIN = "certificate"  # the `command_errors` key when the server's chain does not parse


class ScanCancelled(Exception):
    """The scan's deadline passed: jobs not yet started are skipped, so the thread ends soon."""


@dataclass
class VersionProbe:
    accepted: bool | None  # None: the probe could not tell (network trouble): the version is enumerated anyway
    detail: str  # the suite negotiated, or why not
    chain_pem: list[str] = field(default_factory=list)

    def label(self) -> str:
        state = {True: "accepted", False: "refused", None: "unknown"}[self.accepted]
        return f"{state}: {self.detail}"


@dataclass
class TlsScan:
    """What one address of one TLS endpoint showed; `error` set when the scan could not run."""

    host: str
    ip: str
    port: int
    starttls: bool
    error: str | None = None
    protocols: list[str] = field(default_factory=list)
    cipher_suites: dict[str, list[str]] = field(default_factory=dict)  # version -> IANA names accepted
    ephemeral: dict[str, str] = field(default_factory=dict)  # cipher suite -> "ECDH secp256r1 256"
    chain: list[x509.Certificate] = field(default_factory=list)  # as sent by the server, leaf first
    probes: dict[str, str] = field(default_factory=dict)  # version -> "accepted: …" / "refused: …" / "unknown: …"
    command_errors: dict[str, str] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port, "protocols": self.protocols, "cipher_suites": self.cipher_suites,
                "ephemeral_keys": self.ephemeral, "version_probes": self.probes, "errors": self.command_errors}


def network_config(host: str, starttls: bool, timeout: float) -> ServerNetworkConfiguration:
    return ServerNetworkConfiguration(
        tls_server_name_indication=host,
        tls_opportunistic_encryption=ProtocolWithOpportunisticTlsEnum.SMTP if starttls else None,
        smtp_ehlo_hostname="auditor.invalid" if starttls else None,
        network_timeout=max(1, int(timeout)),
        network_max_retries=1,
    )


@dataclass(frozen=True)
class Family:
    """The suites of one version that share a key exchange and authentication, and the client that has them."""

    version: str
    legacy: bool
    kx: str
    suites: tuple[CipherSuite, ...]

    def cipher_string(self) -> str:
        return ":".join(s.openssl_name for s in self.suites)


_KX = re.compile(r"(?:TLS|SSL)_(\w+?)_WITH_")  # the key exchange and authentication in an IANA suite name


@functools.cache
def families(version: str) -> tuple[Family, ...]:
    """sslyze's suites of `version` grouped by (client, key exchange + authentication): TLS 1.2's 158 suites
    make 21 families. SSLv2 and TLS 1.3 names carry no key exchange: each suite is its own family."""
    tls_version = VERSIONS[version]
    groups: dict[tuple[bool, str], list[CipherSuite]] = {}
    for suite in sorted(CipherSuitesRepository.get_all_cipher_suites(tls_version), key=lambda c: c.name):
        legacy = tls_version != TlsVersionEnum.TLS_1_3 and (
            tls_version != TlsVersionEnum.TLS_1_2
            or WorkaroundForTls12ForCipherSuites.requires_legacy_openssl(suite.openssl_name))
        kx = _KX.match(suite.name)
        groups.setdefault((legacy, kx.group(1) if kx else suite.name), []).append(suite)
    return tuple(Family(version, legacy, kx, tuple(suites)) for (legacy, kx), suites in groups.items())



def handshake(location: ServerNetworkLocation, config: ServerNetworkConfiguration, version: str, legacy: bool,
              suites: str) -> VersionProbe:
    """One handshake offering `suites`: does the server accept any of them with this version?"""
    # Client certificate requests are not ignored: a server that demands one still accepts the suite.
    conn = SslConnection(location, config, VERSIONS[version], should_ignore_client_auth=False,
                         should_use_legacy_openssl=legacy)
    if version == "TLSv1.3":
        conn.ssl_client.set_ciphersuites(suites)  # type: ignore[attr-defined]  # modern client only
    else:
        conn.ssl_client.set_cipher_list(suites)
    try:
        conn.connect()
        return VersionProbe(True, conn.ssl_client.get_current_cipher_name(), conn.ssl_client.get_received_chain())
    except ClientCertificateRequested:
        return VersionProbe(True, "client certificate requested", conn.ssl_client.get_received_chain())
    except ServerTlsConfigurationNotSupported as exc:  # our client refused the server's weak DH: accepted
        return VersionProbe(True, exc.error_message)
    except TlsHandshakeFailed as exc:  # refused, or timed out in the handshake: as sslyze counts a suite
        return VersionProbe(False, exc.error_message)
    except ConnectionToServerFailed as exc:
        return VersionProbe(None, exc.error_message)
    except (OSError, _nassl.OpenSSLError) as exc:
        return VersionProbe(None, f"{type(exc).__name__}: {exc}"[:200])
    finally:
        conn.close()


def probe_version(location: ServerNetworkLocation, config: ServerNetworkConfiguration, version: str) -> VersionProbe:
    """One handshake per ClientHello of `_PROBES[version]` until the server accepts one (or we cannot tell)."""
    result = VersionProbe(False, "refused")
    for legacy, suites in _PROBES[version]:
        result = handshake(location, config, version, legacy, suites)
        if result.accepted is not False:
            return result
    return result


def _guarded(cancelled: threading.Event, fn: Callable[..., T], *args: Any) -> T:
    if cancelled.is_set():
        raise ScanCancelled("deadline passed")
    return fn(*args)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionToServerFailed):
        return exc.error_message[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _parse_chain(pems: list[str]) -> list[x509.Certificate]:
    """Parsed now, fields included (cryptography parses names and extensions lazily): a malformed certificate
    is the server's fact, to report, not an exception in a later probe."""
    chain = [x509.load_pem_x509_certificate(p.encode("ascii")) for p in pems]
    for cert in chain:
        cert.subject, cert.issuer, cert.extensions  # noqa: B018  # raise here if they do not parse
    return chain


class _Enumerator:
    """The scan's handshakes on one pool of `connections` threads: version probes with sslyze's connectivity
    test, then one probe per family of each version not refused, then each suite of the families not refused."""

    def __init__(self, out: TlsScan, timeout: float, pool: ThreadPoolExecutor, cancelled: threading.Event) -> None:
        self.out, self.pool, self.cancelled = out, pool, cancelled
        self.location = ServerNetworkLocation(hostname=out.host, port=out.port, ip_address=out.ip)
        self.config = network_config(out.host, out.starttls, timeout)
        self.suite_tests: list[tuple[str, Future[Any]]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self.pool.submit(_guarded, self.cancelled, fn, *args)

    def run(self) -> None:
        connectivity = self.submit(check_connectivity_to_server, self.location, self.config)
        # Newest first: the versions most servers accept, and the chain, come back first.
        probes = {v: self.submit(probe_version, self.location, self.config, v) for v in reversed(VERSIONS)}
        try:
            info = ServerConnectivityInfo(self.location, self.config, connectivity.result())
        except Exception as exc:  # sslyze's connectivity test: unreachable, or no version/suite in common
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.out.error = _reason(exc)
            return
        settled = {v: _settle(f) for v, f in probes.items()}
        self.out.probes = {v: settled[v].label() for v in VERSIONS}
        refused = self._test_families(info, [f for v in VERSIONS if settled[v].accepted is not False
                                             for f in families(v)])
        # A version probe that negotiated a suite of a family whose own probe was refused: the shortcut does
        # not hold on this server (a ClientHello size limit?): every suite of that version, one by one.
        for version, probe in settled.items():
            if probe.accepted and any(probe.detail in {s.openssl_name for s in f.suites} for f in refused):
                self.out.command_errors.setdefault("family_probes", f"{version}: inconsistent, all suites tested")
                for family in (f for f in refused if f.version == version):
                    self._test_suites(info, family)
        self._collect()
        for version in VERSIONS:
            if settled[version].accepted and version not in self.out.protocols:
                self.out.protocols.append(version)  # accepted, though none of sslyze's single suites was
        self.out.protocols.sort(key=list(VERSIONS).index)
        chain = next((p.chain_pem for p in reversed(settled.values()) if p.accepted and p.chain_pem), [])
        try:
            self.out.chain = _parse_chain(chain)
        except ValueError as exc:
            self.out.command_errors[MALFORMED_CHAIN] = f"malformed certificate: {exc}"[:300]

    def _test_families(self, info: ServerConnectivityInfo, work: list[Family]) -> list[Family]:
        """Probe each family of several suites; test the suites of those not refused as their answers come."""
        probes: dict[Future[VersionProbe], Family] = {}
        for family in work:
            if len(family.suites) == 1:
                self._test_suites(info, family)
            else:
                probes[self.submit(handshake, self.location, self.config, family.version, family.legacy,
                                   family.cipher_string())] = family
        refused = []
        for done in as_completed(probes):
            if _settle(done).accepted is False:
                refused.append(probes[done])
            else:
                self._test_suites(info, probes[done])
        return refused

    def _test_suites(self, info: ServerConnectivityInfo, family: Family) -> None:
        tls_version = VERSIONS[family.version]
        self.suite_tests += [(family.version, self.submit(connect_with_cipher_suite, info, tls_version, suite))
                             for suite in family.suites]

    def _collect(self) -> None:
        accepted: dict[str, list[CipherSuiteAcceptedByServer]] = {}
        for version, test in self.suite_tests:
            try:
                result = test.result()
            except NoCiphersAvailableBugInSSlyze:  # a suite sslyze's OpenSSL cannot offer: sslyze skips it too
                continue
            except Exception as exc:  # network trouble: this suite is not measured, and we say so
                self.out.command_errors.setdefault(version, _reason(exc))
                continue
            if isinstance(result, CipherSuiteAcceptedByServer):
                accepted.setdefault(version, []).append(result)
        for version in (v for v in VERSIONS if v in accepted):
            suites = sorted(accepted[version], key=lambda a: a.cipher_suite.name, reverse=True)
            self.out.protocols.append(version)
            self.out.cipher_suites[version] = [a.cipher_suite.name for a in suites]
            for a in suites:
                if a.ephemeral_key is not None:
                    key = a.ephemeral_key
                    curve = getattr(key, "curve_name", "") or ""
                    self.out.ephemeral[a.cipher_suite.name] = f"{key.type_name} {curve} {key.size}".replace("  ", " ")


def enumerate_tls(out: TlsScan, timeout: float, connections: int, cancelled: threading.Event) -> TlsScan:
    """Fill `out` (blocking); at most `connections` handshakes in flight to its address. Never raises for the
    server's behaviour: trouble lands in `error` (nothing measured) or `command_errors` (not all measured)."""
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix=f"tls-{out.ip}") as pool:
        _Enumerator(out, timeout, pool, cancelled).run()
    return out


def _settle(future: Future[VersionProbe]) -> VersionProbe:
    try:
        return future.result()
    except Exception as exc:  # cancelled, or a bug in the probe: test rather than guess
        return VersionProbe(None, _reason(exc))
