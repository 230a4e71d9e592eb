"""`Lab`: the whole simulated Internet on loopback, run in a background thread with its own event loop.

A scan only needs `lab.overrides()` (or `lab.flags()` on the command line): a resolver address, a port map
(well-known ports -> unprivileged ones), the lab CA bundle, the lab trust anchor, the lab GeoIP database, and
what characterises the vantage point in the lab (its reference domain, a resolver that returns DNSSEC
records). Nothing in the scanner knows it talks to a lab.

Resolvers: one per kind a DPO meets (`dns_server.RESOLVER_MODES`): validating (the default, 127.N.0.53),
plain (127.N.0.54: DNSSEC records, no AD) and strip (127.N.0.55: no DNSSEC records at all). And one validating
resolver per DNS view of world.yaml (`views`: geo-DNS, some names answering with other addresses there), on
the octet the view declares: two vantage points in two regions, on one machine.

IPv6 (`ipv6=True`): every host also gets an address in fd00:0:0:N::/64 (a unique local prefix, RFC 4193:
never routed on the Internet), an AAAA record, and servers on it. The addresses must be local to the
network namespace the lab runs in (`ip -6 route add local fd00:0:0:N::/64 dev lo` and
`sysctl net.ipv6.ip_nonlocal_bind=1`), or unreachable on purpose (an IPv4-only vantage point): see
tests/netns.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from auditor.lab.ca import IssuedCert, LabCA
from auditor.lab.dns_server import RESOLVER_MODES, DnsServer, LabResolver
from auditor.lab.geo import Location, write_geoip_db
from auditor.lab.https_server import HttpServer, Request, Route
from auditor.lab.raw_server import RawServer
from auditor.lab.rdap import add_registry_hosts, publish_registry_data
from auditor.lab.smtp_server import Delivered, SmtpServer
from auditor.lab.tlsconf import TlsSettings, server_context
from auditor.lab.tsa import LabTsa
from auditor.lab.world import LAB_CATALOG, OVERLAY, HostSpec, World, allocate_addresses, build_world, ipv6_of
from auditor.lab.zones import ROOT, SigningPolicy, ZoneBuilder, ZoneSet, signing_module
from auditor.settings import PACKAGED_CATALOG

REPO_CATALOG = PACKAGED_CATALOG  # the top-level providers.yaml in a checkout, its packaged copy elsewhere
DEFAULT_PORT_MAP = {25: 2525, 80: 8080, 443: 4443, 465: 4465}
START_TIMEOUT = 30.0
# The lab's stand-in for the reference domains a vantage point is measured against (settings.reference_domains).
REFERENCE_DOMAIN = "exemplary.example"
# Last octet of each resolver's address in 127.N.0.0/24 (the validating one is the lab's resolver).
RESOLVER_OCTETS = dict(zip(RESOLVER_MODES, (53, 54, 55), strict=True))
TSA_OCTET = 80  # the lab's time-stamping authority, http://127.<net>.0.80/tsr (auditor/lab/tsa.py)


class _Server(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def default_catalogs() -> list[Path]:
    """The repository's providers.yaml (when it exists) and the lab's broken providers."""
    return [p for p in (REPO_CATALOG, LAB_CATALOG) if p.exists()]


def _unprivileged(port_map: dict[int, int] | None) -> dict[int, int]:
    merged = {**DEFAULT_PORT_MAP, **(port_map or {})}
    for src, dst in merged.items():
        if dst < 1024:
            raise ValueError(f"port map {src}={dst}: the lab runs without root, use a port above 1023")
    return merged


class Lab:
    """Start with `with Lab() as lab:` or `lab.start()` / `lab.stop()`."""

    def __init__(
        self,
        catalogs: Sequence[Path] | None = None,
        net: int = 77,
        workdir: Path | None = None,
        dns_port: int = 5353,
        port_map: dict[int, int] | None = None,
        overlay: Path = OVERLAY,
        rtt_ms: float = 0.0,
        ipv6: bool = False,
    ) -> None:
        if not 1 <= net <= 254:
            raise ValueError(f"net must be 1..254 (addresses 127.<net>.x.y), got {net}")
        self.catalogs = list(catalogs) if catalogs is not None else default_catalogs()
        # Until the real providers.yaml exists, the overlay's real-world providers stand in for it.
        self._standin = catalogs is None and not REPO_CATALOG.exists()
        self.net = net
        self.dns_address = f"127.{net}.0.53"
        self.dns_port = dns_port
        self.port_map = _unprivileged(port_map)
        self.overlay = overlay
        self.rtt_ms = rtt_ms  # > 0: every server behind a latency relay (auditor/lab/relay.py)
        self.ipv6_prefix = f"fd00:0:0:{net}::/64" if ipv6 else None
        self._own_workdir = workdir is None
        self._workdir = workdir  # a temporary directory is made on first use when None
        self.mailbox: list[Delivered] = []
        self.requests: list[Request] = []
        self.questions: Counter[tuple[str, str]] = Counter()  # DNS questions asked of any lab resolver
        self.world = World()
        self.zones = ZoneSet()
        self.view_zones: dict[str, ZoneSet] = {}  # DNS views (geo-DNS): the same zones, some names answered otherwise
        self.certs: dict[str, IssuedCert] = {}
        self.private_ca_bundles: dict[str, Path] = {}  # sector PKIs (not in ca_bundle), by name
        self.startup_seconds = 0.0
        self.tsa: LabTsa | None = None
        self._servers: list[_Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- public API ---------------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"auditor-lab-{self.net}-"))
        return self._workdir

    @property
    def ca_bundle(self) -> Path:
        return self.workdir / "lab-ca.pem"

    @property
    def trust_anchor(self) -> Path:
        return self.workdir / "lab-root-anchor.zone"

    @property
    def geoip_db(self) -> Path:
        return self.workdir / "lab-geoip.mmdb"

    def resolver(self, mode: str = "validating") -> str:
        """`IP:PORT` of the lab resolver of that kind (validating, plain, strip)."""
        return f"127.{self.net}.0.{RESOLVER_OCTETS[mode]}:{self.dns_port}"

    @property
    def views(self) -> list[str]:
        """The lab's DNS views (geo-DNS), each answered by a resolver of its own (`view_resolver`)."""
        return list(self.world.view_octets)

    def view_resolver(self, view: str) -> str:
        """`IP:PORT` of the validating resolver that answers as the DNS view `view` (world.yaml `views`)."""
        if view not in self.world.view_octets:
            raise ValueError(f"no DNS view {view!r} in the lab; known: {', '.join(self.views) or 'none'}")
        return f"127.{self.net}.0.{self.world.view_octets[view]}:{self.dns_port}"

    @property
    def tsa_url(self) -> str:
        """The lab's RFC 3161 time-stamping authority (setting `tsa_url`; its certificate chains to `ca_bundle`)."""
        return f"http://127.{self.net}.0.{TSA_OCTET}/tsr"

    def overrides(self) -> dict[str, Any]:
        """Exactly the settings a scan of the lab needs (keys of `auditor.settings.Settings`)."""
        return {
            "resolver": self.resolver(),
            "port_map": dict(self.port_map),
            "ca_bundle": self.ca_bundle,
            # the lab's sector CAs stand in for the real ones (e.g. IGC-Santé), as its CA does for the public bundle
            "pki_roots": dict(self.private_ca_bundles),
            "trust_anchor": self.trust_anchor,
            "geoip_db": self.geoip_db,
            "lab": True,
            "reference_domains": [REFERENCE_DOMAIN],
            "resolver_candidates": [self.resolver()],
        }

    def flags(self) -> str:
        """The same as command-line flags, for `auditor scan`."""
        ports = ",".join(f"{k}={v}" for k, v in sorted(self.port_map.items()))
        pkis = ",".join(f"{k}={v}" for k, v in sorted(self.private_ca_bundles.items()))
        return (
            f"--resolver {self.resolver()} --port-map {ports} --ca-bundle {self.ca_bundle} "
            + (f"--pki-roots {pkis} " if pkis else "")
            + f"--trust-anchor {self.trust_anchor} --geoip-db {self.geoip_db} --lab "
            f"--reference-domains {REFERENCE_DOMAIN} --resolver-candidates {self.resolver()}"
        )

    def address(self, host: str) -> str:
        """The loopback address of a lab host name."""
        return self.world.hosts[host.lower().rstrip(".")].ip

    def port(self, well_known: int) -> int:
        return self.port_map.get(well_known, well_known)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Lab:
        if self.running:
            return self
        t0 = time.monotonic()
        try:
            self._build()
        except BaseException:
            self._cleanup_workdir()
            raise
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"auditor-lab-{self.net}", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start_servers(), loop).result(START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            self._cleanup_workdir()
            return
        if thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop_servers(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        loop.close()
        self._loop = self._thread = None
        self._servers = []
        self._cleanup_workdir()

    def _cleanup_workdir(self) -> None:
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)  # a restart re-creates it

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- building -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        world = build_world(self.catalogs, self.overlay, include_overlay_only=self._standin)
        add_registry_hosts(world)  # RDAP servers: hosts of their own, so they need addresses and certificates
        for name, ip in allocate_addresses(world.hosts, self.net).items():
            world.hosts[name].ip = ip
            if self.ipv6_prefix:
                world.hosts[name].ip6 = ipv6_of(ip, self.ipv6_prefix)
        publish_registry_data(world)  # ASN TXT records and RDAP answers, now that every address is known
        for host in world.hosts.values():
            for port in host.raw_ports:
                if port < 1024 and port not in self.port_map:
                    self.port_map[port] = 10000 + port  # no root: privileged ports move, and the map says so
        self.world = world
        ca = LabCA(self.workdir / "pki")
        shutil.copyfile(ca.bundle, self.ca_bundle)
        self.certs = {}
        for host in world.hosts.values():
            if host.smtp or host.smtps or host.https:
                self.certs[host.name] = ca.issue([host.name, *host.also], host.tls.key_type, host.tls.cert_fault,
                                                 host.tls.ca)
        self.private_ca_bundles = {name: pem for name, (_, _, pem) in ca.private.items()}
        self.tsa = LabTsa(ca.inter_key, ca.intermediate)
        self.zones = self._build_zones(world)
        self.view_zones = {view: self.zones.view(self._view_answers(names)) for view, names in world.views.items()}
        self._write_trust_anchor()
        write_geoip_db(self.geoip_db, {
            ip: Location(h.country, h.asn, h.org) for h in world.hosts.values() for ip, _ in h.addresses()
        })

    def _build_zones(self, world: World) -> ZoneSet:
        zb = ZoneBuilder(self.dns_address)
        for origin, policy in world.zones.items():
            zb.declare_zone(origin, policy)
        zb.declare_zone(".", SigningPolicy(signed=True))
        zb.add("a.root-servers.net.", "A", self.dns_address, 86400)
        for owner, rdtype, value in world.records:
            zb.add(owner, rdtype, value)
        for host in world.hosts.values():
            zb.add(host.name + ".", "A", host.ip)
            if host.ip6:
                zb.add(host.name + ".", "AAAA", host.ip6)
            cert = self.certs.get(host.name)
            if host.dane and cert is not None and host.smtp:
                tlsa = cert.tlsa_3_1_1()
                if host.dane == "mismatch":
                    tlsa = tlsa[:-8] + "00000000"  # a record for a key the server does not have
                zb.add(f"_25._tcp.{host.name}.", "TLSA", tlsa)
        return zb.finish()

    def _view_answers(self, names: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
        """Public name -> the address records of the host that answers for it in a view."""
        out: dict[str, list[tuple[str, str]]] = {}
        for public, twin_name in names.items():
            twin = self.world.hosts[twin_name]
            out[public + "."] = [("A", twin.ip), *([("AAAA", twin.ip6)] if twin.ip6 else [])]
        return out

    def _write_trust_anchor(self) -> None:
        signing = signing_module()
        keys = self.zones.keys.get(ROOT)
        if keys is not None and signing is not None and hasattr(signing, "trust_anchor_text"):
            self.trust_anchor.write_text(signing.trust_anchor_text(keys), encoding="utf-8")
        else:
            self.trust_anchor.write_text(
                "; auditor lab: the root zone is not signed (no signer available), so no trust anchor.\n",
                encoding="utf-8",
            )

    def _make_servers(self) -> list[_Server]:
        faults = {}
        for f in self.world.dns_faults:
            faults[f.key()] = f.fault
        servers: list[_Server] = [DnsServer(LabResolver(self.zones, faults, mode, self.questions),
                                            f"127.{self.net}.0.{RESOLVER_OCTETS[mode]}", self.dns_port)
                                  for mode in RESOLVER_MODES]
        # One validating resolver per DNS view (geo-DNS), on its own address.
        servers += [DnsServer(LabResolver(self.view_zones.get(view, self.zones), faults, "validating"),
                              f"127.{self.net}.0.{octet}", self.dns_port)
                    for view, octet in self.world.view_octets.items()]
        for host in self.world.hosts.values():
            for ip, tls in host.addresses():
                servers += self._host_servers(host, ip, tls)
        if self.tsa is not None:
            tsa_ip = f"127.{self.net}.0.{TSA_OCTET}"
            servers.append(HttpServer(tsa_ip, self.port(80), {}, self.requests, None,
                                      handlers={(tsa_ip, "/tsr"): self.tsa.route}))
        return servers

    def _host_servers(self, host: HostSpec, ip: str, tls: TlsSettings) -> list[_Server]:
        servers: list[_Server] = []
        cert = self.certs.get(host.name)
        ctx = server_context(cert, tls) if cert is not None else None
        if host.smtp:
            starttls = ctx if host.starttls else None
            servers.append(SmtpServer(host.name, ip, self.port(25), starttls, self.mailbox))
        if host.smtps and ctx is not None:
            servers.append(SmtpServer(host.name, ip, self.port(465), ctx, self.mailbox, implicit_tls=True))
        if host.https and ctx is not None:
            names = (host.name, *host.also)
            routes = {(name, path): r for name in names for path, r in host.routes.items()}
            servers.append(HttpServer(ip, self.port(443), routes, self.requests, {name: ctx for name in names},
                                      compressed=frozenset({host.name} if host.gzip else ())))
        for raw_port in sorted(host.raw_ports):
            servers.append(RawServer(ip, self.port(raw_port)))
        if host.http:
            plain: dict[tuple[str, str], Route] = {(host.name, p): r for p, r in host.http_routes.items()}
            fallback = host.http_routes.get("*")
            servers.append(HttpServer(ip, self.port(80), plain, self.requests, None, default=fallback))
        return servers

    async def _start_servers(self) -> None:
        self._servers = self._make_servers()
        if self.rtt_ms > 0:
            from auditor.lab.relay import interpose  # only labs with latency need it

            self._servers = interpose(self._servers, self.rtt_ms / 1000)
        for server in self._servers:
            await server.start()

    async def _stop_servers(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._servers), return_exceptions=True)
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def serve_forever(lab: Lab) -> None:
    """`auditor lab serve`: start, print the scan flags, run until Ctrl-C (or SIGTERM)."""
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with lab:
            hosts = len(lab.world.hosts)
            print(f"auditor lab: {len(lab.world.providers)} providers, {hosts} hosts, "
                  f"{len(lab.zones.zones)} zones, started in {lab.startup_seconds:.1f}s", flush=True)
            print(f"scan it with: auditor scan {lab.flags()}", flush=True)
            print(f"other resolvers: --resolver {lab.resolver('plain')} (DNSSEC records, no AD), "
                  f"--resolver {lab.resolver('strip')} (strips DNSSEC records)", flush=True)
            for view in lab.views:
                print(f"DNS view {view!r} (geo-DNS): --resolver {lab.view_resolver(view)}", flush=True)
            if lab.ipv6_prefix:
                print(f"IPv6: every host also on {lab.ipv6_prefix}", flush=True)
            print(f"(add --providers {LAB_CATALOG} for the deliberately broken lab providers)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(0.5):
                    pass
    finally:
        signal.signal(signal.SIGTERM, previous)

