"""From provider catalogs + the lab overlay (`world.yaml`) to a description of the simulated Internet.

The catalog says what a provider *is* (domains, endpoints, claims with evidence URLs, the mail facts observed
by outsiders); the overlay says how its servers *behave* (MX hosts, hosting country, TLS versions, DNSSEC,
MTA-STS, faults), each fact with its source or the reason it is modelled (`basis`). The result (`World`) is
plain data: hosts with their roles, DNS records by owner name, signing policies and DNS faults. The runner
turns it into servers.

Catalogs are read with `yaml.safe_load` here, tolerantly (a list under `providers:` or a mapping by id;
`mail_domains` or `domains`; endpoints as URLs, host names, `{url: …}` or `{host: …, port: …}`; claims as a
list or a mapping), so the lab does not depend on the catalog module's models.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dns.name
import yaml

from auditor.lab.dns_server import DnsFault
from auditor.lab.https_server import Route
from auditor.lab.tlsconf import TlsSettings
from auditor.lab.zones import SigningPolicy, registrable

HERE = Path(__file__).parent
OVERLAY = HERE / "world.yaml"
LAB_CATALOG = HERE / "catalog.yaml"
CLAIM_STATES = ("ok", "changed", "gone")
HTTP_ONLY_HOSTS_KEY = "http_sinks"


@dataclass
class HostSpec:
    """One simulated server (one address): its roles and behaviour."""

    name: str
    provider: str
    country: str
    modelled: bool = False
    asn: int | None = None
    org: str | None = None
    registry_country: str | None = None  # where RDAP says the block is registered (None: where it is)
    tls: TlsSettings = field(default_factory=TlsSettings)
    smtp: bool = False
    starttls: bool = True
    smtps: bool = False  # implicit TLS (port 465)
    https: bool = False
    gzip: bool = False  # its HTTPS answers are gzipped for clients that accept gzip
    http: bool = False  # plain HTTP listener (port 80): redirects to https, or a sink for webhooks
    dane: str | None = None  # None, "valid" (TLSA 3 1 1 of the served key) or "mismatch"
    raw_ports: set[int] = field(default_factory=set)  # ports speaking a non-TLS app protocol
    headers: tuple[tuple[str, str], ...] = ()  # sent with every page of its web site (e.g. HSTS)
    routes: dict[str, Route] = field(default_factory=dict)  # path[?query] -> response over https
    http_routes: dict[str, Route] = field(default_factory=dict)  # path (or "*") -> response over http
    ip: str = ""
    ip6: str = ""  # only when the lab runs with IPv6 (see runner.Lab)
    ipv6_tls: TlsSettings | None = None  # how its IPv6 address answers, when not as its IPv4 one
    # Other names it answers for: a geo-DNS twin stands in for a public name in a DNS view (`World.views`),
    # so its certificate and its web routes carry that name too.
    also: tuple[str, ...] = ()

    def addresses(self) -> list[tuple[str, TlsSettings]]:
        """Each address of the host with the TLS settings its servers use there."""
        return [(self.ip, self.tls), *([(self.ip6, self.ipv6_tls or self.tls)] if self.ip6 else [])]


@dataclass
class ProviderSpec:
    id: str
    name: str
    kind: str
    country: str
    modelled: bool
    domains: list[str]
    mx: list[tuple[str, int]]
    endpoints: list[str]
    claims: dict[str, str]  # claim name -> ok | changed | gone


@dataclass
class World:
    providers: dict[str, ProviderSpec] = field(default_factory=dict)
    hosts: dict[str, HostSpec] = field(default_factory=dict)
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (owner, type, value)
    zones: dict[str, SigningPolicy] = field(default_factory=dict)  # zone origin -> signing policy
    dns_faults: list[DnsFault] = field(default_factory=list)
    # DNS views (geo-DNS): view name -> {public name: the host whose addresses that name has in this view}.
    # Every declared view gets a resolver of its own (`view_octets`: the last octet of its address).
    views: dict[str, dict[str, str]] = field(default_factory=dict)
    view_octets: dict[str, int] = field(default_factory=dict)

    def add(self, owner: str, rdtype: str, value: str) -> None:
        self.records.append((_fqdn(owner), rdtype, value))


# --- reading catalogs ----------------------------------------------------------------------------------------
@dataclass
class CatalogEntry:
    id: str
    name: str
    kind: str | None
    company_country: str | None
    domains: list[str]
    endpoints: list[str]  # URLs
    claims: list[dict[str, Any]]  # {name, evidence_url, evidence_text}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _url(item: Any) -> str | None:
    if isinstance(item, dict):
        # {url: …}, or the catalog's {host: …, port: …, tls: false, …}: its port is kept (an app protocol)
        port = item.get("port")
        item = item.get("url") or item.get("host") or item.get("hostname")
        if isinstance(item, str) and port is not None and "://" not in item and ":" not in item:
            item = f"{item}:{port}"
    if not isinstance(item, str) or not item:
        return None
    return item if "://" in item else f"https://{item}/"


def _claims(raw: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if isinstance(raw, dict):
        for name, body in raw.items():
            body = body if isinstance(body, dict) else {"claimed": body}
            items.append({"name": str(name), **body})
    else:
        for body in _as_list(raw):
            if isinstance(body, dict):
                name = body.get("name") or body.get("id") or body.get("claim")
                if name:
                    items.append({**body, "name": str(name)})
    return items


def _country_code(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def _safe_load(text: str) -> Any:
    """`yaml.safe_load`, with libyaml's safe loader when present (the same rules, ~10x faster at startup)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # only safe loaders


