"""A provider's sheet in the client report, as data: company and role, transfers and their legal basis, access
laws, hosting by role, claims with their evidence level, and the criteria to act on.

Pure and language-neutral, like view.py: read from the findings' structured `value` and `evidence` (never
from their English `summary`), cleaned here, phrased by the renderers through the translator (phrases.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from auditor.findings import Detail, ProviderResult, Score
from auditor.regions import eu_eea_codes
from auditor.report.clean import NAME_LIMIT, clean, safe_url

TEXT_LIMIT = 1200  # a law's summary, an adequacy decision's scope
MAJOR_LOSS = 3  # points; smaller gaps (hygiene items) are in the action list only
DETAILS_SHOWN = 1  # per criterion in a sheet; the annex has them all

# The order of a provider's recommendations: what blocks first, then what caps, then the points lost.
_STATUS_ORDER = {"not_met": 0, "not_verified": 1, "partial": 2}
_URL = re.compile(r"https?://[^\s)\]]+")


@dataclass(frozen=True)
class Link:
    text: str  # the cleaned URL, shown even when it is not safe to link
    url: str | None  # safe for an href
    host: str  # the site, for a short link text (the annex shows whole URLs)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def link(value: Any) -> Link | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = safe_url(value.strip())
    host = urlsplit(url).netloc.removeprefix("www.") if url else ""
    return Link(text=clean(value, 200), url=url, host=clean(host, 80) or clean(value, 80))


def first_link(text: Any) -> Link | None:
    """The first http(s) URL in a free-text source note ("https://… (checked 2026-12-02)")."""
    match = _URL.search(text) if isinstance(text, str) else None
    return link(match.group(0)) if match else None


@dataclass(frozen=True)
class Decision:
    """An adequacy decision relied on (regions.yaml, as the finding carries it)."""

    id: str
    number: str | None  # "2000/518/EC", "(EU) 2019/419"; None when the reference gives none
    date: str | None
    valid_until: str | None
    condition: str | None  # "dpf_certified"
    scope: dict[str, str]
    certain: bool
    url: Link | None
    source: Link | None


_NUMBER = re.compile(r"\((?:EU|UE)\)\s*\d{4}/\d+|\b\d{4}/\d+/(?:EC|EU|CE|UE)\b")


def decision(value: Any) -> Decision | None:
    if not isinstance(value, dict) or not value.get("id"):
        return None
    reference = value.get("reference") if isinstance(value.get("reference"), str) else ""
    number = _NUMBER.search(reference or "")
    scope = _dict(value.get("scope"))
    return Decision(
        id=clean(value["id"], 40), number=number.group(0) if number else None,
        date=clean(value["date"], 20) if isinstance(value.get("date"), str) else None,
        valid_until=clean(value["valid_until"], 20) if isinstance(value.get("valid_until"), str) else None,
        condition=clean(value["condition"], 40) if isinstance(value.get("condition"), str) else None,
        scope={k: clean(v, TEXT_LIMIT) for k, v in scope.items() if isinstance(v, str)},
        certain=value.get("certain") is True, url=link(value.get("url")),
        source=first_link(value.get("source")) or first_link(value.get("scope_source")),
    )


@dataclass(frozen=True)
class AccessLaw:
    id: str
    country: str
    title: str  # as the data file names it (the report prefers its translated title)
    via: list[str]  # company | parent | presence
    scored: bool
    summary: dict[str, str]
    url: Link | None
    checked: str | None
    abroad: dict[str, str] = field(default_factory=dict)  # what its text says of data stored abroad, if it says


def access_law(law: dict[str, Any]) -> AccessLaw:
    """A law record of the findings' evidence (auditor.access_laws.law_record), cleaned."""
    def texts(value: Any) -> dict[str, str]:
        return {k: clean(s, TEXT_LIMIT) for k, s in _dict(value).items() if isinstance(s, str)}

    return AccessLaw(
        id=clean(law.get("id") or "", 60), country=_country(law.get("country")) or "",
        title=clean(law.get("title") or law.get("id") or "", 200), via=_codes(law.get("via")),
        scored=law.get("scored") is True, summary=texts(law.get("summary")), url=link(law.get("url")),
        checked=clean(law["checked"], 20) if isinstance(law.get("checked"), str) else None,
        abroad=texts(law.get("abroad")))


@dataclass(frozen=True)
class Company:
    legal_name: str
    country: str | None
    region: str
    parent_name: str
    parent_country: str | None
    parent_known: bool
    presence: list[str]
    role: str | None  # processor | controller | None (not established)
    role_basis: dict[str, str]  # the catalog's words per language (`basis`, `basis_fr`); none in a language: not shown
    role_source: Link | None
    access_laws: list[AccessLaw]
    unassessed: list[str]
    decision: Decision | None


def _codes(value: Any) -> list[str]:
    return [clean(c, 40) for c in value if isinstance(c, str)] if isinstance(value, list) else []


def _country(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value) else None


