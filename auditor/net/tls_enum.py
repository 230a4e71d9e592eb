"""The blocking TLS scan of one address, protocol version first. Runs in a worker thread (see `tls.scan_tls`).

sslyze's cipher-suite commands try every suite of every version, one handshake each: ~540 handshakes per
address, most of them for versions a modern server refuses outright. We first ask once per version, offering
all of its suites (in parallel with sslyze's connectivity test), and let sslyze enumerate suites one by one
only for the versions that answered, or that the probe could not settle: a network error is not a refusal.
The certificate chain comes from the probe of the highest version accepted, with SNI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from nassl import _nassl
from nassl.ssl_client import ClientCertificateRequested
from sslyze import ProtocolWithOpportunisticTlsEnum, ScanCommand, ServerNetworkConfiguration, ServerNetworkLocation
from sslyze.connection_helpers.tls_connection import SslConnection
from sslyze.errors import ConnectionToServerFailed, ServerTlsConfigurationNotSupported, TlsHandshakeFailed
from sslyze.plugins.plugin_base import ScanJobResult
from sslyze.plugins.scan_commands import ScanCommandsRepository
from sslyze.server_connectivity import ServerConnectivityInfo, TlsVersionEnum, check_connectivity_to_server

T = TypeVar("T")

# Each version, oldest first: sslyze's version and its cipher-suite command.
VERSIONS: dict[str, tuple[TlsVersionEnum, ScanCommand]] = {
    "SSLv2": (TlsVersionEnum.SSL_2_0, ScanCommand.SSL_2_0_CIPHER_SUITES),
    "SSLv3": (TlsVersionEnum.SSL_3_0, ScanCommand.SSL_3_0_CIPHER_SUITES),
    "TLSv1": (TlsVersionEnum.TLS_1_0, ScanCommand.TLS_1_0_CIPHER_SUITES),
    "TLSv1.1": (TlsVersionEnum.TLS_1_1, ScanCommand.TLS_1_1_CIPHER_SUITES),
    "TLSv1.2": (TlsVersionEnum.TLS_1_2, ScanCommand.TLS_1_2_CIPHER_SUITES),
    "TLSv1.3": (TlsVersionEnum.TLS_1_3, ScanCommand.TLS_1_3_CIPHER_SUITES),
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


def probe_version(location: ServerNetworkLocation, config: ServerNetworkConfiguration, version: str) -> VersionProbe:
    """One handshake per ClientHello of `_PROBES[version]` until the server accepts one."""
    refused = "refused"
    for legacy, suites in _PROBES[version]:
        # Client certificate requests are not ignored: a server that demands one still accepts the version.
        conn = SslConnection(location, config, VERSIONS[version][0], should_ignore_client_auth=False,
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
            refused = exc.error_message
        except ConnectionToServerFailed as exc:
            return VersionProbe(None, exc.error_message)
        except (OSError, _nassl.OpenSSLError) as exc:
            return VersionProbe(None, f"{type(exc).__name__}: {exc}"[:200])
        finally:
            conn.close()
    return VersionProbe(False, refused)


def _guarded(cancelled: threading.Event, fn: Callable[..., T], *args: Any) -> T:
    if cancelled.is_set():
        raise ScanCancelled("deadline passed")
    return fn(*args)


def _job_result(future: Future[Any]) -> ScanJobResult:
    try:
        return ScanJobResult(_return_value=future.result(), _exception=None)
    except Exception as exc:  # handed to sslyze's result builder, which raises it for the version
        return ScanJobResult(_return_value=None, _exception=exc)


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


def enumerate_tls(out: TlsScan, timeout: float, connections: int, cancelled: threading.Event) -> TlsScan:
    """Fill `out` (blocking); at most `connections` handshakes in flight to its address. Never raises for the
    server's behaviour: trouble lands in `error` (nothing measured) or `command_errors` (a version not measured)."""
    location = ServerNetworkLocation(hostname=out.host, port=out.port, ip_address=out.ip)
    config = network_config(out.host, out.starttls, timeout)
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix=f"tls-{out.ip}") as pool:
        connectivity = pool.submit(_guarded, cancelled, check_connectivity_to_server, location, config)
        # Newest first: the versions most servers accept, and the chain, come back first.
        probes = {v: pool.submit(_guarded, cancelled, probe_version, location, config, v) for v in reversed(VERSIONS)}
        try:
            info = ServerConnectivityInfo(location, config, connectivity.result())
        except Exception as exc:  # sslyze's connectivity test: unreachable, or no version/suite in common
            pool.shutdown(wait=False, cancel_futures=True)
            out.error = _reason(exc)
            return out
        settled = {v: _settle(f) for v, f in probes.items()}
        out.probes = {v: settled[v].label() for v in VERSIONS}
        enumerated = {v: [pool.submit(_guarded, cancelled, job.function_to_call, *job.function_arguments)
                          for job in _implementation(v).scan_jobs_for_scan_command(info)]
                      for v in VERSIONS if settled[v].accepted is not False}
        for version in VERSIONS:
            if version in enumerated:
                _collect(out, version, info, [_job_result(f) for f in enumerated[version]])
            if settled[version].accepted and version not in out.protocols:
                out.protocols.append(version)  # accepted, though none of sslyze's single suites was
    chain = next((p.chain_pem for v, p in reversed(settled.items()) if p.accepted and p.chain_pem), [])
    try:
        out.chain = _parse_chain(chain)
    except ValueError as exc:
        out.command_errors[MALFORMED_CHAIN] = f"malformed certificate: {exc}"[:300]
    return out


def _settle(future: Future[VersionProbe]) -> VersionProbe:
    try:
        return future.result()
    except Exception as exc:  # cancelled, or a bug in the probe: enumerate rather than guess
        return VersionProbe(None, _reason(exc))


def _implementation(version: str) -> Any:
    return ScanCommandsRepository.get_implementation_cls(VERSIONS[version][1])


def _collect(out: TlsScan, version: str, info: ServerConnectivityInfo, results: list[ScanJobResult]) -> None:
    try:
        scan = _implementation(version).result_for_completed_scan_jobs(info, results)
    except Exception as exc:  # one handshake failed for a network reason: the version is not measured
        out.command_errors[version] = _reason(exc)
        return
    accepted = scan.accepted_cipher_suites
    if not accepted:
        return
    out.protocols.append(version)
    out.cipher_suites[version] = [a.cipher_suite.name for a in accepted]
    for a in accepted:
        if a.ephemeral_key is not None:
            key = a.ephemeral_key
            curve = getattr(key, "curve_name", "") or ""
            out.ephemeral[a.cipher_suite.name] = f"{key.type_name} {curve} {key.size}".replace("  ", " ")
