"""The version-first, family-first TLS scan finds exactly what sslyze's full enumeration (every suite of every
version, one handshake each) finds, on lab servers of different profiles, in far fewer handshakes."""

from __future__ import annotations

import threading

import pytest
from sslyze import ScanCommand, Scanner, ServerNetworkLocation, ServerScanRequest, ServerScanStatusEnum

from auditor.lab import Lab
from auditor.net.tls_enum import VERSIONS, TlsScan, enumerate_tls, families, network_config

# (host, well-known port): a modern EC server (TLS 1.2: 7 suites, TLS 1.3: 3), an RSA TLS 1.2-only server of
# static-RSA CBC suites, an RSA server of TLS 1.0 and 1.1 only, an RSA server with OpenSSL's defaults (ECDHE and
# DHE families, 13 TLS 1.2 suites), and a direct-TLS web server.
SERVERS = [("mx01.posteo.de", 25), ("mx.weakcipher.example", 25), ("mx.legacytls.example", 25),
           ("mx.weakkey.example", 25), ("posteo.de", 443)]


COMMANDS = {"SSLv2": ScanCommand.SSL_2_0_CIPHER_SUITES, "SSLv3": ScanCommand.SSL_3_0_CIPHER_SUITES,
            "TLSv1": ScanCommand.TLS_1_0_CIPHER_SUITES, "TLSv1.1": ScanCommand.TLS_1_1_CIPHER_SUITES,
            "TLSv1.2": ScanCommand.TLS_1_2_CIPHER_SUITES, "TLSv1.3": ScanCommand.TLS_1_3_CIPHER_SUITES}


def full_enumeration(lab: Lab, host: str, port: int) -> dict[str, set[str]]:
    """sslyze on its own: every cipher-suite command, every suite."""
    location = ServerNetworkLocation(hostname=host, port=lab.port(port), ip_address=lab.address(host))
    request = ServerScanRequest(server_location=location, network_configuration=network_config(host, port == 25, 5),
                                scan_commands=set(COMMANDS.values()))
    scanner = Scanner(per_server_concurrent_connections_limit=5)
    scanner.queue_scans([request])
    [server] = list(scanner.get_results())
    assert server.scan_status == ServerScanStatusEnum.COMPLETED and server.scan_result is not None
    found = {}
    for version, command in COMMANDS.items():
        attempt = getattr(server.scan_result, command.value)
        assert attempt.result is not None, f"{version}: {attempt.error_reason}"
        if attempt.result.accepted_cipher_suites:
            found[version] = {a.cipher_suite.name for a in attempt.result.accepted_cipher_suites}
    return found


@pytest.mark.parametrize(("host", "port"), SERVERS)
def test_same_suites_as_the_full_enumeration(lab: Lab, host: str, port: int) -> None:
    scan = enumerate_tls(TlsScan(host, lab.address(host), lab.port(port), port == 25), 5, 5, threading.Event())
    assert scan.error is None and not scan.command_errors, (scan.error, scan.command_errors)
    ours = {v: set(names) for v, names in scan.cipher_suites.items()}
    assert ours == full_enumeration(lab, host, port)
    assert scan.protocols == [v for v in VERSIONS if v in ours]
    assert scan.chain and host in str(scan.chain[0].subject) + str(scan.chain[0].extensions)


def test_families_partition_every_suite() -> None:
    assert list(COMMANDS) == list(VERSIONS)
    for version in VERSIONS:
        fams = families(version)
        suites = [s for f in fams for s in f.suites]
        assert len(suites) == len(set(suites))  # no suite in two families
        assert all(f.version == version for f in fams)
    assert len(families("TLSv1.2")) < 30 and sum(len(f.suites) for f in families("TLSv1.2")) > 150


def test_cancelled_scan_runs_no_handshake(lab: Lab) -> None:
    cancelled = threading.Event()
    cancelled.set()
    scan = enumerate_tls(TlsScan("mx01.posteo.de", lab.address("mx01.posteo.de"), lab.port(25), True), 5, 5, cancelled)
    assert scan.error and "deadline" in scan.error and not scan.protocols
