"""What every probe gets: settings, the run's shared resolver/HTTP client/GeoIP reader, and the limits."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import certifi
from cryptography import x509

from auditor.errors import ConfigError
from auditor.findings import Finding, Vantage
from auditor.lru import Lru
from auditor.net.certs import load_bundle
from auditor.net.dns import Resolver
from auditor.net.dnssec import DnssecResult, TrustAnchors, ValidationCache, load_trust_anchors, query_via, validate
from auditor.net.geo import GeoLocator
from auditor.net.http import HttpFetcher
from auditor.net.rdap import RdapCache, RdapClient
from auditor.net.tls import TlsScanner
from auditor.net.vantage import dnssec_limit
from auditor.probes.addresses import not_public
from auditor.probes.hosting import rescope
from auditor.settings import Settings
from auditor.trust_spaces import SpaceAnchors, anchors, load_trust_spaces

if TYPE_CHECKING:
    from auditor.probes.endpoint import TlsEndpoint


ENDPOINT_CACHE_ENTRIES = 2048


class PageStore(Protocol):
    """Where fetched claim pages are kept for the evidence bundle (the SQLite store implements it)."""

    def put_page(self, body: bytes, content_type: str | None) -> None: ...


@dataclass
class Limits:
    """A global cap on concurrent network work and a politeness cap per remote host."""

    total: int
    per_host: int
    _global: asyncio.Semaphore = field(init=False)
    _hosts: defaultdict[str, asyncio.Semaphore] = field(init=False)

    def __post_init__(self) -> None:
        self._global = asyncio.Semaphore(self.total)
        self._hosts = defaultdict(lambda: asyncio.Semaphore(self.per_host))

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._hosts[host], self._global:
            yield


@dataclass
class ScanContext:
    settings: Settings
    resolver: Resolver
    http: HttpFetcher
    geo: GeoLocator
    limits: Limits
    roots: list[x509.Certificate]  # the CA bundle every certificate is judged against
    anchors: TrustAnchors  # DNSSEC trust anchors
    tls: TlsScanner
    spaces: dict[str, SpaceAnchors] = field(default_factory=dict)  # trust space id -> its PKI roots
    dnssec_cache: ValidationCache = field(default_factory=ValidationCache)
    rdap: RdapClient | None = None  # ASN/organisation look-ups; None: not looked up (hosting findings say so)
    vantage: Vantage | None = None  # what this vantage point can test (None: not characterised, test everything)
    pages: PageStore | None = None  # keeps claim pages as fetched; None: hashed only

    @classmethod
    def create(cls, settings: Settings, *, rdap_cache: RdapCache | None = None,
               pages: PageStore | None = None) -> ScanContext:
        """`rdap_cache`: a store that keeps RDAP answers across runs (the per-run cache is always on); `pages`:
        a store that keeps the claim pages fetched (the evidence bundle carries them)."""
        resolver = Resolver(settings.resolver_address(), timeout=settings.timeout, in_flight=settings.dns_in_flight)
        http = HttpFetcher(resolver, ca_bundle=settings.ca_bundle, timeout=settings.timeout,
                           port_map=settings.port_map, refuse=partial(not_public, lab=settings.lab))
        bundle = settings.ca_bundle or Path(certifi.where())
        try:
            roots = load_bundle(bundle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{bundle}: not a readable PEM CA bundle ({exc}); fix --ca-bundle") from exc
        return cls(settings, resolver, http, GeoLocator(settings.geoip_db),
                   Limits(settings.concurrency, settings.per_host), roots, load_trust_anchors(settings.trust_anchor),
                   TlsScanner(settings.tls_scans, settings.tls_connections), spaces=anchors(settings.pki_roots),
                   rdap=RdapClient(resolver, http, cache=rdap_cache), pages=pages)

    def space_of(self, ep: TlsEndpoint) -> SpaceAnchors | None:
        """The trust space whose PKI authenticates this endpoint: the MX hosts of the space's mail domains."""
        if not ep.starttls:
            return None  # web portals and chat endpoints are reached by browsers and apps: the web PKI
        space = load_trust_spaces().space_for_mail_domain(ep.subject)
        return self.spaces.get(space.id) if space and "smtp" in space.services else None

    async def validate(self, name: str, rdtype: str) -> DnssecResult:
        """DNSSEC validation of one question, from our anchors, through our resolver, with the run's cache.

        Through a resolver that does not return DNSSEC records, nothing can be validated: every answer is
        `indeterminate` with that reason (never `insecure`, which would blame a signed zone)."""
        if self.vantage is not None and self.vantage.resolver_dnssec is False:
            return DnssecResult("indeterminate", dnssec_limit(self.vantage))
        return await validate(name, rdtype, query_via(self.resolver), self.anchors, cache=self.dnssec_cache)

    # Bounded (auditor.lru): a host shared by many domains stays, one seen once is forgotten (and scanned again
    # should it come back after 2,048 others).
    _endpoints: Lru[tuple[str, int, bool, bool], asyncio.Future[list[Finding]]] = field(
        default_factory=lambda: Lru(ENDPOINT_CACHE_ENTRIES))

    async def endpoint(self, ep: TlsEndpoint, audit: Callable[[TlsEndpoint, ScanContext], Awaitable[list[Finding]]],
                       ) -> list[Finding]:
        """Scan each (host, port, mode) once per run, even when several domains or providers share it."""
        key = (ep.host, ep.port, ep.starttls, ep.not_tls is None)  # two catalogs may disagree on TLS
        fut = self._endpoints.get(key)
        first = fut is None
        if fut is None:
            fut = asyncio.ensure_future(audit(ep, self))
            self._endpoints[key] = fut
        findings = await asyncio.shield(fut)
        if first:
            return findings
        owner = findings[0].subject if findings else ep.subject
        # A shared host's location is judged again with this provider's DPF status.
        return [f.model_copy(update={"subject": ep.subject}) if f.subject == owner and f.id != "hosting.location"
                else rescope(f, ep.dpf_certified) for f in findings]

    async def aclose(self) -> None:
        await self.http.aclose()
        self.geo.close()
