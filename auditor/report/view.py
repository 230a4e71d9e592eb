"""The audit reshaped for reading: ranking per kind, verdicts per use, per-provider sheets and raw findings.

Language-neutral: this module decides *what* a report says (status codes, symbols, groupings, counts); the
HTML and Markdown renderers decide how to say it, through the translator. Every string taken from scanned
data is cleaned here (control and bidi characters removed, length capped) and escaped later by the renderer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from auditor.findings import Audit, CriterionResult, Finding, ProviderResult, Score, Status
from auditor.report.clean import EXCERPT_LIMIT, NAME_LIMIT, clean, safe_url
from auditor.report.context import ReportContext
from auditor.report.sheet import SheetFacts, sheet_facts
from auditor.vantages import Disagreement, one_per_check, vantage_disagreements

# --- statuses and their symbols: meaning is never carried by colour alone --------------------------------

FINDING_SYMBOLS: dict[str, str] = {
    Status.PASS: "✔", Status.WARN: "!", Status.FAIL: "✘", Status.INFO: "i", Status.ERROR: "?", Status.SKIP: "—",
}
# Worst first.
FINDING_SEVERITY: tuple[str, ...] = (
    Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.INFO, Status.SKIP,
)
CRITERION_SYMBOLS: dict[str, str] = {
    "met": "✔", "partial": "◐", "not_met": "✘", "not_verified": "?", "not_applicable": "—",
}
REGIONS: tuple[str, ...] = ("EU", "EEA", "adequacy", "third_country", "unknown")

# --- use verdicts: decided by the scoring profile (its `uses:`), carried in each score ------------------------

Verdict = Literal["fits", "reservations", "unfit", "not_assessed"]
VERDICT_SYMBOLS: dict[str, str] = {"fits": "✔", "reservations": "◐", "unfit": "✘", "not_assessed": "?"}


def excerpt(value: Any, limit: int = EXCERPT_LIMIT) -> str:
    """A short, single-line rendering of a JSON value (evidence, check value) for people."""
    if value is None or value == {} or value == []:
        return ""
    text = value if isinstance(value, str) else json.dumps(
        value, ensure_ascii=False, sort_keys=True, default=str, separators=(", ", ": ")
    )
    return clean(text, limit)


# Evidence kept for machines (PEM chains, raw DNS wire data): in a 240-character excerpt it would crowd out
# what a reader can check (certificate subject and names, records). The JSON document keeps all of it.
MACHINE_EVIDENCE_KEYS = frozenset({"chain_pem", "wire_b64"})


def for_people(value: Any) -> Any:
    """`value` without the MACHINE_EVIDENCE_KEYS entries, at any depth."""
    if isinstance(value, dict):
        return {k: for_people(v) for k, v in value.items() if k not in MACHINE_EVIDENCE_KEYS}
    if isinstance(value, list):
        return [for_people(v) for v in value]
    return value


_COUNTRY = re.compile(r"^[A-Z]{2}$")


# --- the view model --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FindingView:
    check: str
    subject: str
    target: str | None
    status: str
    symbol: str
    summary: str
    value: str
    evidence: str
    vantage: str | None = None  # the named vantage point that measured it (audits from several)


@dataclass(frozen=True)
class FindingGroup:
    key: str  # a criterion id, or a check id
    criterion: CriterionResult | None
    findings: list[FindingView]


@dataclass(frozen=True)
class ServerView:
    host: str
    ip: str
    country: str | None  # ISO 3166 alpha-2 when well formed
    country_raw: str  # what the probe said, cleaned, for when it is not a code
    region: str  # one of REGIONS
    org: str
    asn: int | None
    status: str
    symbol: str
    note: str  # the finding's summary when the location could not be established cleanly


@dataclass(frozen=True)
class ClaimView:
    name: str
    claimed: bool | None
    verified: bool | None
    url: str | None  # safe for an href
    url_text: str  # the cleaned URL as text (shown even when unsafe, never linked)
    checked_at: str | None
    sha256: str
    status: str
    symbol: str
    summary: str


@dataclass(frozen=True)
class UseView:
    use: str
    verdict: str  # one of VERDICT_SYMBOLS
    symbol: str


@dataclass
class ProviderView:
    id: str
    name: str
    kind: str
    score: Score | None
    rank: int | None  # within the provider's kind
    rank_of: int | None
    uses: list[UseView]
    groups: list[FindingGroup]
    grouped_by: Literal["criteria", "checks"]
    servers: list[ServerView]
    claims: list[ClaimView]
    regions: dict[str, int]
    status_counts: dict[str, int]
    blockers: list[str]
    countries: list[str]
    facts: SheetFacts


@dataclass
class Reference:
    label: str
    url: str | None
    url_text: str
    checked: str | None = None


@dataclass
class ReportView:
    audit: Audit
    providers: list[ProviderView]  # each kind together, in ranking order
    by_kind: dict[str, list[ProviderView]]
    regions: dict[str, int]
    kinds: dict[str, int]
    references: list[Reference]
    criteria_ids: list[str] = field(default_factory=list)
    scored: bool = False
    use_ids: list[str] = field(default_factory=list)  # the uses of the audit's profile, in its order
    names: dict[str, str] = field(default_factory=dict)  # provider id -> name, as the audit has it
    disagreements: list[Disagreement] = field(default_factory=list)  # between vantages (several vantages only)


def _finding_view(f: Finding) -> FindingView:
    return FindingView(
        check=f.id, subject=clean(f.subject, NAME_LIMIT),
        target=clean(f.target, NAME_LIMIT) if f.target else None,
        status=str(f.status), symbol=FINDING_SYMBOLS.get(f.status, "?"), summary=clean(f.summary),
        value=excerpt(f.value), evidence=excerpt(for_people(f.evidence)),
        vantage=clean(f.vantage, NAME_LIMIT) if f.vantage else None,
    )


def _is_dedicated(check_id: str) -> bool:
    """Checks with their own table in a provider section (servers, claims), kept out of the check groups."""
    return check_id == "hosting.location" or check_id.startswith("claim.")


def _groups(p: ProviderResult) -> tuple[list[FindingGroup], Literal["criteria", "checks"]]:
    criteria = p.score.criteria if p.score else []
    if any(c.checks for c in criteria):
        groups: list[FindingGroup] = []
        used: set[str] = set()
        for c in criteria:
            found = [_finding_view(f) for f in p.checks if f.id in c.checks]
            used.update(c.checks)
            groups.append(FindingGroup(key=c.id, criterion=c, findings=found))
        rest = [_finding_view(f) for f in p.checks if f.id not in used and not _is_dedicated(f.id)]
        if rest:
            groups.append(FindingGroup(key="", criterion=None, findings=rest))
        return groups, "criteria"
    by_check: dict[str, list[FindingView]] = {}
    for f in p.checks:
        if not _is_dedicated(f.id):
            by_check.setdefault(f.id, []).append(_finding_view(f))
    return [FindingGroup(key=k, criterion=None, findings=v) for k, v in by_check.items()], "checks"


def _servers(p: ProviderResult) -> list[ServerView]:
    servers: list[ServerView] = []
    seen: set[tuple[str, str]] = set()
    for f in p.checks:
        if f.id != "hosting.location":
            continue
        value = f.value if isinstance(f.value, dict) else {}
        ip = clean(value.get("ip") or f.target or "", NAME_LIMIT)
        host = clean(f.subject, NAME_LIMIT)
        if (host, ip) in seen:
            continue
        seen.add((host, ip))
        raw_country = value.get("country")
        country = raw_country if isinstance(raw_country, str) and _COUNTRY.match(raw_country) else None
        region = value.get("region")
        asn = value.get("asn")
        servers.append(ServerView(
            host=host, ip=ip, country=country,
            country_raw=clean(raw_country, 40) if raw_country else "",
            region=region if region in REGIONS else "unknown",
            org=clean(value.get("org") or "", NAME_LIMIT),
            asn=asn if isinstance(asn, int) and not isinstance(asn, bool) else None,
            status=str(f.status), symbol=FINDING_SYMBOLS.get(f.status, "?"),
            note=clean(f.summary) if f.status in (Status.ERROR, Status.FAIL, Status.WARN) else "",
        ))
    return servers


def _tri(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _claims(p: ProviderResult) -> list[ClaimView]:
    claims: list[ClaimView] = []
    for f in p.checks:
        if not f.id.startswith("claim."):
            continue
        value = f.value if isinstance(f.value, dict) else {}
        url = value.get("evidence_url")
        checked = value.get("checked_at")
        claims.append(ClaimView(
            name=f.id.removeprefix("claim."), claimed=_tri(value.get("claimed")),
            verified=_tri(value.get("verified")), url=safe_url(url),
            url_text=clean(url, 200) if url else "",
            checked_at=clean(checked, 60) if isinstance(checked, str) else None,
            sha256=clean(value.get("sha256") or "", 80),
            status=str(f.status), symbol=FINDING_SYMBOLS.get(f.status, "?"), summary=clean(f.summary),
        ))
    return claims


def _region_counts(servers: Iterable[ServerView]) -> dict[str, int]:
    counts = Counter(s.region for s in servers)
    return {r: counts.get(r, 0) for r in REGIONS}


def _use_views(score: Score | None, use_ids: list[str]) -> list[UseView]:
    """The score's verdict for each use of the audit's profile; "not assessed" where the score has none."""
    verdicts = {u.id: u.verdict for u in (score.uses if score else [])}
    views = []
    for use in use_ids:
        verdict = verdicts.get(use, "not_assessed")
        views.append(UseView(use, verdict, VERDICT_SYMBOLS.get(verdict, "?")))
    return views


def _provider_view(p: ProviderResult, use_ids: list[str]) -> ProviderView:
    groups, grouped_by = _groups(p)  # every finding, each with the vantage that measured it
    servers = _servers(p)  # every address any vantage was sent to, once
    # Claims, counts and the sheet: one verdict per check, subject and target (auditor/vantages.py).
    verdicts = p.model_copy(update={"checks": one_per_check(p.checks)})
    countries = sorted({s.country for s in servers if s.country})
    return ProviderView(
        id=clean(p.id, NAME_LIMIT), name=clean(p.name, NAME_LIMIT), kind=clean(p.kind, 40), score=p.score,
        rank=p.score.rank if p.score else None, rank_of=p.score.rank_of if p.score else None,
        uses=_use_views(p.score, use_ids),
        groups=groups, grouped_by=grouped_by, servers=servers, claims=_claims(verdicts),
        regions=_region_counts(servers),
        status_counts={s: sum(1 for f in verdicts.checks if f.status == s) for s in FINDING_SEVERITY},
        blockers=[clean(b, NAME_LIMIT) for b in (p.score.blockers if p.score else [])],
        countries=countries, facts=sheet_facts(verdicts),
    )


def _references(ctx: ReportContext, used: list[str]) -> list[Reference]:
    """Legal references of the profile and of the criteria the audit used, without duplicates."""
    infos = [*(ctx.profile.references if ctx.profile else []),
             *(r for cid in used if cid in ctx.criteria for r in ctx.criteria[cid].references)]
    seen: set[tuple[str, str]] = set()
    refs: list[Reference] = []
    for r in infos:
        label = r.label_in(ctx.lang)
        if (label, r.url) in seen:
            continue
        seen.add((label, r.url))
        refs.append(Reference(label=clean(label, 400), url=safe_url(r.url), url_text=clean(r.url, 200),
                              checked=r.checked))
    return refs


def _rank(p: ProviderResult) -> tuple[str, bool, int, float, str]:
    # Scores compare within a kind: each kind's providers together, in the score's rank order.
    return (p.kind, p.score is None or p.score.rank is None, (p.score.rank or 0) if p.score else 0,
            -(p.score.value if p.score else 0), p.name.casefold())


def build_view(audit: Audit, ctx: ReportContext,
               providers: Callable[[], Iterable[ProviderResult]] | None = None) -> ReportView:
    """Everything the renderers show, computed once. `providers`: the audit's providers read afresh at each call
    (a bulk campaign's, from the store; `audit` is then its header): the view holds their views, not their
    findings, and never more than one provider's results at a time. Without it, `audit.providers`."""
    source = providers or (lambda: audit.providers)
    ranks: dict[str, tuple[str, bool, int, float, str]] = {}
    scores: dict[str, Score | None] = {}
    names: dict[str, str] = {}
    for p in source():
        ranks[p.id], scores[p.id], names[p.id] = _rank(p), p.score, p.name
    ordered = sorted(ranks, key=ranks.__getitem__)  # stable: equal ranks keep the audit's order
    ranked = [score for score in (scores[pid] for pid in ordered) if score is not None]
    use_ids = list(ctx.uses) or list(dict.fromkeys(u.id for score in ranked for u in score.uses))
    several = len(audit.vantages) >= 2
    built: dict[str, ProviderView] = {}
    disagreements: list[Disagreement] = []
    for p in source():
        built[p.id] = _provider_view(p, use_ids)
        if several:
            disagreements += vantage_disagreements(p)
    views = [built[pid] for pid in ordered]
    criteria_ids: list[str] = []
    for score in ranked:
        for c in score.criteria:
            if c.id not in criteria_ids:
                criteria_ids.append(c.id)
    all_servers = [s for v in views for s in v.servers]
    kinds = Counter(v.kind for v in views)
    by_kind: dict[str, list[ProviderView]] = {}
    for v in views:
        by_kind.setdefault(v.kind, []).append(v)
    return ReportView(
        audit=audit, providers=views, by_kind=by_kind, regions=_region_counts(all_servers),
        kinds=dict(sorted(kinds.items())), references=_references(ctx, criteria_ids),
        criteria_ids=criteria_ids, scored=any(scores.values()), use_ids=use_ids, names=names,
        disagreements=disagreements,
    )
