"""`hosting.location`: where one address is, who holds its network, and what that means under GDPR Chapter V.

`location_finding` is pure (a GeoFact and a NetworkOwner in, a Finding out); `locate` does the look-ups
through the run's GeoLocator and RdapClient; `policy_host_locations` adds the MTA-STS policy host of a mail
domain (it serves the policy every sending MTA fetches, so it is part of the mail service).

Decisions, so a DPO can rely on them:
- `country` and `region` come from geolocation (the MaxMind-format database, else the offline fallback),
  never from the registry: a block registered to a US company in ARIN can serve from Paris.
- When the registry (RDAP, else the database's `registered_country`) names another country than the
  geolocation, both are shown (`evidence.disagreement`, the summary) and the status is at least `warn`:
  either the geolocation is wrong or the network belongs to an organisation registered elsewhere, and a
  person has to look.
- ASN and organisation are extra facts. When the registry look-up fails they are null, `evidence.rdap.error`
  and the summary say why, and the status is what the location alone gives: the question the check answers
  (where is the server) was answered, and a missing fact is reported, never read as a good one.
- A country from the offline fallback (RIR allocation data) is marked approximate in the summary and named
  in `sources`.
- Claim evidence pages are not located: they are often third-party sites (a wiki, a blog, an auditor's
  PDF) that receive no personal data, and their country would be read as the provider's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor.findings import Finding, Status, error
from auditor.net.dns import DnsError, txt_strings
from auditor.net.geo import GeoFact
from auditor.net.rdap import NetworkOwner
from auditor.regions import decision_for, region_of

if TYPE_CHECKING:  # context imports this module (to re-judge shared hosts): no import cycle at run time
    from auditor.probes.context import ScanContext

CHECK = "hosting.location"
_STATUS = {"EU": Status.PASS, "EEA": Status.PASS, "adequacy": Status.INFO, "third_country": Status.WARN}
_MILD = (Status.PASS, Status.INFO)


def _registry_view(geo: GeoFact, owner: NetworkOwner | None) -> tuple[str | None, str]:
    """The registry's country for the address and who said so: RDAP first, then the GeoIP database."""
    if owner is not None and owner.registry_country:
        return owner.registry_country, f"RDAP ({owner.registry})" if owner.rdap else f"Team Cymru ({owner.registry})"
    return geo.registered_country, "GeoIP registered_country"


def location_finding(host: str, geo: GeoFact, owner: NetworkOwner | None = None, *,
                     dpf_certified: bool | None) -> Finding:
    region = region_of(geo.country, dpf_certified=dpf_certified)
    sources = [geo.source] if geo.country else []
    if owner is not None and owner.source:
        sources.append(owner.source)
    decision = decision_for(geo.country) if region == "adequacy" else None
    value = {"ip": geo.ip, "country": geo.country, "region": region,
             "asn": owner.asn if owner else None, "org": owner.org if owner else None, "sources": sources,
             "decision": decision.record() if decision else None}
    evidence: dict[str, Any] = {
        "geoip": {"country": geo.country, "registered_country": geo.registered_country, "source": geo.source,
                  "fallback": geo.fallback},
        "rdap": owner.evidence() if owner is not None else {"error": "not looked up"},
        "dpf_certified": dpf_certified,
    }
    registry, registry_source = _registry_view(geo, owner)
    owner_note = _owner_note(owner)
    if geo.country is None:
        summary = f"country unknown: {geo.source}"
        if registry:
            summary += f" (the registry says {registry}, which is not a location)"
        return Finding(id=CHECK, subject=host, target=geo.ip, status=Status.ERROR, value=value,
                       summary=(summary + owner_note)[:500], evidence=evidence)
    status = _STATUS.get(region, Status.ERROR)
    summary = f"{geo.ip} in {geo.country} ({region.replace('_', ' ')})"
    if geo.fallback:
        summary += ", approximate (registry allocation data, no GeoIP database)"
    if registry and registry != geo.country:
        evidence["disagreement"] = {
            "geolocation": geo.country, "geolocation_source": geo.source,
            "registry": registry, "registry_source": registry_source,
            "registry_region": region_of(registry, dpf_certified=dpf_certified),
        }
        summary += f"; but registered in {registry} per {registry_source}: check where it really is"
        if status in _MILD:
            status = Status.WARN
    return Finding(id=CHECK, subject=host, target=geo.ip, status=status, value=value,
                   summary=(summary + owner_note)[:500], evidence=evidence)


def _owner_note(owner: NetworkOwner | None) -> str:
    if owner is None:
        return ""
    known = ", ".join(x for x in (f"AS{owner.asn}" if owner.asn is not None else None, owner.org) if x)
    note = f"; network {known}" if known else ""
    if owner.error:
        note += "; ASN/organisation " + ("incomplete" if known else "unknown") + f" ({owner.error})"
    return note


def rescope(finding: Finding, dpf_certified: bool | None) -> Finding:
    """The same location judged for another company (an MX or web host shared by two providers): the DPF
    status is the company's, so a US address may be adequacy for one and a third country for the other."""
    if finding.id != CHECK or not isinstance(finding.value, dict) or finding.status == Status.ERROR:
        return finding
    if finding.evidence.get("dpf_certified") == dpf_certified:
        return finding
    geoip = finding.evidence.get("geoip") or {}
    geo = GeoFact(str(finding.value.get("ip")), geoip.get("country"), geoip.get("registered_country"),
                  str(geoip.get("source")), bool(geoip.get("fallback")))
    rdap = finding.evidence.get("rdap") or {}
    owner = None if set(rdap) <= {"error"} else NetworkOwner.from_evidence(geo.ip, rdap)
    return location_finding(finding.subject, geo, owner, dpf_certified=dpf_certified)


async def locate(host: str, ip: str, ctx: ScanContext, *, dpf_certified: bool | None) -> Finding:
    owner = await ctx.rdap.lookup(ip) if ctx.rdap is not None else None
    return location_finding(host, ctx.geo.lookup(ip), owner, dpf_certified=dpf_certified)


async def policy_host_locations(domain: str, ctx: ScanContext, *, dpf_certified: bool | None) -> list[Finding]:
    """`hosting.location` for `mta-sts.<domain>` when the domain publishes MTA-STS (a `v=STSv1` TXT record).

    The TXT query is the one the MTA-STS probe makes (the resolver answers it from the run's cache). A domain
    without MTA-STS yields nothing; a policy host with no address yields nothing here either (the `mta_sts`
    check reports that); a resolver failure is an `error`, never silence.
    """
    host = f"mta-sts.{domain.rstrip('.')}"
    try:
        answer = await ctx.resolver.resolve(f"_mta-sts.{domain}", "TXT")
        if not any(t.startswith(b"v=STSv1") for t in txt_strings(answer)):
            return []
        v4, v6 = await ctx.resolver.addresses(host)
    except DnsError as exc:
        return [error(CHECK, host, f"MTA-STS policy host {host}: {exc.reason}", target=host)]
    return [await locate(host, ip, ctx, dpf_certified=dpf_certified) for ip in [*v4, *v6]]
