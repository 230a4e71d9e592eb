"""`claim.<name>`: does the provider's own published page still say what the catalog says it claims?

The page is fetched through our HTTP layer (size cap, timeout, verified TLS), following redirects only
within the same site, and hashed; the supporting text is searched in the page's visible text.

Finding the text is not the whole story: who says it matters. Every claimed claim gets an evidence `level`:
  attested      an independent body's attestation (certificate, audit) in its validity, and the page says it
  stated        the provider says it on its own site (`sites:` or a mail domain of the catalog entry)
  third_party   only someone else's page says it (press, wiki, blog): a lead, not proof
  not_found     no published evidence, or the page no longer says it
  contradicted  a credible source says the claim does not hold (the catalog's `contradicted_by`)
  expired       the attestation's validity has ended
A criterion names the levels it accepts; an expired or contradicted claim backs nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from typing import Literal
from urllib.parse import urljoin, urlsplit

from auditor.catalog import Claim, Provider
from auditor.claim_evidence import evidence_kind, expired, publisher
from auditor.findings import Finding, Status
from auditor.net.http import HttpResult
from auditor.policy.dmarc import organizational_domain
from auditor.probes.context import ScanContext

MAX_PAGE = 2 * 1024 * 1024
MAX_REDIRECTS = 3
_HIDDEN = re.compile(r"<(script|style|template|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")


def visible_text(body: bytes, content_type: str | None) -> str:
    """Page text as a reader sees it: markup and scripts removed, entities decoded, spaces collapsed."""
    charset = "utf-8"
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        text = body.decode(charset, "replace")
    except LookupError:
        text = body.decode("utf-8", "replace")
    text = _TAG.sub(" ", _HIDDEN.sub(" ", text))
    return normalise(html.unescape(text))


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip().casefold()


def same_site(a: str, b: str) -> bool:
    ha, hb = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    return bool(ha and hb) and organizational_domain(ha) == organizational_domain(hb)


async def _fetch(url: str, ctx: ScanContext) -> tuple[HttpResult, list[str]]:
    hops: list[str] = []
    result = await ctx.http.get(url, max_bytes=MAX_PAGE)
    while result.status in (301, 302, 303, 307, 308) and len(hops) < MAX_REDIRECTS:
        location = urljoin(result.url, result.headers.get("location", ""))
        if not location or not same_site(url, location) or not location.startswith("https://"):
            result.error = f"redirected off the site to {location[:200]!r}: not followed"
            break
        hops.append(location)
        result = await ctx.http.get(location, max_bytes=MAX_PAGE)
    return result, hops


Level = Literal["attested", "stated", "third_party", "not_found", "contradicted", "expired"]
LEVELS: tuple[Level, ...] = ("attested", "stated", "third_party", "not_found", "contradicted", "expired")
_LEVEL_STATUS = {"attested": Status.PASS, "stated": Status.PASS, "third_party": Status.WARN,
                 "not_found": Status.FAIL, "contradicted": Status.FAIL, "expired": Status.FAIL}


def level_of(provider: Provider, claim: Claim, found: bool, today: dt.date) -> Level:
    """The evidence level of a claimed claim whose evidence page was read (`found`: it says the text)."""
    kind = evidence_kind(provider, claim, today)
    if kind in ("contradicted", "expired"):
        return kind
    if not found or kind == "none":
        return "not_found"
    return kind


def _value(provider: Provider, claim: Claim, verified: bool | None, checked_at: str | None, sha256: str | None,
           level: Level | None) -> dict[str, object]:
    return {"claimed": claim.claimed, "evidence_url": claim.evidence_url, "verified": verified,
            "checked_at": checked_at, "sha256": sha256, "level": level,
            "publisher": publisher(provider, claim.evidence_url),
            "valid_until": claim.attestation.valid_until if claim.attestation else None}


_SAYS = {"attested": "attested by {body}", "stated": "the provider's own page says",
         "third_party": "only a third party's page says"}


def _summary(claim: Claim, level: Level) -> str:
    if level == "contradicted":
        assert claim.contradicted_by is not None
        return f"{claim.name}: contradicted by {claim.contradicted_by.url} ({claim.contradicted_by.note})"
    if level == "expired":
        assert claim.attestation is not None
        return f"{claim.name}: the attestation by {claim.attestation.body} expired on {claim.attestation.valid_until}"
    if level == "not_found":
        return f"{claim.name}: the page no longer says “{claim.evidence_text}”"
    body = claim.attestation.body if claim.attestation else ""
    return f"{claim.name}: {_SAYS[level].format(body=body)} “{claim.evidence_text}”"


async def claim_finding(provider: Provider, claim: Claim, ctx: ScanContext) -> Finding:
    check = f"claim.{claim.name}"
    base = {"detail": claim.detail, "expected_text": claim.evidence_text, "source_date": claim.source_date,
            "catalog_checked": claim.checked,
            "attestation": claim.attestation.model_dump() if claim.attestation else None,
            "contradicted_by": claim.contradicted_by.model_dump() if claim.contradicted_by else None}
    if claim.claimed is not True:
        word = "not claimed" if claim.claimed is False else "unknown whether claimed"
        return Finding(id=check, subject=provider.id, status=Status.INFO,
                       value=_value(provider, claim, None, None, None, None),
                       summary=f"{claim.name}: {word}", evidence=base)
    now = dt.datetime.now(dt.UTC)
    checked_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if claim.contradicted_by is not None or expired(claim, now.date()):
        # settled by the catalog's sources, whatever the page says today
        level = level_of(provider, claim, False, now.date())
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.FAIL,
                       value=_value(provider, claim, None, checked_at, None, level),
                       summary=_summary(claim, level)[:500], evidence=base)
    if not claim.evidence_url or not claim.evidence_text:
        why = (f"no phrase recorded to look for on {claim.evidence_url}" if claim.evidence_url
               else "no published evidence recorded")
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.WARN,
                       value=_value(provider, claim, None, None, None, "not_found"),
                       summary=f"{claim.name} claimed, {why}"[:500], evidence=base)
    result, hops = await _fetch(claim.evidence_url, ctx)
    evidence = {**base, "fetch": result.evidence(), "redirects": hops}
    if result.error is not None and result.status is None:
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.ERROR,
                       value=_value(provider, claim, None, checked_at, None, None),
                       summary=f"evidence page unreachable: {result.error}"[:500], evidence=evidence)
    sha256 = hashlib.sha256(result.body).hexdigest()
    if ctx.pages is not None:
        ctx.pages.put_page(result.body, result.headers.get("content-type"))  # the page as fetched, for the bundle
    if result.status != 200 or result.error is not None:
        why = result.error or f"HTTP {result.status}"
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.FAIL,
                       value=_value(provider, claim, False, checked_at, sha256, "not_found"),
                       summary=f"evidence page no longer available ({why})"[:500], evidence=evidence)
    text = visible_text(result.body, result.headers.get("content-type"))
    found = normalise(claim.evidence_text) in text
    level = level_of(provider, claim, found, now.date())
    return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=_LEVEL_STATUS[level],
                   value=_value(provider, claim, found, checked_at, sha256, level),
                   summary=_summary(claim, level)[:500], evidence={**evidence, "truncated": result.truncated})