def _basis(role: dict[str, Any]) -> dict[str, str]:
    texts = {"en": role.get("basis"), "fr": role.get("basis_fr")}
    return {lang: clean(text, 400) for lang, text in texts.items() if isinstance(text, str) and text.strip()}


# The only checks whose `evidence` the report reads (company() and hosting() below; the annex shows all of it): a
# bulk campaign's report is rendered from its findings read back without the rest of their evidence.
REPORT_EVIDENCE = frozenset({"jurisdiction.company", "hosting.summary"})


def company(p: ProviderResult) -> Company | None:
    f = next((c for c in p.checks if c.id == "jurisdiction.company"), None)
    if f is None or not isinstance(f.value, dict):
        return None
    v, ev = f.value, f.evidence
    role = _dict(ev.get("role"))
    parent = _dict(ev.get("parent"))
    laws = [access_law(law) for law in ev.get("access_laws") or [] if isinstance(law, dict)]
    role_value = v.get("role") if v.get("role") in ("processor", "controller") else None
    return Company(
        legal_name=clean(ev.get("legal_name") or "", NAME_LIMIT), country=_country(v.get("country")),
        region=clean(v.get("region") or "unknown", 20),
        parent_name=clean(parent.get("name") or "", NAME_LIMIT), parent_country=_country(v.get("parent_country")),
        parent_known=v.get("parent_known") is not False, presence=_codes(v.get("presence")),
        role=role_value, role_basis=_basis(role), role_source=link(role.get("source")),
        access_laws=laws, unassessed=_codes(v.get("unassessed")), decision=decision(v.get("decision")),
    )


@dataclass(frozen=True)
class Destination:
    country: str
    roles: list[str]
    decision: Decision | None


@dataclass(frozen=True)
class Transfer:
    mechanism: str  # none | adequacy | safeguards | unknown
    importer_country: str | None
    importer_decision: Decision | None
    destinations: list[Destination]
    group_abroad: list[str]  # where the group is established abroad and the data do not already go (each country once)
    status: str

    @property
    def countries(self) -> list[str]:
        """The countries the transfer line names: the data-carrying servers' countries outside the EU/EEA and, for
        a basis that rests on it, the importer's own (Wire: a Swiss company, servers in the EU, a transfer to
        Switzerland). Without it the line said "covered by an adequacy decision: none"."""
        named = [d.country for d in self.destinations if d.country]
        importer = self.importer_country
        if (self.mechanism in ("adequacy", "safeguards") and importer and importer not in eu_eea_codes()
                and importer not in named):
            named.insert(0, importer)
        return named

    @property
    def key(self) -> str:
        """The locale key of the line: a basis not established, with no country to name, names none."""
        return "unknown_unlisted" if self.mechanism == "unknown" and not self.countries else self.mechanism


def transfer(p: ProviderResult) -> Transfer | None:
    f = next((c for c in p.checks if c.id == "transfer"), None)
    if f is None:
        return None
    v = f.value if isinstance(f.value, dict) else {}
    importer = _dict(v.get("importer"))
    destinations = [Destination(country=_country(d.get("country")) or "", roles=_codes(d.get("roles")),
                                decision=decision(d.get("decision")))
                    for d in v.get("destinations") or [] if isinstance(d, dict)]
    mechanism = str(v["mechanism"]) if v.get("mechanism") in ("none", "adequacy", "safeguards") else "unknown"
    importer_country = _country(importer.get("country"))
    # Proton: its parent is in CH, where the importer and the servers already are: CH is said once, as a transfer.
    listed = {importer_country, *(d.country for d in destinations)}
    return Transfer(mechanism=mechanism, importer_country=importer_country,
                    importer_decision=decision(importer.get("decision")), destinations=destinations,
                    group_abroad=[c for c in dict.fromkeys(_codes(v.get("group_abroad"))) if c not in listed],
                    status=str(f.status))


@dataclass(frozen=True)
class Operator:
    """The operator of a network that hosts data-carrying servers, registered (RDAP) where a foreign access law
    reaches it: an exposure of the hosting operator, not a finding about the provider's data."""

    org: str
    asn: int | None
    country: str | None  # the registrant's country, per the regional Internet registry
    laws: list[AccessLaw]


@dataclass(frozen=True)
class Exposure:
    """One access law and the hosting operators it reaches (a sheet names each law once)."""

    law: AccessLaw
    operators: list[Operator]


def exposures(found: list[Operator]) -> list[Exposure]:
    by_law: dict[str, Exposure] = {}
    for o in found:
        for law in o.laws:
            by_law.setdefault(law.id or law.title, Exposure(law, [])).operators.append(o)
    return list(by_law.values())


@dataclass(frozen=True)
class Hosting:
    roles: dict[str, list[str]]  # data-carrying role -> countries
    informational: list[str]  # countries of hosts that carry no personal data (public site, MTA-STS policy)
    complete: bool  # every data-carrying server was located
    in_eu: bool = False  # every data-carrying server located is in the EU/EEA
    operators: list[Operator] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)  # the operators' access laws, each once


