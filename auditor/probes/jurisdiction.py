"""`jurisdiction.company` and `hosting.summary`: provider-level facts from the catalog and the findings (pure).

Where the servers are (`hosting.summary`) and who can be compelled (`jurisdiction.company`) are separate
questions: a US company hosting in Frankfurt has EU servers and is still subject to the CLOUD Act, so the
summary of such a provider says so next to its EU verdict. Which foreign laws reach a provider, and through
which of its establishments (company, parent, presence), is data: `auditor/data/access_laws.yaml`. The DPF
status (`dpf_certified`) comes from the catalog and is applied to every address (`region_of(..., dpf_certified=)`).
"""

from __future__ import annotations

from typing import Any

from auditor.access_laws import Law, Via, countries_with_laws, law_record, laws_reaching
from auditor.catalog import Provider
from auditor.findings import Finding, Status
from auditor.probes.roles import carries_data, host_roles
from auditor.regions import decision_for, region_of

_STATUS = {"EU": Status.PASS, "EEA": Status.PASS, "adequacy": Status.INFO, "third_country": Status.WARN,
           "unknown": Status.ERROR}


def establishments(provider: Provider) -> list[tuple[Via, str | None]]:
    """Where the provider's group is established: the company, its parent, other establishments."""
    company = provider.company
    found: list[tuple[Via, str | None]] = [("company", company.country)]
    if company.parent is not None:
        found.append(("parent", company.parent.country))
    found += [("presence", country) for country in company.presence]
    return found


def decision_record(country: str | None, dpf_certified: bool | None) -> dict[str, Any] | None:
    """The adequacy decision a location or an importer in `country` relies on (with its scope and certainty),
    or None when it relies on none (EU/EEA, third country, or a US organisation not on the DPF list)."""
    if region_of(country, dpf_certified=dpf_certified) != "adequacy":
        return None
    decision = decision_for(country)
    return decision.record() if decision else None


def _reaching(provider: Provider) -> list[tuple[Law, list[Via]]]:
    return laws_reaching(establishments(provider))


def jurisdiction_finding(provider: Provider) -> Finding:
    company = provider.company
    region = region_of(company.country, dpf_certified=company.on_dpf_list)
    reached = _reaching(provider)
    foreign_access = [law.id for law, _ in reached if law.scored]
    abroad = {c for _, c in establishments(provider) if c and region_of(c) not in ("EU", "EEA")}
    unassessed = sorted(abroad - countries_with_laws())
    notes = [f"{law.title} reaches it through its {', '.join(via)} in {law.country}"
             + ("" if law.scored else " (shown as a risk, not scored)") for law, via in reached]
    if company.parent_unknown:
        notes.append("whether it has a parent company is not known")
    if unassessed:
        notes.append(f"established in {', '.join(unassessed)}: no access law recorded there, not assessed")
    if company.country == "US" and company.dpf_certified is not True:
        notes.append("not known to be certified under the EU–US Data Privacy Framework")
    status = _STATUS[region]
    if (foreign_access or company.parent_unknown) and status in (Status.PASS, Status.INFO):
        status = Status.WARN
    name = company.legal_name or "unknown company"
    summary = f"{name}, {company.country or 'country unknown'} ({region.replace('_', ' ')})"
    if notes:
        summary += "; " + notes[0]
    parent = company.parent
    return Finding(id="jurisdiction.company", subject=provider.id, status=status,
                   value={"country": company.country, "region": region, "notes": notes,
                          "parent_country": parent.country if parent else None,
                          "parent_known": not company.parent_unknown, "presence": list(company.presence),
                          "access_laws": [law.id for law, _ in reached], "foreign_access": foreign_access,
                          "unassessed": unassessed, "decision": decision_record(company.country, company.on_dpf_list),
                          "role": provider.role.value},
                   summary=summary[:500],
                   evidence={"legal_name": company.legal_name, "parent": parent.model_dump() if parent else None,
                             "dpf_certified": company.dpf_certified, "presence": company.presence,
                             "source": company.source, "role": provider.role.model_dump(),
                             "access_laws": [{**law_record(law), "via": via} for law, via in reached]})


def _compellable(provider: Provider) -> str | None:
    """Why EU hosting does not keep the data out of a foreign authority's reach, if it does not."""
    scored = [(law, via) for law, via in _reaching(provider) if law.scored]
    if not scored:
        return None
    law, via = scored[0]
    return f"{via[0]} in {law.country} ({law.title})"


