"""`hosting.location`: where one address is, and what that means under GDPR Chapter V (pure)."""

from __future__ import annotations

from typing import Any

from auditor.findings import Finding, Status
from auditor.net.geo import GeoFact
from auditor.regions import region_of

CHECK = "hosting.location"
_STATUS = {"EU": Status.PASS, "EEA": Status.PASS, "adequacy": Status.INFO, "third_country": Status.WARN}


def location_finding(host: str, geo: GeoFact, *, dpf_certified: bool | None) -> Finding:
    region = region_of(geo.country, dpf_certified=dpf_certified)
    value = {"ip": geo.ip, "country": geo.country, "region": region, "asn": None, "org": None,
             "sources": [geo.source] if geo.country else []}
    evidence: dict[str, Any] = {"geoip": {"country": geo.country, "registered_country": geo.registered_country,
                          "source": geo.source}}
    if geo.country is None:
        return Finding(id=CHECK, subject=host, target=geo.ip, status=Status.ERROR, value=value,
                       summary=f"country unknown: {geo.source}", evidence=evidence)
    summary = f"{geo.ip} in {geo.country} ({region.replace('_', ' ')})"
    if geo.countries_disagree():
        summary += f"; registered in {geo.registered_country}"
        evidence["disagreement"] = True
    return Finding(id=CHECK, subject=host, target=geo.ip, status=_STATUS.get(region, Status.ERROR), value=value,
                   summary=summary, evidence=evidence)
