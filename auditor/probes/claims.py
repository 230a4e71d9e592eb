"""`claim.<name>`: does the provider's own published page still say what the catalog says it claims?

The page is fetched through our HTTP layer (size cap, timeout, verified TLS), following redirects only
within the same site, and hashed; the supporting text is searched in the page's visible text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from urllib.parse import urljoin, urlsplit

from auditor.catalog import Claim, Provider
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


def _value(claim: Claim, verified: bool | None, checked_at: str | None, sha256: str | None) -> dict[str, object]:
    return {"claimed": claim.claimed, "evidence_url": claim.evidence_url, "verified": verified,
            "checked_at": checked_at, "sha256": sha256}


async def claim_finding(provider: Provider, claim: Claim, ctx: ScanContext) -> Finding:
    check = f"claim.{claim.name}"
    base = {"detail": claim.detail, "expected_text": claim.evidence_text, "source_date": claim.source_date}
    if claim.claimed is not True:
        word = "not claimed" if claim.claimed is False else "unknown whether claimed"
        return Finding(id=check, subject=provider.id, status=Status.INFO, value=_value(claim, None, None, None),
                       summary=f"{claim.name}: {word}", evidence=base)
    if not claim.evidence_url or not claim.evidence_text:
        return Finding(id=check, subject=provider.id, status=Status.WARN, value=_value(claim, None, None, None),
                       summary=f"{claim.name} claimed without published evidence to check", evidence=base)
    checked_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result, hops = await _fetch(claim.evidence_url, ctx)
    evidence = {**base, "fetch": result.evidence(), "redirects": hops}
    if result.error is not None and result.status is None:
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.ERROR,
                       value=_value(claim, None, checked_at, None),
                       summary=f"evidence page unreachable: {result.error}"[:500], evidence=evidence)
    sha256 = hashlib.sha256(result.body).hexdigest()
    if result.status != 200 or result.error is not None:
        why = result.error or f"HTTP {result.status}"
        return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=Status.FAIL,
                       value=_value(claim, False, checked_at, sha256),
                       summary=f"evidence page no longer available ({why})"[:500], evidence=evidence)
    text = visible_text(result.body, result.headers.get("content-type"))
    found = normalise(claim.evidence_text) in text
    if found:
        status, summary = Status.PASS, f"{claim.name}: the provider's page still says “{claim.evidence_text}”"
    else:
        status, summary = Status.FAIL, f"{claim.name}: the page no longer says “{claim.evidence_text}”"
    return Finding(id=check, subject=provider.id, target=claim.evidence_url, status=status,
                   value=_value(claim, found, checked_at, sha256), summary=summary[:500],
                   evidence={**evidence, "truncated": result.truncated})