def _foreign_operators(locations: list[Finding]) -> list[dict[str, Any]]:
    """Networks whose registrant is registered under an extraterritorial law (RDAP answers only), with those
    laws (`laws`, as `access_laws` in jurisdiction.company) and the hosts of the provider they carry."""
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for f in locations:
        rdap = f.evidence.get("rdap") or {}
        country = rdap.get("registry_country")
        laws = [law for law, _ in laws_reaching([("company", country)]) if law.scored]
        if rdap.get("rdap") and laws:
            key = (rdap.get("asn"), rdap.get("org"))
            entry = seen.setdefault(key, {"asn": key[0], "org": key[1], "country": country, "law": laws[0].title,
                                          "laws": [law_record(law) for law in laws], "hosts": []})
            if f.subject not in entry["hosts"] and len(entry["hosts"]) < 20:
                entry["hosts"].append(f.subject)
    return list(seen.values())[:20]


def _countries(values: list[dict[str, Any]], *outside: str) -> list[str]:
    return sorted({v["country"] for v in values if v["region"] not in outside})


def hosting_summary(provider: Provider, findings: list[Finding]) -> Finding:
    """Where the provider's data-carrying servers are (roles in auditor/probes/roles.py). Hosts that carry no
    personal data (the public website, the MTA-STS policy host) are listed apart, as information: they never
    make the provider's hosting "outside the EU/EEA"."""
    roles = host_roles(provider, findings)
    every = [f for f in findings if f.id == "hosting.location"]
    locations = [f for f in every if carries_data(roles.get(f.subject, set()))]
    aside = [f for f in every if f not in locations]
    known = [f.value for f in locations if isinstance(f.value, dict) and f.value.get("country")]
    countries = sorted({v["country"] for v in known})
    outside_eu = _countries(known, "EU", "EEA")
    outside_adequacy = _countries(known, "EU", "EEA", "adequacy")
    unknown = [f.target for f in locations if not (isinstance(f.value, dict) and f.value.get("country"))]
    aside_known = [f.value for f in aside if isinstance(f.value, dict) and f.value.get("country")]
    by_role: dict[str, set[str]] = {}
    for f in every:
        if isinstance(f.value, dict) and f.value.get("country"):
            for role in roles.get(f.subject) or {"unknown"}:
                by_role.setdefault(role, set()).add(f.value["country"])
    value = {"countries": countries, "outside_eu_eea": outside_eu, "outside_adequacy": outside_adequacy,
             "roles": {role: sorted(c) for role, c in sorted(by_role.items())},
             "informational": {"countries": sorted({v["country"] for v in aside_known}),
                               "outside_eu_eea": _countries(aside_known, "EU", "EEA"),
                               "hosts": sorted({f.subject for f in aside})[:50]}}
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
        "roles": {host: sorted(r) for host, r in sorted(roles.items())},
    }
    if not locations:
        return Finding(id="hosting.summary", subject=provider.id, status=Status.ERROR, value=value,
                       summary="no location of a data-carrying server could be determined", evidence=evidence)
    if outside_adequacy:
        status, summary = Status.FAIL, f"data-carrying servers in third countries: {', '.join(outside_adequacy)}"
    elif unknown:
        status, summary = Status.ERROR, f"location unknown for {len(unknown)} address(es)"
    elif outside_eu:
        status, summary = Status.WARN, ("data-carrying servers outside the EU/EEA under an adequacy decision: "
                                        f"{', '.join(outside_eu)}")
    else:
        status, summary = Status.PASS, f"all data-carrying servers in the EU/EEA ({', '.join(countries)})"
    informational = value["informational"]
    if isinstance(informational, dict) and informational["outside_eu_eea"]:
        summary += (f"; public website or MTA-STS policy host in {', '.join(informational['outside_eu_eea'])} "
                    "(no personal data: information only)")
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


# ---- transfer: GDPR Chapter V ------------------------------------------------------------------------------

Mechanism = str  # none | adequacy | safeguards | unknown

_TRANSFER_STATUS = {"none": Status.PASS, "adequacy": Status.INFO, "safeguards": Status.WARN,
                    "unknown": Status.ERROR}


