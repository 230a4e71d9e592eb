"""`jurisdiction.company` and `hosting.summary`: provider-level facts from the catalog and the findings (pure).

Where the servers are (`hosting.summary`) and who can be compelled (`jurisdiction.company`) are separate
questions: a US company hosting in Frankfurt has EU servers and is still subject to the CLOUD Act, so the
summary of such a provider says so next to its EU verdict. The DPF status (`dpf_certified`) comes from the
catalog and is applied to every address (`region_of(..., dpf_certified=)`), here and in `hosting.location`.
"""

from __future__ import annotations

from typing import Any

from auditor.catalog import Provider
from auditor.findings import Finding, Status
from auditor.regions import region_of

# Countries whose law lets authorities compel a provider to hand over data it holds abroad.
EXTRATERRITORIAL = {"US": "CLOUD Act (18 U.S.C. § 2713) and FISA Section 702 apply"}
_STATUS = {"EU": Status.PASS, "EEA": Status.PASS, "adequacy": Status.INFO, "third_country": Status.WARN,
           "unknown": Status.ERROR}


def jurisdiction_finding(provider: Provider) -> Finding:
    company = provider.company
    region = region_of(company.country, dpf_certified=company.on_dpf_list)
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
                          "parent_country": parent.country if parent else None, "role": provider.role.value},
                   summary=summary[:500],
                   evidence={"legal_name": company.legal_name, "parent": parent.model_dump() if parent else None,
                             "dpf_certified": company.dpf_certified, "presence": company.presence,
                             "source": company.source, "role": provider.role.model_dump()})


def _compellable(provider: Provider) -> str | None:
    """Why EU hosting does not keep the data out of a foreign authority's reach, if it does not."""
    company = provider.company
    if company.country in EXTRATERRITORIAL:
        return f"company in {company.country} ({EXTRATERRITORIAL[company.country].split(' apply')[0]})"
    parent = company.parent
    if parent and parent.country in EXTRATERRITORIAL:
        return f"parent {parent.name} in {parent.country} ({EXTRATERRITORIAL[parent.country].split(' apply')[0]})"
    return None


def _foreign_operators(locations: list[Finding]) -> list[dict[str, Any]]:
    """Networks whose registrant is registered under an extraterritorial law (RDAP answers only)."""
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for f in locations:
        rdap = f.evidence.get("rdap") or {}
        country = rdap.get("registry_country")
        if rdap.get("rdap") and country in EXTRATERRITORIAL:
            key = (rdap.get("asn"), rdap.get("org"))
            seen.setdefault(key, {"asn": key[0], "org": key[1], "country": country,
                                  "law": EXTRATERRITORIAL[country]})
    return list(seen.values())[:20]


def hosting_summary(provider: Provider, findings: list[Finding]) -> Finding:
    locations = [f for f in findings if f.id == "hosting.location"]
    known = [f.value for f in locations if isinstance(f.value, dict) and f.value.get("country")]
    countries = sorted({v["country"] for v in known})
    outside_eu = sorted({v["country"] for v in known if v["region"] not in ("EU", "EEA")})
    outside_adequacy = sorted({v["country"] for v in known if v["region"] not in ("EU", "EEA", "adequacy")})
    unknown = [f.target for f in locations if not (isinstance(f.value, dict) and f.value.get("country"))]
    value = {"countries": countries, "outside_eu_eea": outside_eu, "outside_adequacy": outside_adequacy}
    disagreements = [{"host": f.subject, "ip": f.target, **f.evidence["disagreement"]}
                     for f in locations if isinstance(f.evidence.get("disagreement"), dict)]
    networks = sorted({(v.get("asn"), v.get("org")) for v in (f.value for f in locations if isinstance(f.value, dict))
                       if v.get("asn") is not None or v.get("org")}, key=str)
    no_owner = [f.target for f in locations if (f.evidence.get("rdap") or {}).get("error")]
    evidence: dict[str, Any] = {
        "addresses": len(locations), "unknown": [u for u in unknown if u][:50],
        "networks": [{"asn": a, "org": o} for a, o in networks][:50],
        "disagreements": disagreements[:50], "owner_unknown": [u for u in no_owner if u][:50],
        "dpf_certified": provider.company.dpf_certified,
    }
    if not locations:
        return Finding(id="hosting.summary", subject=provider.id, status=Status.ERROR, value=value,
                       summary="no server location could be determined", evidence=evidence)
    if outside_adequacy:
        status, summary = Status.FAIL, f"servers in third countries: {', '.join(outside_adequacy)}"
    elif unknown:
        status, summary = Status.ERROR, f"location unknown for {len(unknown)} address(es)"
    elif outside_eu:
        status, summary = Status.WARN, f"servers outside the EU/EEA under an adequacy decision: {', '.join(outside_eu)}"
    else:
        status, summary = Status.PASS, f"all servers in the EU/EEA ({', '.join(countries)})"
    if disagreements:
        registries = sorted({d["registry"] for d in disagreements})
        summary += (f"; registry and geolocation disagree for {len(disagreements)} address(es) "
                    f"(registered in {', '.join(registries)})")
        if status == Status.PASS:
            status = Status.WARN
    compellable = _compellable(provider)
    if compellable and not outside_eu and countries:
        summary += f"; hosted in the EU/EEA, but {compellable}"
        evidence["compellable"] = compellable
    # The network operator (a cloud provider, say) can be compelled too, wherever its machines are.
    operators = _foreign_operators(locations)
    if operators:
        evidence["foreign_operators"] = operators
        if not outside_eu:
            names = ", ".join(sorted({o["org"] or f"AS{o['asn']}" for o in operators}))
            where = ", ".join(sorted({o["country"] for o in operators}))
            summary += f"; network operated by an organisation registered in {where}: {names}"
    return Finding(id="hosting.summary", subject=provider.id, status=status, value=value, summary=summary[:500],
                   evidence=evidence)
