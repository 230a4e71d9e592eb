"""IP address → who runs the network: origin ASN, organisation and the registry's country, via RDAP.

This is the lookup path of ipwhois (`IPWhois.lookup_rdap`): Team Cymru's IP-to-ASN service over DNS
(`<reversed ip>.origin.asn.cymru.com TXT` → ASN, prefix, registry, registry country), then the RDAP server of
that registry (RFC 9082/9083 `…/ip/<address>`) for the network object and its registrant.

Why we do not let ipwhois do the I/O: `ipwhois.net.Net` builds its own `dns.resolver.Resolver()` (the system's
resolver from /etc/resolv.conf, not the one the DPO pinned) and fetches over urllib (system DNS again, the
system CA store, no size cap), and it refuses reserved addresses outright. So the Cymru query goes through
our `Resolver` and the RDAP request through our `HttpFetcher` (which resolves through the same `Resolver`,
uses the configured CA bundle and port map, and caps the body); ipwhois supplies the registry → RDAP URL
table and the DNS zone layout, and parses the RDAP objects (network, entities and their vCards).

Results are cached per run (concurrent lookups of one address share one request) and, when the pipeline
passes a store, across runs with a TTL: registration data changes over months, not hours. Failures are
never cached, and never raise: they come back as `NetworkOwner.error`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from ipwhois.net import IPV4_DNS_ZONE, IPV6_DNS_ZONE
from ipwhois.rdap import RIR_RDAP, _RDAPEntity, _RDAPNetwork

from auditor.lru import Lru
from auditor.net.dns import DnsError, Resolver, txt_strings
from auditor.net.http import HttpFetcher

DEFAULT_TTL = 7 * 24 * 3600.0  # seconds a stored answer is reused: RIR registrations change rarely
MAX_RDAP_BYTES = 256 * 1024  # RDAP network objects are a few KiB; anything far larger is not one
MAX_ORG = 200
RDAP_RUN_ENTRIES = 4096  # owners remembered per run (a campaign's hosts come and go; the store keeps them all)
MAX_IN_FLIGHT = 4  # concurrent RDAP requests per run: the RIRs rate-limit (ARIN and RIPE answer 429)
RDAP_ACCEPT = {"Accept": "application/rdap+json, application/json;q=0.9"}


class RdapCache(Protocol):
    """Where answers outlive the run (the SQLite store implements it)."""

    def rdap_get(self, ip: str, max_age: float) -> dict[str, Any] | None: ...

    def rdap_put(self, ip: str, body: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class NetworkOwner:
    """What the registries say about one address. Every field but `ip` may be None (not known)."""

    ip: str
    asn: int | None = None
    org: str | None = None
    registry: str | None = None  # ipwhois's names: arin, ripencc, apnic, lacnic, afrinic
    registry_country: str | None = None  # the country the block is registered in, not where it is used
    prefix: str | None = None
    network: str | None = None  # the RDAP network's handle and name
    rdap_url: str | None = None
    fetched_at: str | None = None
    cached: bool = False  # True when this came from the store rather than the network
    rdap: bool = False  # the registry's RDAP answer was obtained and parsed
    error: str | None = None  # why some of the facts are missing
    cymru: list[str] = field(default_factory=list)  # the raw TXT answers, for evidence

    @property
    def source(self) -> str | None:
        """One line for `hosting.location`'s `sources`, or None when nothing was learnt."""
        parts = []
        if self.asn is not None:
            parts.append("Team Cymru IP-to-ASN (DNS)")
        if self.rdap:
            parts.append(f"RDAP {self.rdap_url}")
        if not parts:
            return None
        when = f", {'cached' if self.cached else 'fetched'} {self.fetched_at}" if self.fetched_at else ""
        return " + ".join(parts) + " via ipwhois" + when

    def evidence(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "ip"}

    def to_cache(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("cached")
        return body

    @classmethod
    def from_cache(cls, body: dict[str, Any]) -> NetworkOwner | None:
        return cls.from_evidence(str(body.get("ip", "")), body, cached=True)

    @classmethod
    def from_evidence(cls, ip: str, body: dict[str, Any], *, cached: bool | None = None) -> NetworkOwner | None:
        """Back from `to_cache()` or `evidence()`; None for a body this version cannot read."""
        known = {f.name for f in fields(cls)} - {"ip"}
        data = {k: v for k, v in body.items() if k in known}
        if cached is not None:
            data["cached"] = cached
        try:
            return cls(ip, **data)
        except TypeError:  # written by an incompatible version: fetch again
            return None


def cymru_name(ip: str) -> str:
    """The Team Cymru origin query name, built the way ipwhois.net.Net builds it."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return str(IPV4_DNS_ZONE).format(".".join(reversed(str(address).split("."))))
    groups = address.exploded.split(":")
    while groups and groups[-1] == "0000":  # ipwhois: Cymru times out on trailing zero groups
        groups.pop()
    return str(IPV6_DNS_ZONE).format(".".join("".join(groups)[::-1]))


@dataclass(frozen=True)
class CymruOrigin:
    asn: int
    prefix: str
    country: str | None
    registry: str


def parse_cymru(text: str) -> CymruOrigin | None:
    """`"15169 | 8.8.8.0/24 | US | arin | 2023-12-28"` (the layout ipwhois's parse_fields_dns reads).

    Strict: a stranger's TXT record is untrusted input. Several origin ASNs ("16509 14618 | …") keep the first.
    """
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 4:
        return None
    asns = parts[0].split()
    if not asns or not asns[0].isdigit() or not 0 < int(asns[0]) < 2**32:
        return None
    try:
        prefix = str(ipaddress.ip_network(parts[1], strict=False))
    except ValueError:
        return None
    registry = parts[3].lower()
    if registry not in RIR_RDAP:
        return None
    cc = parts[2].upper()
    return CymruOrigin(int(asns[0]), prefix, cc if len(cc) == 2 and cc.isalpha() else None, registry)


def _most_specific(origins: list[CymruOrigin]) -> CymruOrigin | None:
    return max(origins, key=lambda o: ipaddress.ip_network(o.prefix).prefixlen, default=None)


def _clean(text: Any, limit: int = MAX_ORG) -> str | None:
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())  # no control characters or line breaks from a registry into a report
    return text[:limit] or None


def parse_rdap(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(organisation, registry country, network label) from an RDAP IP network object, parsed by ipwhois."""
    net = _RDAPNetwork(body)
    net.parse()
    network = net.vars
    org = None
    # The registrant is who holds the block; fall back to any entity with a name, then the network name.
    entities = [e for e in body.get("entities") or [] if isinstance(e, dict)][:50]
    ranked = sorted(entities, key=lambda e: 0 if "registrant" in (e.get("roles") or []) else 1)
    for raw in ranked:
        try:
            entity = _RDAPEntity(raw)
            entity.parse()
        except Exception:  # ipwhois raises its own types for malformed entities: skip those
            continue
        contact = entity.vars.get("contact") or {}
        org = _clean(contact.get("name"))
        if org:
            break
    country = network.get("country")
    country = country.upper() if isinstance(country, str) and len(country) == 2 and country.isalpha() else None
    label = " ".join(x for x in (network.get("handle"), network.get("name")) if isinstance(x, str))
    return org or _clean(network.get("name")), country, _clean(label)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RdapClient:
    """One per scan. `lookup` never raises for network or data trouble: see `NetworkOwner.error`."""

    def __init__(self, resolver: Resolver, http: HttpFetcher, *, cache: RdapCache | None = None,
                 ttl: float = DEFAULT_TTL) -> None:
        self.resolver = resolver
        self.http = http
        self.cache = cache
        self.ttl = ttl
        self._runs: Lru[str, asyncio.Future[NetworkOwner]] = Lru(RDAP_RUN_ENTRIES)  # bounded: auditor.lru
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def lookup(self, ip: str) -> NetworkOwner:
        fut = self._runs.get(ip)
        if fut is None:
            fut = asyncio.ensure_future(self._lookup(ip))
            self._runs[ip] = fut
        return await asyncio.shield(fut)

    async def _lookup(self, ip: str) -> NetworkOwner:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            return NetworkOwner(ip, error=f"not an IP address: {ip[:60]!r}")
        if self.cache is not None:
            body = self.cache.rdap_get(ip, self.ttl)
            owner = NetworkOwner.from_cache(body) if body else None
            if owner is not None:
                return owner
        owner = await self._fetch(ip)
        if self.cache is not None and owner.error is None:
            self.cache.rdap_put(ip, owner.to_cache())
        return owner

    async def _fetch(self, ip: str) -> NetworkOwner:
        name = cymru_name(ip)
        try:
            answer = await self.resolver.resolve(name, "TXT")
        except DnsError as exc:
            return NetworkOwner(ip, fetched_at=_now(), error=f"Team Cymru ASN lookup ({name}): {exc.reason}")
        raw = [t.decode("utf-8", "replace")[:300] for t in txt_strings(answer, 20)]
        origin = _most_specific([o for o in map(parse_cymru, raw) if o is not None])
        if origin is None:
            why = "no origin ASN published" if not raw else "unparseable answer"
            return NetworkOwner(ip, fetched_at=_now(), cymru=raw, error=f"Team Cymru ASN lookup ({name}): {why}")
        url = str(RIR_RDAP[origin.registry]["ip_url"]).format(ip)
        base = NetworkOwner(ip, asn=origin.asn, registry=origin.registry, registry_country=origin.country,
                            prefix=origin.prefix, rdap_url=url, fetched_at=_now(), cymru=raw)
        async with self._in_flight:
            result = await self.http.get(url, max_bytes=MAX_RDAP_BYTES, headers=RDAP_ACCEPT)
        if result.error or result.truncated or result.status != 200:
            why = result.error or ("answer over the size cap" if result.truncated else f"HTTP {result.status}")
            return _replace(base, error=f"RDAP {url}: {why}")
        try:
            body = json.loads(result.body.decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            org, country, label = parse_rdap(body)
        except Exception as exc:  # JSON or ipwhois parse errors: a broken or hostile registry answer
            return _replace(base, error=f"RDAP {url}: not an RDAP network object ({type(exc).__name__})")
        return _replace(base, org=org, registry_country=country or origin.country, network=label, rdap=True)


def _replace(owner: NetworkOwner, **changes: Any) -> NetworkOwner:
    return NetworkOwner(**{**asdict(owner), **changes})
