"""TLS scans through sslyze, always with an explicit IP (sslyze never resolves names for us).

One `scan_tls` call scans one address of one endpoint: accepted protocol versions and cipher suites, and the
certificate chain the server sent. sslyze is thread-based; we run it in a worker thread so the asyncio
scheduler keeps its deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sslyze import (
    ProtocolWithOpportunisticTlsEnum,
    ScanCommand,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.errors import ConnectionToServerFailed
from sslyze.plugins.certificate_info.implementation import CertificateInfoScanResult

# sslyze's scan command for each protocol version, oldest first.
VERSION_COMMANDS: dict[str, ScanCommand] = {
    "SSLv2": ScanCommand.SSL_2_0_CIPHER_SUITES,
    "SSLv3": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "TLSv1": ScanCommand.TLS_1_0_CIPHER_SUITES,
    "TLSv1.1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "TLSv1.2": ScanCommand.TLS_1_2_CIPHER_SUITES,
    "TLSv1.3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}


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
    command_errors: dict[str, str] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port, "protocols": self.protocols, "cipher_suites": self.cipher_suites,
                "ephemeral_keys": self.ephemeral, "errors": self.command_errors}


def _scan_blocking(host: str, ip: str, port: int, starttls: bool, timeout: float, per_host: int) -> TlsScan:
    result = TlsScan(host, ip, port, starttls)
    location = ServerNetworkLocation(hostname=host, port=port, ip_address=ip)
    config = ServerNetworkConfiguration(
        tls_server_name_indication=host,
        tls_opportunistic_encryption=ProtocolWithOpportunisticTlsEnum.SMTP if starttls else None,
        smtp_ehlo_hostname="auditor.invalid" if starttls else None,
        network_timeout=max(1, int(timeout)),
        network_max_retries=1,
    )
    request = ServerScanRequest(server_location=location, network_configuration=config,
                                scan_commands={ScanCommand.CERTIFICATE_INFO, *VERSION_COMMANDS.values()})
    scanner = Scanner(per_server_concurrent_connections_limit=per_host, concurrent_server_scans_limit=1)
    scanner.queue_scans([request])
    for server in scanner.get_results():
        if server.scan_status != ServerScanStatusEnum.COMPLETED or server.scan_result is None:
            trace = server.connectivity_error_trace
            result.error = _connectivity_reason(trace)
            return result
        attempts = server.scan_result
        for version, command in VERSION_COMMANDS.items():
            attempt = getattr(attempts, command.value)
            if attempt.result is None:
                result.command_errors[version] = str(attempt.error_reason.value if attempt.error_reason else "error")
                continue
            accepted = attempt.result.accepted_cipher_suites
            if accepted:
                result.protocols.append(version)
                result.cipher_suites[version] = [a.cipher_suite.name for a in accepted]
                for a in accepted:
                    if a.ephemeral_key is not None:
                        key = a.ephemeral_key
                        curve = getattr(key, "curve_name", "") or ""
                        result.ephemeral[a.cipher_suite.name] = f"{key.type_name} {curve} {key.size}".replace("  ", " ")
        cert_attempt = attempts.certificate_info
        info: CertificateInfoScanResult | None = cert_attempt.result
        if info and info.certificate_deployments:
            result.chain = list(info.certificate_deployments[0].received_certificate_chain)
        elif cert_attempt.error_reason:
            result.command_errors["certificate_info"] = str(cert_attempt.error_reason.value)
    return result


def _connectivity_reason(trace: Any) -> str:
    if trace is None:
        return "the TLS scan did not complete"
    text = str(trace).strip().splitlines()[-1] if str(trace).strip() else repr(trace)
    exc_type = getattr(trace, "exc_type", None)
    if isinstance(exc_type, type) and issubclass(exc_type, ConnectionToServerFailed):
        return text[:300]
    return f"{getattr(exc_type, '__name__', 'error')}: {text}"[:300]


def permissive_context() -> ssl.SSLContext:
    """What an opportunistic client accepts: any certificate, any version. Trust is judged separately."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):  # a build without SECLEVEL syntax keeps its defaults
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


async def tls_hello(host: str, ip: str, port: int, timeout: float) -> str | None:
    """One quick direct-TLS handshake; the reason it failed, or None. sslyze's connectivity test retries
    several client profiles with full timeouts each, so a silent or non-TLS port would eat the deadline."""
    writer = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, ssl=permissive_context(), server_hostname=host,
                                    ssl_handshake_timeout=timeout), timeout * 1.5)
        return None
    except TimeoutError:
        return f"no TLS handshake within {timeout:g}s (not a TLS service, or a stalled server)"
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or exc}"
    except OSError as exc:
        detail = exc.strerror or str(exc) or type(exc).__name__
        return f"connection failed during the TLS handshake ({detail}): not a TLS service?"
    finally:
        if writer is not None:
            writer.close()


# sslyze scans running at once, as many as the default executor allowed: each holds its own worker threads
# and buffers (measured: ~17 MB of peak RSS per extra concurrent scan), so this bounds memory. A scan past
# its deadline keeps its slot until it really ends.
MAX_CONCURRENT_SCANS = min(32, (os.cpu_count() or 1) + 4)
_SCANS = threading.BoundedSemaphore(MAX_CONCURRENT_SCANS)


def _in_daemon_thread(fn: Callable[..., TlsScan], *args: Any) -> asyncio.Future[TlsScan]:
    """Run `fn` in a thread of its own that nobody waits for. sslyze cannot be cancelled, and a server that
    stalls every connection after the first few keeps it busy for minutes (hundreds of handshakes, each up
    to the network timeout): in the default executor that thread would hold a worker and make
    `asyncio.run` wait for it at exit, past every deadline. Abandoned, it ends on its own."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[TlsScan] = loop.create_future()

    def settle(result: TlsScan | None, exc: BaseException | None) -> None:
        if future.done():  # the deadline passed: nobody is waiting any more
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            with _SCANS:
                result, exc = fn(*args), None
        except BaseException as e:  # handed to the awaiting coroutine, as asyncio.to_thread would
            result, exc = None, e
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, name=f"sslyze-{args[1]}", daemon=True).start()
    return future


async def scan_tls(host: str, ip: str, port: int, *, starttls: bool, timeout: float, per_host: int = 3,
                   deadline: float = 120.0) -> TlsScan:
    """Scan one address; never raises for network trouble: the reason is in `TlsScan.error`."""
    try:
        return await asyncio.wait_for(
            _in_daemon_thread(_scan_blocking, host, ip, port, starttls, timeout, per_host), deadline)
    except TimeoutError:
        return TlsScan(host, ip, port, starttls, error=f"TLS scan exceeded its {deadline:g}s deadline")