def operators(evidence: dict[str, Any]) -> list[Operator]:
    found = []
    for o in evidence.get("foreign_operators") or []:
        if not isinstance(o, dict):
            continue
        laws = [access_law(law) for law in o.get("laws") or [] if isinstance(law, dict)]
        if not laws and isinstance(o.get("law"), str):  # stored before the law records: its title only
            laws = [access_law({"title": o["law"], "country": o.get("country")})]
        asn = o.get("asn") if isinstance(o.get("asn"), int) and not isinstance(o.get("asn"), bool) else None
        found.append(Operator(org=clean(o.get("org") or "", NAME_LIMIT), asn=asn, country=_country(o.get("country")),
                              laws=laws))
    return found


def hosting(p: ProviderResult) -> Hosting | None:
    f = next((c for c in p.checks if c.id == "hosting.summary"), None)
    if f is None:
        return None
    v = f.value if isinstance(f.value, dict) else {}
    roles = _dict(v.get("roles"))
    info = _dict(v.get("informational"))
    data_roles = {clean(r, 40): _codes(c) for r, c in roles.items() if r not in ("web", "mta_sts_policy")}
    in_eu = bool(_codes(v.get("countries"))) and not _codes(v.get("outside_eu_eea"))
    found = operators(f.evidence)
    return Hosting(roles=data_roles, informational=_codes(info.get("countries")), complete=f.status != "error",
                   in_eu=in_eu, operators=found, exposures=exposures(found))


@dataclass(frozen=True)
class Claim:
    name: str
    level: str | None  # attested | stated | third_party | not_found | contradicted | expired
    source: Link | None
    checked: str | None  # YYYY-MM-DD
    valid_until: str | None


LEVELS = ("attested", "stated", "third_party", "not_found", "contradicted", "expired", None)


def by_level(made: list[Claim]) -> list[tuple[str | None, list[Claim]]]:
    """Claims grouped by evidence level, strongest first (a sheet lists each level once)."""
    return [(level, [c for c in made if c.level == level]) for level in LEVELS
            if any(c.level == level for c in made)]


def claims(p: ProviderResult) -> tuple[list[Claim], list[str]]:
    """(the claims the provider makes, with their evidence level; the names of those not made or unknown)."""
    made, other = [], []
    for f in p.checks:
        if not f.id.startswith("claim."):
            continue
        name = clean(f.id.removeprefix("claim."), 60)
        v = f.value if isinstance(f.value, dict) else {}
        if v.get("claimed") is not True:
            other.append(name)
            continue
        checked = v.get("checked_at")
        made.append(Claim(name=name, level=v.get("level") if isinstance(v.get("level"), str) else None,
                          source=link(v.get("evidence_url")),
                          checked=clean(checked[:10], 20) if isinstance(checked, str) else None,
                          valid_until=clean(v["valid_until"], 20) if isinstance(v.get("valid_until"), str)
                          else None))
    return made, other


@dataclass(frozen=True)
class Issue:
    """A criterion the provider does not fully meet: what was found, and the advice that goes with it."""

    criterion: str
    status: str  # not_met | not_verified | partial
    points: float
    max: float
    blocker: bool  # it caps the grade under this profile
    major: bool  # a blocker, or at least MAJOR_LOSS points lost: its meaning is spelled out in the sheet
    details: list[Detail]
    more: int  # details not shown in the sheet


@dataclass
class SheetFacts:
    company: Company | None
    transfer: Transfer | None
    hosting: Hosting | None
    claims: list[Claim]
    claim_levels: list[tuple[str | None, list[Claim]]]
    unclaimed: list[str]
    issues: list[Issue]
    met: list[str] = field(default_factory=list)  # criteria fully met


def issues(score: Score | None) -> tuple[list[Issue], list[str]]:
    """The criteria to act on, blockers first, then by points lost; and the ids of those met."""
    if score is None:
        return [], []
    found, met = [], []
    for c in score.criteria:
        if c.status == "met":
            met.append(c.id)
        if c.status not in _STATUS_ORDER:
            continue
        details = [d.model_copy(update={"target": clean(d.target, NAME_LIMIT) if d.target else None})
                   for d in c.details]
        found.append(Issue(criterion=c.id, status=c.status, points=c.points, max=c.max,
                           blocker=c.id in score.blockers,
                           major=c.id in score.blockers or c.max - c.points >= MAJOR_LOSS,
                           details=details[:DETAILS_SHOWN], more=max(0, len(details) - DETAILS_SHOWN)))
    found.sort(key=lambda i: (not i.blocker, _STATUS_ORDER[i.status], -(i.max - i.points)))
    return found, met


def sheet_facts(p: ProviderResult) -> SheetFacts:
    made, other = claims(p)
    found, met = issues(p.score)
    return SheetFacts(company=company(p), transfer=transfer(p), hosting=hosting(p), claims=made,
                      claim_levels=by_level(made), unclaimed=other, issues=found, met=met)