def read_catalog(path: Path) -> list[CatalogEntry]:
    data = _safe_load(path.read_text(encoding="utf-8")) or {}
    raw = data.get("providers", data) if isinstance(data, dict) else data
    if isinstance(raw, dict):
        raw = [{"id": k, **(v or {})} for k, v in raw.items()]
    entries: list[CatalogEntry] = []
    for p in _as_list(raw):
        if not isinstance(p, dict) or not p.get("id"):
            continue
        company: dict[str, Any] = p["company"] if isinstance(p.get("company"), dict) else {}
        mail: dict[str, Any] = p["mail"] if isinstance(p.get("mail"), dict) else {}
        domains = p.get("mail_domains") or p.get("domains") or mail.get("domains") or []
        raw_endpoints = p.get("endpoints")
        if isinstance(raw_endpoints, dict):  # role -> ["host[:port]"] (the providers.yaml layout)
            raw_endpoints = [e for items in raw_endpoints.values() for e in _as_list(items)]
        endpoints = [u for u in (_url(e) for e in _as_list(raw_endpoints)) if u]
        entries.append(CatalogEntry(
            id=str(p["id"]),
            name=str(p.get("name") or p["id"]),
            kind=p.get("kind"),
            company_country=_country_code(company.get("country") or p.get("country")),
            domains=[str(d).lower().rstrip(".") for d in _as_list(domains)],
            endpoints=endpoints,
            claims=_claims(p.get("claims")),
        ))
    return entries


def read_overlay(path: Path = OVERLAY) -> dict[str, Any]:
    data = _safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with `defaults` and `providers`")
    return data


# --- building ---------------------------------------------------------------------------------------------
def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _host(name: str) -> str:
    return name.lower().rstrip(".")


