"""A MaxMind-format GeoIP database placing every lab address in the country where the real provider hosts.

Records follow the GeoLite2-Country layout (`country`, `registered_country`) and also carry the
GeoLite2-ASN keys (`autonomous_system_number`, `autonomous_system_organization`), so one file answers both
the country and the network-owner questions a hosting probe asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

COUNTRY_NAMES = {
    "AT": "Austria", "BE": "Belgium", "BR": "Brazil", "CA": "Canada", "CH": "Switzerland", "DE": "Germany",
    "DK": "Denmark", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "IE": "Ireland", "IN": "India", "IT": "Italy", "JP": "Japan", "LU": "Luxembourg", "NL": "Netherlands",
    "NO": "Norway", "PL": "Poland", "RU": "Russia", "SE": "Sweden", "SG": "Singapore",
    "AE": "United Arab Emirates", "US": "United States", "VG": "British Virgin Islands",
}


@dataclass(frozen=True)
class Location:
    country: str  # ISO 3166-1 alpha-2
    asn: int | None = None
    org: str | None = None


def record(loc: Location) -> dict[str, object]:
    country = {"iso_code": loc.country, "names": {"en": COUNTRY_NAMES.get(loc.country, loc.country)}}
    rec: dict[str, object] = {"country": country, "registered_country": dict(country)}
    if loc.asn is not None:
        rec["autonomous_system_number"] = loc.asn
    if loc.org:
        rec["autonomous_system_organization"] = loc.org
    return rec


def write_geoip_db(path: Path, locations: Mapping[str, Location]) -> Path:
    """Write `path` mapping each address (a /32 or a /128) to its location; returns `path`."""
    # IPv6 tree with IPv4 mapped in, like the GeoLite2 files: readers treat it the same way.
    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country",
        languages=["en"], description="auditor lab GeoIP (simulated locations)",
    )
    for ip, loc in sorted(locations.items()):
        writer.insert_network(IPSet([f"{ip}/{128 if ':' in ip else 32}"]), record(loc))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path
