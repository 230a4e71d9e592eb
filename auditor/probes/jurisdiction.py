"""`jurisdiction.company` and `hosting.summary`: provider-level facts from the catalog and the findings (pure)."""

from __future__ import annotations

from auditor.catalog import Provider
from auditor.findings import Finding, Status
from auditor.regions import region_of

# Countries whose law lets authorities compel a provider to hand over data it holds abroad.
EXTRATERRITORIAL = {"US": "CLOUD Act (18 U.S.C. § 2713) and FISA Section 702 apply"}
_STATUS = {"EU": Status.PASS, "EEA": Status.PASS, "adequacy": Status.INFO, "third_country": Status.WARN,
           "unknown": Status.ERROR}


def jurisdiction_finding(provider: Provider) -> Finding:
    company = provider.company
    region = region_of(company.country, dpf_certified=company.dpf_certified)
    notes: list[str] = []
    if company.country in EXTRATERRITORIAL:
        notes.append(f"company in {company.country}: {EXTRATERRITORIAL[company.country]}")
    parent = company.parent
    if parent and parent.country in EXTRATERRITORIAL and parent.country != company.country:
        notes.append(f"parent {parent.name} in {parent.country}: {EXTRATERRITORIAL[parent.country]}, "
                     "even for data hosted in the EU")
    if company.country == "US" and company.dpf_certified is not True:
        notes.append("not known to be certified under the EU–US Data Privacy Framework")
    status = _STATUS[region]
    if notes and status in (Status.PASS, Status.INFO):
        status = Status.WARN
    name = company.legal_name or "unknown company"
    summary = f"{name}, {company.country or 'country unknown'} ({region.replace('_', ' ')})"
    if notes:
        summary += "; " + notes[0]
    return Finding(id="jurisdiction.company", subject=provider.id, status=status,
                   value={"country": company.country, "region": region, "notes": notes,
                          "parent_country": parent.country if parent else None},
                   summary=summary[:500],
                   evidence={"legal_name": company.legal_name, "parent": parent.model_dump() if parent else None,
                             "dpf_certified": company.dpf_certified, "source": company.source})


def hosting_summary(provider: Provider, findings: list[Finding]) -> Finding:
    locations = [f for f in findings if f.id == "hosting.location"]
    known = [f.value for f in locations if isinstance(f.value, dict) and f.value.get("country")]
    countries = sorted({v["country"] for v in known})
    outside_eu = sorted({v["country"] for v in known if v["region"] not in ("EU", "EEA")})
    outside_adequacy = sorted({v["country"] for v in known if v["region"] not in ("EU", "EEA", "adequacy")})
    unknown = [f.target for f in locations if not (isinstance(f.value, dict) and f.value.get("country"))]
    value = {"countries": countries, "outside_eu_eea": outside_eu, "outside_adequacy": outside_adequacy}
    if not locations:
        return Finding(id="hosting.summary", subject=provider.id, status=Status.ERROR, value=value,
                       summary="no server location could be determined")
    if outside_adequacy:
        status, summary = Status.FAIL, f"servers in third countries: {', '.join(outside_adequacy)}"
    elif unknown:
        status, summary = Status.ERROR, f"location unknown for {len(unknown)} address(es)"
    elif outside_eu:
        status, summary = Status.WARN, f"servers outside the EU/EEA under an adequacy decision: {', '.join(outside_eu)}"
    else:
        status, summary = Status.PASS, f"all servers in the EU/EEA ({', '.join(countries)})"
    return Finding(id="hosting.summary", subject=provider.id, status=status, value=value, summary=summary,
                   evidence={"addresses": len(locations), "unknown": [u for u in unknown if u][:50]})
