"""The audit reshaped for reading: ranking per kind, verdicts per use, matrix, per-provider sections.

Language-neutral: this module decides *what* a report says (status codes, symbols, groupings, counts); the
HTML and Markdown renderers decide how to say it, through the translator. Every string taken from scanned
data is cleaned here (control and bidi characters removed, length capped) and escaped later by the renderer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from auditor.findings import Audit, CriterionResult, Finding, ProviderResult, Score, Status
from auditor.report.context import CriterionInfo, ReportContext

# --- statuses and their symbols: meaning is never carried by colour alone --------------------------------

FINDING_SYMBOLS: dict[str, str] = {
    Status.PASS: "✔", Status.WARN: "!", Status.FAIL: "✘", Status.INFO: "i", Status.ERROR: "?", Status.SKIP: "—",
}
# Worst first: when several findings share a check id, the matrix shows the worst of them.
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


# --- cleaning hostile text -------------------------------------------------------------------------------

# C0/C1 controls, zero-width and bidirectional overrides: they can reorder or hide text in a report a
# client will trust (e.g. a host name that reads differently from what it is).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
SUMMARY_LIMIT = 300
EXCERPT_LIMIT = 240
NAME_LIMIT = 120


def clean(text: Any, limit: int = SUMMARY_LIMIT) -> str:
    """One line of displayable text from untrusted input: no controls, collapsed spaces, capped length."""
    line = _SPACES.sub(" ", _INVISIBLE.sub("\ufffd", str(text))).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


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


def safe_url(url: Any) -> str | None:
    """The URL when it is a plain http(s) link fit for an href, else None (then shown as text only)."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    url = url.strip()
    if _INVISIBLE.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


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


@dataclass(frozen=True)
class MatrixCell:
    status: str  # a criterion status or a finding status, depending on the matrix
    symbol: str
    detail: str  # e.g. "7/10" points, or "2 findings"; may be empty
    reason: str  # the scorer's reason or a summary; may be empty


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


@dataclass
class Matrix:
    by: Literal["criteria", "checks"]
    columns: list[str]
    rows: list[tuple[ProviderView, list[MatrixCell]]]


@dataclass
class Reference:
    label: str
    url: str | None
    url_text: str


@dataclass
class ReportView:
    audit: Audit
    providers: list[ProviderView]  # in ranking order
    matrix: Matrix
    regions: dict[str, int]
    kinds: dict[str, int]
    references: list[Reference]
    criteria_ids: list[str] = field(default_factory=list)
    scored: bool = False
    use_ids: list[str] = field(default_factory=list)  # the uses of the audit's profile, in its order


def _finding_view(f: Finding) -> FindingView:
    return FindingView(
        check=f.id, subject=clean(f.subject, NAME_LIMIT),
        target=clean(f.target, NAME_LIMIT) if f.target else None,
        status=str(f.status), symbol=FINDING_SYMBOLS.get(f.status, "?"), summary=clean(f.summary),
        value=excerpt(f.value), evidence=excerpt(for_people(f.evidence)),
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
    groups, grouped_by = _groups(p)
    servers = _servers(p)
    countries = sorted({s.country for s in servers if s.country})
    return ProviderView(
        id=clean(p.id, NAME_LIMIT), name=clean(p.name, NAME_LIMIT), kind=clean(p.kind, 40), score=p.score,
        rank=p.score.rank if p.score else None, rank_of=p.score.rank_of if p.score else None,
        uses=_use_views(p.score, use_ids),
        groups=groups, grouped_by=grouped_by, servers=servers, claims=_claims(p),
        regions=_region_counts(servers),
        status_counts={s: sum(1 for f in p.checks if f.status == s) for s in FINDING_SEVERITY},
        blockers=[clean(b, NAME_LIMIT) for b in (p.score.blockers if p.score else [])],
        countries=countries,
    )


def _criteria_matrix(views: list[ProviderView], ids: list[str]) -> Matrix:
    rows = []
    for v in views:
        by_id = {c.id: c for c in (v.score.criteria if v.score else [])}
        cells = []
        for cid in ids:
            c = by_id.get(cid)
            if v.score is None:
                cells.append(MatrixCell("not_scored", "·", "", ""))
            elif c is None:
                cells.append(MatrixCell("not_applicable", CRITERION_SYMBOLS["not_applicable"], "", ""))
            else:
                cells.append(MatrixCell(
                    c.status, CRITERION_SYMBOLS.get(c.status, "?"),
                    f"{_points(c.points)}/{_points(c.max)}", clean(c.reason or ""),
                ))
        rows.append((v, cells))
    return Matrix(by="criteria", columns=ids, rows=rows)


def _points(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _checks_matrix(views: list[ProviderView], providers: dict[str, ProviderResult]) -> Matrix:
    ids: list[str] = []
    for p in providers.values():
        for f in p.checks:
            if f.id not in ids:
                ids.append(f.id)
    rows = []
    for v in views:
        cells = []
        for cid in ids:
            found = [f for f in providers[v.id].checks if f.id == cid]
            if not found:
                cells.append(MatrixCell("absent", "·", "", ""))
                continue
            worst = min(found, key=lambda f: FINDING_SEVERITY.index(f.status))
            cells.append(MatrixCell(
                str(worst.status), FINDING_SYMBOLS.get(worst.status, "?"),
                str(len(found)) if len(found) > 1 else "", clean(worst.summary),
            ))
        rows.append((v, cells))
    return Matrix(by="checks", columns=ids, rows=rows)


def _references(criteria: dict[str, CriterionInfo], used: list[str]) -> list[Reference]:
    """Legal references of the criteria, those the audit used first, without duplicates."""
    order = used + [c for c in criteria if c not in used]
    seen: set[tuple[str, str]] = set()
    refs: list[Reference] = []
    for cid in order:
        info = criteria.get(cid)
        for label, url in info.references if info else []:
            if (label, url) in seen:
                continue
            seen.add((label, url))
            refs.append(Reference(label=clean(label), url=safe_url(url), url_text=clean(url, 200)))
    return refs


def build_view(audit: Audit, ctx: ReportContext) -> ReportView:
    """Everything the renderers show, computed once."""
    # Keyed by the cleaned id the views carry, so the check matrix can find a view's findings again.
    by_clean_id = {clean(p.id, NAME_LIMIT): p for p in audit.providers}
    # Scores compare within a kind: each kind's providers together, in the score's rank order.
    ordered = sorted(
        audit.providers,
        key=lambda p: (p.kind, p.score is None or p.score.rank is None, p.score.rank if p.score else 0,
                       -(p.score.value if p.score else 0), p.name.casefold()),
    )
    use_ids = list(ctx.uses) or list(dict.fromkeys(u.id for p in ordered for u in (p.score.uses if p.score else [])))
    views = [_provider_view(p, use_ids) for p in ordered]
    criteria_ids: list[str] = []
    for p in ordered:
        for c in p.score.criteria if p.score else []:
            if c.id not in criteria_ids:
                criteria_ids.append(c.id)
    scored = any(p.score for p in audit.providers)
    matrix = _criteria_matrix(views, criteria_ids) if scored else _checks_matrix(views, by_clean_id)
    all_servers = [s for v in views for s in v.servers]
    kinds = Counter(v.kind for v in views)
    return ReportView(
        audit=audit, providers=views, matrix=matrix, regions=_region_counts(all_servers),
        kinds=dict(sorted(kinds.items())), references=_references(ctx.criteria, criteria_ids),
        criteria_ids=criteria_ids, scored=scored, use_ids=use_ids,
    )
