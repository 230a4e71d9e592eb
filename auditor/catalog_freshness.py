"""How fresh and how well-founded a catalog is: per-provider dates, evidence kinds and warnings.

Pure (a catalog and a date in, rows out), for `auditor catalog check`. A fact a DPO repeats to a client must
have been checked within the last 12 months; a claim that only a third party's page supports is a lead, not
proof. Warnings never make the catalog invalid: they say what to re-check next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from auditor.catalog import Catalog, Provider
from auditor.claim_evidence import KINDS, Kind, evidence_kind, last_day

MAX_AGE_DAYS = 365  # "older than 12 months"


@dataclass(frozen=True)
class ProviderFreshness:
    id: str
    kind: str
    name: str
    verified: str | None
    oldest_check: str | None  # the oldest `checked` date among the claims (None: no claim carries one)
    claims: dict[Kind, int]
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "verified": self.verified,
                "oldest_check": self.oldest_check, "claims": dict(self.claims), "warnings": list(self.warnings)}


def _age_problem(what: str, date: str | None, today: dt.date) -> str | None:
    """Why `date` is not a fresh check date on `today`, or None when it is."""
    if date is None:
        return f"{what}: no date; record when it was last checked (YYYY-MM-DD)"
    covered = last_day(date)  # a month or a year counts until its last day
    if covered > today:
        return f"{what}: {date} is in the future"
    if (today - covered).days > MAX_AGE_DAYS:
        return f"{what}: {date} is older than 12 months; re-check it against its source"
    return None


def review_provider(provider: Provider, today: dt.date) -> ProviderFreshness:
    warnings: list[str] = []
    problem = _age_problem("verified", provider.verified, today)
    if problem:
        warnings.append(problem)
    counts: dict[Kind, int] = {}
    checks: list[str] = []
    for claim in provider.claims:
        kind = evidence_kind(provider, claim, today)
        counts[kind] = counts.get(kind, 0) + 1
        if claim.checked:
            checks.append(claim.checked)
        problem = _age_problem(f"claim {claim.name} checked", claim.checked, today)
        if problem:
            warnings.append(problem)
        if kind == "third_party" and claim.claimed is True:
            warnings.append(f"claim {claim.name}: only a third party's page supports it ({claim.evidence_url}); "
                            "find the provider's own statement or an attestation")
    if provider.role.basis and not provider.role.basis_fr:
        warnings.append("role: `basis` has no French text (`basis_fr`); the French report leaves it out")
    for obs in provider.published:
        problem = _age_problem(f"published {obs.domain} observed", obs.observed, today)
        if problem:
            warnings.append(problem)
    oldest = min(checks, key=last_day) if checks else None
    ordered = {k: counts[k] for k in KINDS if k in counts}
    return ProviderFreshness(provider.id, provider.kind, provider.name, provider.verified, oldest, ordered, warnings)


def review(catalog: Catalog, today: dt.date) -> list[ProviderFreshness]:
    return [review_provider(p, today) for p in catalog.providers]


def _claims_cell(claims: dict[Kind, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in claims.items()) or "-"


def table(rows: list[ProviderFreshness]) -> str:
    """The freshness table as fixed-width text: id, verified, oldest claim check, claims by kind, warnings."""
    head = ("id", "verified", "oldest check", "claims by evidence kind", "warnings")
    body = [(r.id, r.verified or "-", r.oldest_check or "-", _claims_cell(r.claims), str(len(r.warnings)))
            for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
             for line in [head, *body]]
    return "\n".join(lines)


def report_json(path: str, rows: list[ProviderFreshness], today: dt.date) -> dict[str, Any]:
    return {"file": path, "valid": True, "today": today.isoformat(), "max_age_days": MAX_AGE_DAYS,
            "providers": [r.as_json() for r in rows], "warnings": sum(len(r.warnings) for r in rows)}
