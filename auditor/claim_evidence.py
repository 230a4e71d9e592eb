"""What the catalog alone says about a claim's evidence: who publishes it, and whether it still counts.

Pure functions over catalog models and a date (no network): the claims probe adds what the page says today,
`auditor catalog check` counts them per provider.

  attested      an independent body's attestation (certificate, audit) whose validity has not ended
  stated        the provider says it on its own site (`sites:` or a mail domain of the catalog entry)
  third_party   only someone else's page says it (press, wiki, blog): a lead, not proof
  contradicted  a credible source says the claim does not hold (`contradicted_by`)
  expired       the attestation's validity has ended
  none          no evidence page is recorded (or no phrase to look for on it)
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from auditor.catalog import Claim, Provider

Kind = Literal["attested", "stated", "third_party", "contradicted", "expired", "none"]
KINDS: tuple[Kind, ...] = ("attested", "stated", "third_party", "contradicted", "expired", "none")
Publisher = Literal["provider", "third_party"]


def last_day(date: str) -> dt.date:
    """The last day a YYYY[-MM[-DD]] date covers (a certificate valid "until 2027" is valid all of 2027)."""
    parts = [int(p) for p in date.split("-")]
    if len(parts) == 3:
        return dt.date(*parts)
    if len(parts) == 2:
        year, month = parts
        return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(parts[0], 12, 31)


def expired(claim: Claim, today: dt.date) -> bool:
    """The claim rests on an attestation whose validity ended before `today`."""
    until = claim.attestation.valid_until if claim.attestation else None
    return until is not None and last_day(until) < today


def publisher(provider: Provider, url: str | None) -> Publisher | None:
    """Who publishes the page at `url`: the provider itself (its sites, its mail domains) or a third party."""
    if not url:
        return None
    return "provider" if provider.publishes(url) else "third_party"


def evidence_kind(provider: Provider, claim: Claim, today: dt.date) -> Kind:
    """The kind of evidence the catalog records for `claim` on `today`, before any page is read."""
    if claim.contradicted_by is not None:
        return "contradicted"
    if expired(claim, today):
        return "expired"
    if not claim.evidence_url or not claim.evidence_text:
        return "none"
    if claim.attestation is not None:
        return "attested"
    return "stated" if publisher(provider, claim.evidence_url) == "provider" else "third_party"