def transfer_finding(provider: Provider, findings: list[Finding]) -> Finding:
    """`transfer`: whether using the provider transfers personal data outside the EU/EEA, and on what basis.

    EDPB Guidelines 05/2021: there is a transfer when the exporter (the client) makes data available to an
    importer in a third country; the importer's establishment decides, not where an address geolocates. The
    importer here is the provider's company; data-carrying servers abroad (its own or a sub-processor's) are
    onward destinations. The basis is an adequacy decision (Art. 45, with its scope and conditions) or, failing
    one, safeguards (Art. 46) with a transfer impact assessment (CJEU C-311/18 Schrems II; EDPB
    Recommendations 01/2020) that the exporter must document. The group's other establishments abroad are
    listed: remote access from there would be a transfer too, which an external audit cannot observe.
    """
    company = provider.company
    dpf = company.on_dpf_list
    importer_region = region_of(company.country, dpf_certified=dpf)
    importer = {"country": company.country, "region": importer_region,
                "decision": decision_record(company.country, dpf)}
    roles = host_roles(provider, findings)
    destinations: dict[str, dict[str, Any]] = {}
    unknown_hosts: list[str] = []
    located = [f for f in findings if f.id == "hosting.location" and carries_data(roles.get(f.subject, set()))]
    for f in located:
        value = f.value if isinstance(f.value, dict) else {}
        country = value.get("country")
        if not country:
            unknown_hosts.append(f.subject)
            continue
        if value.get("region") in ("EU", "EEA"):
            continue
        entry = destinations.setdefault(country, {"country": country, "region": value.get("region"), "roles": set(),
                                                  "decision": decision_record(country, dpf)})
        entry["roles"] |= roles.get(f.subject) or {"unknown"}
    dest = [{**d, "roles": sorted(d["roles"])} for _, d in sorted(destinations.items())]
    regions = [(importer["country"], importer_region)] + [(d["country"], d["region"]) for d in dest]
    outside_eu = sorted({c for c, r in regions if c and r not in ("EU", "EEA")})
    outside_adequacy = sorted({c for c, r in regions if c and r not in ("EU", "EEA", "adequacy")})
    group_abroad = sorted({c for via, c in establishments(provider) if via != "company" and c
                           and region_of(c) not in ("EU", "EEA")})
    if outside_adequacy:
        mechanism: Mechanism = "safeguards"
    elif importer_region == "unknown" or unknown_hosts or not located:
        mechanism = "unknown"  # no data-carrying server located is not "no transfer": a missing fact
    elif outside_eu:
        mechanism = "adequacy"
    else:
        mechanism = "none"
    value = {"importer": importer, "destinations": dest, "outside_eu_eea": outside_eu,
             "outside_adequacy": outside_adequacy, "mechanism": mechanism, "group_abroad": group_abroad}
    summaries = {
        "none": "no transfer outside the EU/EEA observed (importer and data-carrying servers in the EU/EEA)",
        "adequacy": f"transfer to {', '.join(outside_eu)} under an adequacy decision (Art. 45)",
        "safeguards": (f"transfer to {', '.join(outside_adequacy)} without an adequacy decision: safeguards "
                       "(Art. 46) and a transfer impact assessment to document"),
        "unknown": ("importer's country unknown" if importer_region == "unknown"
                    else f"location unknown for {len(unknown_hosts)} data-carrying address(es)" if unknown_hosts
                    else "no data-carrying server was located"),
    }
    summary = summaries[mechanism]
    if importer_region not in ("EU", "EEA", "unknown"):
        summary += f"; the importer itself is established in {company.country}"
    if group_abroad:
        summary += f"; group established in {', '.join(group_abroad)} (remote access from there would be a transfer)"
    return Finding(id="transfer", subject=provider.id, status=_TRANSFER_STATUS[mechanism], value=value,
                   summary=summary[:500],
                   evidence={"unknown_hosts": sorted(set(unknown_hosts))[:50],
                             "basis": ["EDPB Guidelines 05/2021 (v2.0, 14 Feb 2023): the importer's establishment",
                                       "GDPR Art. 45 (adequacy), Art. 46 (safeguards)",
                                       "CJEU C-311/18 (Schrems II) and EDPB Recommendations 01/2020: transfer "
                                       "impact assessment under Art. 46"]})