def _match_overlay(entry: CatalogEntry, overlay: dict[str, dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The overlay entry (key, facts) for a catalog provider: by id, by alias, else by a shared mail domain."""
    if entry.id in overlay:
        return entry.id, overlay[entry.id]
    for key, o in overlay.items():
        if entry.id in _as_list(o.get("aliases")):
            return key, o
    for key, o in overlay.items():
        if set(entry.domains) & set(_as_list(o.get("domains"))):
            return key, o
    return None, {}


def _mx_list(raw: Any) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in _as_list(raw):
        if isinstance(item, dict):
            out.append((_host(item["host"]), int(item.get("pref", 10))))
        elif isinstance(item, list | tuple):
            out.append((_host(item[0]), int(item[1])))
        else:
            host, _, pref = str(item).partition(" ")
            out.append((_host(host), int(pref or 10)))
    return out


def _mx_options(raw: Any) -> dict[str, tuple[str | None, bool]]:
    """`{host, pref, cname: TARGET, serve: bool}` -> {host: (target or None, serve)}. `cname`: the MX name is an
    alias of TARGET, which runs the server; `serve: false`: no server and no lab address at all (a dangling
    alias, one end of a loop, or a host whose addresses come from `records`)."""
    return {_host(item["host"]): (_host(item["cname"]) if item.get("cname") else None, bool(item.get("serve", True)))
            for item in _as_list(raw) if isinstance(item, dict)}


def _zone_of(host: str) -> str:
    """The lab zone a host name lands in by default (its registrable domain, absolute)."""
    return registrable(dns.name.from_text(host)).to_text() if host else ""


def _page(title: str, *texts: str) -> bytes:
    # Text is escaped only where HTML needs it (no quote escaping), so evidence phrases appear verbatim.
    paragraphs = "".join(f"<p>{html.escape(t, quote=False)}</p>" for t in texts)
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.escape(title, quote=False)
        + "</title></head><body><h1>" + html.escape(title, quote=False) + "</h1>" + paragraphs + "</body></html>\n"
    ).encode()


@dataclass
class _Page:
    title: str
    texts: list[str] = field(default_factory=list)
    gone: bool = False


HTML = (("Content-Type", "text/html; charset=utf-8"),)


class _Builder:
    def __init__(self, overlay: dict[str, Any]) -> None:
        self.defaults: dict[str, Any] = overlay.get("defaults") or {}
        self.overlay: dict[str, dict[str, Any]] = overlay.get("providers") or {}
        self.world = World()
        self.used: set[str] = set()  # overlay keys matched by a catalog provider
        self.pages: dict[tuple[str, str], _Page] = {}  # (host, path[?query]) -> claim evidence page

    def host(self, name: str, provider: str, o: dict[str, Any], country: str, modelled: bool) -> HostSpec:
        name = _host(name)
        existing = self.world.hosts.get(name)
        if existing is not None:
            return existing
        per_host = (o.get("hosts") or {}).get(name) or {}
        tls = {**(self.defaults.get("tls") or {}), **(o.get("tls") or {}), **(per_host.get("tls") or {})}
        spec = HostSpec(
            name=name, provider=provider,
            country=per_host.get("country", country),
            modelled=bool(per_host.get("modelled", modelled)),
            asn=per_host.get("asn", o.get("asn")), org=per_host.get("org", o.get("org")),
            registry_country=per_host.get("registry_country", o.get("registry_country")),
            tls=TlsSettings.from_dict(tls),
            ipv6_tls=TlsSettings.from_dict({**tls, **per_host["ipv6_tls"]}) if per_host.get("ipv6_tls") else None,
            starttls=bool(per_host.get("starttls", o.get("starttls", True))),
            smtps=bool(per_host.get("smtps", False)),
            gzip=bool(per_host.get("gzip", o.get("gzip", False))),
            dane=per_host.get("dane", "valid" if o.get("dane") else None),
        )
        self.world.hosts[name] = spec
        return spec

    def zone_policy(self, name: str, o: dict[str, Any]) -> None:
        origin = _zone_of(name)
        dnssec = o.get("dnssec", False)
        policy = SigningPolicy(
            signed=bool(dnssec),
            nsec3=bool(o.get("nsec3", False)),
            fault=o.get("dnssec_fault"),
            ds_fault=o.get("ds_fault"),
        )
        self.world.zones.setdefault(origin, policy)

    def web(self, host: HostSpec, o: dict[str, Any], title: str) -> None:
        host.https = True
        host.http = True
        host.http_routes.setdefault("*", Route(redirect_to_https=True))
        if not host.headers:
            hsts = o.get("hsts", self.defaults.get("hsts"))
            host.headers = (*HTML, ("Strict-Transport-Security", hsts)) if hsts else HTML
        host.routes.setdefault("/", Route(200, host.headers, _page(title, f"{title} (auditor lab)")))
        if o.get("security_txt", self.defaults.get("security_txt", True)):
            host.routes.setdefault("/.well-known/security.txt", Route(200, (), (
                f"Contact: mailto:security@{host.name}\nExpires: 2030-01-01T00:00:00Z\n"
                "Preferred-Languages: en, fr\n"
            ).encode()))

    def provider(self, entry: CatalogEntry) -> None:
        key, o = _match_overlay(entry, self.overlay)
        if key is not None:
            self.used.add(key)
        country = str(o.get("country") or entry.company_country or self.defaults.get("country", "DE"))
        modelled = bool(o.get("modelled", not o))
        domains = entry.domains or [_host(d) for d in _as_list(o.get("domains"))]
        kind = entry.kind or o.get("kind") or ("mail" if domains else "chat")
        mx = _mx_list(o.get("mx"))
        if domains and not mx and not o.get("null_mx"):
            mx = [(f"mx1.{domains[0]}", 10)]  # no facts: a plausible default (the provider is modelled)
        claims_state = {str(k): str(v) for k, v in (o.get("claims") or {}).items()}
        for state in claims_state.values():
            if state not in CLAIM_STATES:
                raise ValueError(f"{entry.id}: claim state {state!r}; expected one of {CLAIM_STATES}")
        w = self.world
        for d in domains:
            self.zone_policy(d, o)
            if o.get("null_mx"):
                w.add(d, "MX", "0 .")  # RFC 7505: this domain accepts no mail
            for host, pref in mx:
                w.add(d, "MX", f"{pref} {host}.")
            if o.get("spf"):
                w.add(d, "TXT", _txt(o["spf"]))
            if o.get("dmarc"):
                w.add(f"_dmarc.{d}", "TXT", _txt(o["dmarc"]))
            if o.get("tlsrpt"):
                w.add(f"_smtp._tls.{d}", "TXT", _txt(f"v=TLSRPTv1; rua={o['tlsrpt']}"))
            if o.get("mta_sts"):
                self.mta_sts(d, mx, o, entry.id, country, modelled)
        options = _mx_options(o.get("mx"))
        for host, _ in mx:
            self.zone_policy(host, o)
            cname, serve = options.get(host, (None, True))
            if cname is not None:  # the MX name is a CNAME (RFC 2181 §10.3 says it must not be)
                w.add(host, "CNAME", _fqdn(cname))
                self.zone_policy(cname, o)
                host = cname
            if not serve:
                continue
            spec = self.host(host, entry.id, o, country, modelled)
            spec.smtp = True
        extra = [u for u in (_url(e) for e in _as_list(o.get("endpoints"))) if u]
        endpoint_urls = list(dict.fromkeys([*entry.endpoints, *extra]))
        for url in endpoint_urls:
            parts = urlsplit(url)
            name = _host(parts.hostname or "")
            if name:
                self.zone_policy(name, o)
                spec = self.host(name, entry.id, o, country, modelled)
                self.web(spec, o, entry.name)
                if parts.port and parts.port != 443:
                    # An explicit port in the catalog is an app protocol (e.g. Threema's chat on 5222),
                    # not HTTPS: the lab answers in a foreign protocol, like a non-TLS service.
                    spec.raw_ports.add(parts.port)
        own = {_zone_of(n) for n in [*domains, *(h for h, _ in mx)]}
        own |= {_zone_of(urlsplit(u).hostname or "") for u in endpoint_urls}
        third_party: dict[str, Any] = self.defaults.get("third_party") or {}
        for claim in entry.claims:
            url = claim.get("evidence_url") or ""
            if isinstance(url, str) and _zone_of(urlsplit(url).hostname or "") in own:
                self.claim(entry, claim, claims_state.get(claim["name"], "ok"), o, country, modelled)
            else:
                # Evidence on somebody else's site (a blog, a wiki): none of the provider's behaviour applies.
                tp_country = str(third_party.get("country", "US"))
                self.claim(entry, claim, claims_state.get(claim["name"], "ok"), third_party, tp_country, True)
        self.views(entry.id, o, country, modelled)
        for name in _as_list(o.get("extra_hosts")):  # addresses without services (outbound relays, …)
            self.zone_policy(name, o)
            self.host(name, entry.id, o, country, modelled)
        for rec in _as_list(o.get("records")):
            w.add(rec["name"], rec["type"], str(rec["value"]))
        for f in _as_list(o.get("dns_faults")):
            w.dns_faults.append(DnsFault(name=f["name"], fault=f["fault"], rdtype=f.get("type")))
        w.providers[entry.id] = ProviderSpec(
            id=entry.id, name=entry.name, kind=str(kind), country=country, modelled=modelled,
            domains=domains, mx=mx, endpoints=endpoint_urls, claims=claims_state,
        )

    def views(self, pid: str, o: dict[str, Any], country: str, modelled: bool) -> None:
        """`views: {VIEW: {NAME: TWIN}}`: from VIEW's resolver, NAME answers with TWIN's addresses. TWIN is a
        server of its own (its country, TLS, … from `hosts.TWIN`) that serves what NAME serves, as NAME."""
        for view, names in (o.get("views") or {}).items():
            if view not in self.world.view_octets:
                raise ValueError(f"{pid}: view {view!r} is not declared in the overlay's `views` "
                                 f"({', '.join(self.world.view_octets) or 'none'})")
            for name, twin_name in (names or {}).items():
                public = self.world.hosts.get(_host(name))
                if public is None or public.provider != pid:
                    raise ValueError(f"{pid}: view {view!r} names {name!r}, not a host of this provider")
                self.zone_policy(twin_name, o)
                twin = self.host(twin_name, pid, o, country, modelled)
                twin.smtp, twin.https, twin.http = public.smtp, public.https, public.http
                twin.routes = {**public.routes, **twin.routes}
                twin.http_routes = {**public.http_routes, **twin.http_routes}
                twin.headers = twin.headers or public.headers
                twin.also = (*twin.also, public.name)
                self.world.views.setdefault(view, {})[public.name] = twin.name

    def mta_sts(
        self, domain: str, mx: list[tuple[str, int]], o: dict[str, Any], pid: str, country: str, modelled: bool
    ) -> None:
        cfg = o["mta_sts"] if isinstance(o["mta_sts"], dict) else {}
        policy_id = cfg.get("id", "20260101T000000")
        self.world.add(f"_mta-sts.{domain}", "TXT", _txt(f"v=STSv1; id={policy_id}"))
        patterns = _as_list(cfg.get("mx")) or [h for h, _ in mx]
        body = "version: STSv1\n" f"mode: {cfg.get('mode', 'enforce')}\n"
        body += "".join(f"mx: {p}\n" for p in patterns)
        body += f"max_age: {cfg.get('max_age', 604800)}\n"
        host = self.host(f"mta-sts.{domain}", pid, o, country, modelled)
        self.web(host, o, f"MTA-STS {domain}")
        state = cfg.get("policy", "ok")  # ok | gone
        if state != "gone":
            host.routes["/.well-known/mta-sts.txt"] = Route(200, (("Content-Type", "text/plain"),), body.encode())

    def claim(
        self, entry: CatalogEntry, claim: dict[str, Any], state: str, o: dict[str, Any], country: str,
        modelled: bool,
    ) -> None:
        url = claim.get("evidence_url") or claim.get("url")
        if not isinstance(url, str) or "://" not in url:
            return
        parts = urlsplit(url)
        name = _host(parts.hostname or "")
        if not name:
            return
        self.zone_policy(name, o)
        host = self.host(name, entry.id, o, country, modelled)
        self.web(host, o, entry.name)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # Several claims may cite one page (and one query string tells pages apart): collect, render later.
        page = self.pages.setdefault((host.name, target), _Page(title=entry.name))
        if state == "gone":
            page.gone = True
        elif state == "ok":
            page.texts.append(str(claim.get("evidence_text") or claim.get("text") or claim["name"]))

    def render_pages(self) -> None:
        for (name, target), page in self.pages.items():
            host = self.world.hosts[name]
            if page.gone:
                host.routes[target] = Route(404, host.headers, _page("Not found", "This page no longer exists."))
                continue
            texts = page.texts or ["We have updated this page. Please see our new documentation."]
            host.routes[target] = Route(200, host.headers, _page(page.title, *texts))

    def sinks(self) -> None:
        """Plain-HTTP hosts that accept anything (webhook receivers for notification tests)."""
        for name in _as_list(self.defaults.get(HTTP_ONLY_HOSTS_KEY)):
            spec = self.host(name, "lab", {}, self.defaults.get("country", "DE"), True)
            spec.http = True
            spec.http_routes["*"] = Route(200, (), b"ok\n")


def _txt(text: str) -> str:
    """A TXT rdata in presentation format: quoted, split into 255-octet strings."""
    raw = text.encode()
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join('"' + c.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def build_world(
    catalogs: Sequence[Path], overlay_path: Path = OVERLAY, include_overlay_only: bool = False
) -> World:
    """The world for these catalogs. `include_overlay_only` also builds overlay providers absent from
    every catalog (the stand-in used until the real providers.yaml exists)."""
    overlay = read_overlay(overlay_path)
    b = _Builder(overlay)
    b.world.view_octets = {str(k): int(v) for k, v in (overlay.get("views") or {}).items()}
    seen: set[str] = set()
    for path in catalogs:
        for entry in read_catalog(path):
            if entry.id in seen:
                continue
            seen.add(entry.id)
            b.provider(entry)
    if include_overlay_only:
        for pid, o in b.overlay.items():
            if pid in b.used or o.get("lab_only"):
                continue
            b.provider(CatalogEntry(
                id=pid, name=str(o.get("name", pid)), kind=o.get("kind"), company_country=o.get("country"),
                domains=[_host(d) for d in _as_list(o.get("domains"))], endpoints=[], claims=[],
            ))
    b.render_pages()
    b.sinks()
    for zone in _as_list(overlay.get("zones")):
        if isinstance(zone, dict):  # {name, dnssec, nsec3, opt_out}: a zone signed its own way (a TLD like .com)
            b.world.zones.setdefault(_fqdn(str(zone["name"])), SigningPolicy(
                signed=bool(zone.get("dnssec", True)), nsec3=bool(zone.get("nsec3", False)),
                extra={"opt_out": True} if zone.get("opt_out") else {}))
        else:
            b.world.zones.setdefault(_fqdn(zone), SigningPolicy())
    return b.world


def ipv6_of(ipv4: str, prefix: str) -> str:
    """The lab IPv6 address twinned with a lab IPv4 one: 127.N.x.y -> <prefix>::x:y, the digits kept as
    written (127.77.5.9 in fd00:0:0:77::/64 is fd00::77:0:5:9), so either reads as the other."""
    network = ipaddress.IPv6Network(prefix)
    _, _, x, y = ipv4.split(".")
    return str(network.network_address + (int(x, 16) << 16) + int(y, 16))


def allocate_addresses(names: Iterable[str], net: int) -> dict[str, str]:
    """A stable 127.<net>.<x>.<y> per name: from a hash of the name, probing in sorted order on collision.

    127.<net>.0.* is reserved for lab infrastructure (the resolver is 127.<net>.0.53).
    """
    if not 1 <= net <= 254:
        raise ValueError(f"net must be 1..254, got {net}")
    slots = 254 * 254
    taken: set[int] = set()
    out: dict[str, str] = {}
    for name in sorted(set(names)):
        slot = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % slots
        while slot in taken:
            slot = (slot + 1) % slots
        taken.add(slot)
        out[name] = f"127.{net}.{slot // 254 + 1}.{slot % 254 + 1}"
    return out
