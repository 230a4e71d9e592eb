"""The Internet registries, in the lab: Team Cymru-style ASN records and the RIRs' RDAP servers.

`auditor.net.rdap` follows ipwhois's lookup path: `<reversed ip>.origin.asn.cymru.com TXT` for the origin ASN,
prefix, registry and registry country, then `GET https://<that RIR's RDAP host>/…/ip/<address>` (the URL
table is ipwhois's `RIR_RDAP`) for the network object and its registrant. The lab answers both for every lab
address, from the world:

- `asn` and `org` of each host (world.yaml, per provider or per host); a provider without an `asn` gets a
  private-use ASN (RFC 6996) derived from its id, without an `org` its name stands in;
- `registry_country` (default: the country the host is located in), e.g. Olvid's modelled AWS Paris
  addresses are registered to Amazon at ARIN, in the US, while the GeoIP database places them in France;
- the registry (ARIN, RIPE NCC, APNIC, LACNIC, AFRINIC) follows from the registry country.

Two steps, because addresses are allocated in between: `add_registry_hosts` before (the RDAP servers are
hosts with certificates from the lab CA), `publish_registry_data` after (TXT records and RDAP routes).
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from ipwhois.rdap import RIR_RDAP

from auditor.lab.https_server import Route
from auditor.lab.world import HostSpec, World
from auditor.net.rdap import cymru_name

REGISTRY_PROVIDER = "lab-registries"
ALLOCATED = "2020-01-01"
RDAP_JSON = (("Content-Type", "application/rdap+json"),)
# The RIR serving each country, for the countries the lab uses; everything else is RIPE NCC's region.
_RIR_BY_COUNTRY = {
    "US": "arin", "CA": "arin", "VG": "arin",
    "BR": "lacnic", "AR": "lacnic", "MX": "lacnic", "CL": "lacnic",
    "JP": "apnic", "SG": "apnic", "IN": "apnic", "AU": "apnic", "CN": "apnic", "KR": "apnic", "HK": "apnic",
    "ZA": "afrinic", "NG": "afrinic", "KE": "afrinic", "EG": "afrinic",
}
# Where each RIR's RDAP service is (its own address in the lab GeoIP database and registry data).
_RIR_HOME = {"arin": "US", "ripencc": "NL", "apnic": "AU", "lacnic": "UY", "afrinic": "MU"}
_RIR_NAME = {"arin": "American Registry for Internet Numbers", "ripencc": "RIPE Network Coordination Centre",
             "apnic": "Asia Pacific Network Information Centre",
             "lacnic": "Latin American and Caribbean IP Address Regional Registry",
             "afrinic": "African Network Information Centre"}


def registry_country(host: HostSpec) -> str:
    return (host.registry_country or host.country).upper()


def rir_of(country: str) -> str:
    return _RIR_BY_COUNTRY.get(country.upper(), "ripencc")


def asn_of(host: HostSpec) -> int:
    if host.asn is not None:
        return int(host.asn)
    digest = hashlib.sha256(host.provider.encode()).digest()
    return 64512 + int.from_bytes(digest[:4], "big") % 1000  # RFC 6996 private use: 64512-65534


def org_of(host: HostSpec, world: World) -> str:
    if host.org:
        return host.org
    provider = world.providers.get(host.provider)
    return f"{provider.name if provider else host.provider} (lab network)"


def rdap_host(rir: str) -> str:
    return str(urlsplit(RIR_RDAP[rir]["ip_url"]).hostname)


def add_registry_hosts(world: World) -> None:
    """One HTTPS host per RIR whose RDAP server some lab address needs (call before allocating addresses)."""
    needed = {rir_of(registry_country(h)) for h in world.hosts.values()}
    needed |= {rir_of(_RIR_HOME[r]) for r in needed}  # the RDAP servers' own addresses are registered too
    for rir in sorted(needed):
        name = rdap_host(rir)
        if name in world.hosts:
            continue
        world.hosts[name] = HostSpec(name=name, provider=REGISTRY_PROVIDER, country=_RIR_HOME[rir], modelled=True,
                                     org=_RIR_NAME[rir], https=True, gzip=True)  # gzip, as many web servers answer


def network_object(host: HostSpec, world: World, ip: str) -> dict[str, object]:
    """An RFC 9083 IP network object for one lab address of `host`, with its registrant as a vCard."""
    handle = "LAB-" + ip.replace(".", "-").replace(":", "-")
    org = org_of(host, world)
    return {
        "objectClassName": "ip network",
        "rdapConformance": ["rdap_level_0"],
        "handle": handle,
        "startAddress": ip,
        "endAddress": ip,
        "ipVersion": "v6" if ":" in ip else "v4",
        "name": host.provider.upper().replace("_", "-") + "-NET",
        "type": "ASSIGNED PA",
        "country": registry_country(host),
        "entities": [{
            "objectClassName": "entity",
            "handle": "ORG-" + hashlib.sha256(org.encode()).hexdigest()[:8].upper() + "-LAB",
            "roles": ["registrant"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", org],
                                     ["kind", {}, "text", "org"]]],
        }],
        "notices": [{"title": "auditor lab", "description": ["Simulated registration data."]}],
    }


def publish_registry_data(world: World) -> None:
    """Cymru TXT records and RDAP answers for every allocated address (call after allocating addresses)."""
    for host in [h for h in world.hosts.values() if h.ip]:
        cc = registry_country(host)
        rir = rir_of(cc)
        for ip in (host.ip, host.ip6):
            if not ip:
                continue
            txt = f"{asn_of(host)} | {ip}/{128 if ':' in ip else 32} | {cc} | {rir} | {ALLOCATED}"
            world.add(cymru_name(ip), "TXT", f'"{txt}"')
            server = world.hosts.get(rdap_host(rir))
            if server is None:  # not added before allocation: the look-up fails, as an unreachable RDAP would
                continue
            path = urlsplit(str(RIR_RDAP[rir]["ip_url"]).format(ip)).path
            body = json.dumps(network_object(host, world, ip), indent=1).encode()
            server.routes[path] = Route(200, RDAP_JSON, body)
