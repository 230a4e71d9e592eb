"""The latency relay (auditor/lab/relay.py): same addresses, every exchange delayed by the configured RTT."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from auditor.lab import Lab
from auditor.lab.relay import PRIVATE_PORT_OFFSET, private_port, relays
from auditor.lab.world import LAB_CATALOG
from auditor.net.dns import Resolver
from auditor.net.http import HttpFetcher
from auditor.net.smtp import probe_starttls

RTT = 0.2  # seconds: large against loopback jitter on a loaded machine, small enough for a quick test


@pytest.fixture(scope="module")
def slow_lab() -> Iterator[Lab]:
    last: OSError | None = None
    for net in random.sample(range(100, 250), 8):  # other labs may share this machine
        lab = Lab(catalogs=[LAB_CATALOG], net=net, rtt_ms=RTT * 1000)
        try:
            lab.start()
        except OSError as exc:
            last = exc
            continue
        try:
            yield lab
        finally:
            lab.stop()
        return
    raise RuntimeError(f"no free lab network on loopback: {last}")


def _timed_udp_query(lab: Lab, name: str) -> tuple[float, dns.message.Message]:
    query = dns.message.make_query(name, "A")
    t0 = time.monotonic()
    answer = dns.query.udp(query, lab.dns_address, port=lab.dns_port, timeout=5)
    return time.monotonic() - t0, answer


def test_private_port_is_free_of_the_public_range() -> None:
    assert private_port(5353) == 5353 + PRIVATE_PORT_OFFSET
    assert private_port(60000) == 60000 - PRIVATE_PORT_OFFSET
    assert all(0 < private_port(p) < 65536 for p in (1, 2525, 4443, 45535, 45536, 65535))


def test_dns_over_udp_costs_one_rtt(slow_lab: Lab) -> None:
    elapsed, answer = _timed_udp_query(slow_lab, "mx1.exemplary.example")
    assert answer.answer, "the relayed resolver answered"
    assert RTT * 0.95 <= elapsed < RTT + 1.0


def test_dns_over_tcp_sees_at_least_one_rtt(slow_lab: Lab) -> None:
    query = dns.message.make_query("exemplary.example", "MX")
    t0 = time.monotonic()
    answer = dns.query.tcp(query, slow_lab.dns_address, port=slow_lab.dns_port, timeout=5)
    elapsed = time.monotonic() - t0
    assert answer.answer
    assert elapsed >= RTT * 0.95


def test_tcp_connect_and_banner_see_the_handshake_and_one_rtt(slow_lab: Lab) -> None:
    ip = slow_lab.address("mx1.exemplary.example")
    t0 = time.monotonic()
    with socket.create_connection((ip, slow_lab.port(25)), timeout=5) as s:
        s.settimeout(5)
        banner = s.recv(512)
    elapsed = time.monotonic() - t0
    assert banner.startswith(b"220 ")
    # TCP handshake (1 RTT) + the ACK reaching the server (0.5) + the banner's way back (0.5).
    assert 2 * RTT * 0.95 <= elapsed < 2 * RTT + 1.0


def test_starttls_and_https_work_through_the_relay(slow_lab: Lab) -> None:
    async def main() -> None:
        ip = slow_lab.address("mx1.exemplary.example")
        t0 = time.monotonic()
        probe = await probe_starttls(ip, slow_lab.port(25), "mx1.exemplary.example", timeout=5)
        elapsed = time.monotonic() - t0
        assert probe.tls_established, probe.error
        # connect+banner (2) + EHLO (1) + STARTTLS (1) + TLS 1.3 handshake (1) + QUIT (1) round trips
        assert elapsed >= 6 * RTT * 0.95
        resolver = Resolver((slow_lab.dns_address, slow_lab.dns_port), timeout=5)
        http = HttpFetcher(resolver, ca_bundle=slow_lab.ca_bundle, timeout=5, port_map=slow_lab.port_map)
        try:
            got = await http.get("https://mta-sts.exemplary.example/.well-known/mta-sts.txt")
        finally:
            await http.aclose()
        assert got.status == 200 and b"version: STSv1" in got.body, got.error

    asyncio.run(asyncio.wait_for(main(), 60))


def test_relays_count_what_they_carry(slow_lab: Lab) -> None:
    _timed_udp_query(slow_lab, "exemplary.example")
    found = relays(slow_lab._servers)
    assert found and sum(r.datagrams for r in found) >= 1
    assert any(r.udp and r.port == slow_lab.dns_port for r in found)


# --- synthetic mode (auditor/lab/synthetic.py), which the benchmarks run behind the relay -----------------
def test_synthetic_world_is_deterministic_and_shares_clusters(tmp_path: Path) -> None:
    from auditor.catalog import load_catalog
    from auditor.lab.synthetic import synthetic, write_synthetic
    from auditor.lab.world import build_world

    assert synthetic(60) == synthetic(60)
    catalog, overlay = write_synthetic(tmp_path, 60, cluster_count=5)
    providers = load_catalog(catalog).providers  # the scanner's own validating loader accepts it
    assert len(providers) == 60 and all(len(p.mail_domains) == 1 for p in providers)
    world = build_world([catalog], overlay)
    mx_hosts = {h for p in world.providers.values() for h, _ in p.mx}
    assert len(mx_hosts) == 10  # 5 clusters x 2 MX hosts, shared by all 60 domains
    assert all(world.hosts[h].smtp for h in mx_hosts)
