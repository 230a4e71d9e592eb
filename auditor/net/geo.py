"""IP address → country: a MaxMind-format database first (GeoLite2, DB-IP lite, or the lab's), else an offline
fallback shipped in a PyPI package.

Both are read locally; no network. The fallback is `iptocc` (MIT/Apache-2.0, https://github.com/roniemartinez/IPToCC):
the country each block is *assigned to* in the five Regional Internet Registries' delegation files, embedded in
the wheel and rebuilt nightly. That is a registration, not a measured location (RIR data agrees with MaxMind for
about 95% of IPv4 addresses), so a finding built on it names it in `sources` and says "approximate". Without
either, the country stays unknown and the finding says so: we never guess a location.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import maxminddb

from auditor.errors import ConfigError

FALLBACK_PACKAGE = "iptocc"


@dataclass(frozen=True)
class GeoFact:
    ip: str
    country: str | None  # ISO 3166-1 alpha-2
    registered_country: str | None
    source: str  # which database said so (or why none could)
    fallback: bool = False  # the country comes from the offline RIR-allocation fallback, not a GeoIP database

    def countries_disagree(self) -> bool:
        return bool(self.country and self.registered_country and self.country != self.registered_country)


def _iso(record: Any, key: str) -> str | None:
    if not isinstance(record, dict):
        return None
    entry = record.get(key)
    if isinstance(entry, dict):
        code = entry.get("iso_code")
        if isinstance(code, str) and len(code) == 2 and code.isalpha():
            return code.upper()
    return None


@cache
def _fallback_source() -> str | None:
    """'iptocc 3.3.170 (RIR delegation data, built 2026-10-27)', or None when the package is not installed."""
    try:
        dist = metadata.distribution(FALLBACK_PACKAGE)
        import iptocc  # noqa: F401  (a broken install must not count as available)
    except (metadata.PackageNotFoundError, ImportError):
        return None
    built = "build date unknown"
    for f in dist.files or []:
        # The wheel's CycloneDX SBOM carries the build time, i.e. the date of the embedded RIR data.
        if str(f).endswith(".cyclonedx.json"):
            try:
                stamp = json.loads(f.read_text()).get("metadata", {}).get("timestamp", "")
            except (OSError, ValueError, AttributeError):
                stamp = ""
            if isinstance(stamp, str) and stamp[:10]:
                built = f"built {stamp[:10]}"
            break
    return f"{FALLBACK_PACKAGE} {dist.version} (offline fallback: RIR delegation data, {built}; approximate)"


def _fallback_country(ip: str) -> str | None:
    import iptocc

    code = iptocc.country_code(ip)
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


class GeoLocator:
    """`database`: a MaxMind-format file, consulted first. `fallback`: use iptocc when the database is absent
    or has no record for an address."""

    def __init__(self, database: Path | None, *, fallback: bool = True) -> None:
        self.database = database
        self._reader: maxminddb.Reader | None = None
        self._fallback_wanted = fallback
        self.fallback_source = _fallback_source() if fallback else None
        if database is not None:
            try:
                self._reader = maxminddb.open_database(str(database))
            except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
                raise ConfigError(f"{database}: not a readable MaxMind-format database ({exc}); "
                                  "pass --geoip-db with a GeoLite2/DB-IP .mmdb file") from exc
            meta = self._reader.metadata()
            self.source = f"{meta.database_type} ({Path(database).name}, built {meta.build_epoch})"
        else:
            self.source = "none"

    def lookup(self, ip: str) -> GeoFact:
        try:
            address = str(ipaddress.ip_address(ip))
        except ValueError:
            return GeoFact(ip, None, None, "not an IP address")
        country = registered = None
        if self._reader is not None:
            try:
                record = self._reader.get(address)
            except (ValueError, maxminddb.InvalidDatabaseError):
                record = None
            country, registered = _iso(record, "country"), _iso(record, "registered_country")
            if country:
                return GeoFact(address, country, registered, self.source)
        if self.fallback_source is not None:
            code = _fallback_country(address)
            if code:
                return GeoFact(address, code, registered, self.fallback_source, fallback=True)
        return GeoFact(address, None, registered, self._why_unknown())

    def _why_unknown(self) -> str:
        tried = [f"not in {self.source}"] if self._reader is not None else ["no GeoIP database configured"]
        if self.fallback_source is not None:
            tried.append(f"not in {FALLBACK_PACKAGE}")
        elif self._reader is None and self._fallback_wanted:
            tried.append(f"offline fallback unavailable ({FALLBACK_PACKAGE} not installed)")
        return "; ".join(tried)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
