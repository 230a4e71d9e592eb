"""IP address → country, from a MaxMind-format database (GeoLite2, DB-IP lite, or the lab's).

The database is read locally with `maxminddb`; no network. Without a database the country stays unknown and
the finding says so: we never guess a location.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from auditor.errors import ConfigError


@dataclass(frozen=True)
class GeoFact:
    ip: str
    country: str | None  # ISO 3166-1 alpha-2
    registered_country: str | None
    source: str  # which database said so

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


class GeoLocator:
    def __init__(self, database: Path | None) -> None:
        self.database = database
        self._reader: maxminddb.Reader | None = None
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
        if self._reader is None:
            return GeoFact(ip, None, None, "no GeoIP database configured")
        try:
            record = self._reader.get(str(ipaddress.ip_address(ip)))
        except (ValueError, maxminddb.InvalidDatabaseError):
            record = None
        return GeoFact(ip, _iso(record, "country"), _iso(record, "registered_country"), self.source)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
