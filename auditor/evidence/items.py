"""An audit laid out as the files of its evidence bundle: pure, deterministic (same audit, same bytes).

The bundle holds the audit document and, beside it, every piece of evidence in the form a reader's own tools
open: DNS answers as DNS wire format (`.dns`, with the RRSIGs the resolver returned; dnspython's
`dns.message.from_wire` or Wireshark read them), certificate chains as PEM (`openssl x509`), MTA-STS
policies as text, each finding whole as JSON (TLS scan results, HTTP headers, RDAP answers…), and the claim
pages as fetched. Sealing an audit and exporting it later both call `bundle_items` on the audit read back
from the store, so what was sealed is what is exported.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.findings import Audit, ProviderResult

AUDIT_DOCUMENT = "audit.json"
VANTAGE = "vantage.json"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {"text/html": "html", "text/plain": "txt", "application/pdf": "pdf", "application/json": "json",
               "application/xhtml+xml": "html", "text/markdown": "md"}


@dataclass(frozen=True)
class Page:
    """A claim page as fetched (the body the finding's `value.sha256` hashes)."""

    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class Item:
    path: str  # inside the zip: ASCII letters, digits, `._-` and `/`
    data: bytes
    kind: str  # audit | vantage | finding | dns | certificates | mta_sts_policy | claim_page
    media_type: str


def document_bytes(value: Any) -> bytes:
    """JSON as the bundle writes it: sorted keys, two-space indent, UTF-8, a final newline."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def provider_record(result: ProviderResult) -> dict[str, Any]:
    """A provider as `audit_record` lays it out inside the audit."""
    return result.model_dump(mode="json", by_alias=True, exclude_unset=True)


def audit_record(audit: Audit) -> dict[str, Any]:
    """The audit document as stored. `exclude_unset`: a field added to the models later (with a default) must
    not change the bytes of an audit sealed before it existed, or every old seal would read as tampered."""
    return audit.model_dump(mode="json", by_alias=True, exclude_unset=True)


def safe_name(text: str, limit: int = 80) -> str:
    """A file-name component from untrusted text (a host, a JSON key): never `..`, never a separator."""
    cleaned = _SAFE.sub("_", text).strip("._") or "_"
    return cleaned[:limit]


def page_path(sha256: str, content_type: str | None) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    return f"pages/{sha256}.{_EXTENSIONS.get(media, 'bin')}"


def _raw(evidence: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str, bytes, str]]:
    """(name, kind, bytes, media type) of every raw observation inside a finding's evidence."""
    if isinstance(evidence, dict):
        for key in sorted(evidence):
            value = evidence[key]
            here = (*path, str(key))
            if key == "wire_b64" and isinstance(value, str) and value:
                try:
                    data = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    continue  # not what we wrote: the finding's JSON still holds it as is
                yield "-".join((*path, "answer")), "dns", data, "application/dns-message"
            elif key == "chain_pem" and isinstance(value, list) and value:
                pem = "".join(p if p.endswith("\n") else p + "\n" for p in value if isinstance(p, str))
                yield "-".join((*path, "chain")), "certificates", pem.encode(), "application/pem-certificate-chain"
            elif key == "policy_text" and isinstance(value, str):
                yield "-".join((*path, "mta-sts")), "mta_sts_policy", value.encode("utf-8"), "text/plain"
            else:
                yield from _raw(value, here)
    elif isinstance(evidence, list):
        for index, value in enumerate(evidence):
            yield from _raw(value, (*path, str(index)))


_SUFFIX = {"dns": ".dns", "certificates": ".pem", "mta_sts_policy": ".txt"}


def claim_pages(audit: Audit) -> dict[str, str | None]:
    """sha256 → the URL fetched, for every claim finding that hashed a page."""
    found: dict[str, str | None] = {}
    for provider in audit.providers:
        for sha256, url in provider_pages(provider_record(provider)):
            found.setdefault(sha256, url)
    return found


def bundle_items(audit: Audit, pages: Mapping[str, Page]) -> list[Item]:
    """Every file of the bundle but the manifest, its signature and time-stamp, in a stable order.

    `pages`: the stored claim pages by SHA-256; a page the store does not hold is simply absent (the manifest
    lists it under `missing`, see `missing_pages`)."""
    record = audit_record(audit)
    items = [Item(AUDIT_DOCUMENT, document_bytes(record), "audit", "application/json"),
             Item(VANTAGE, document_bytes(record["vantage"]), "vantage", "application/json")]
    for provider in record["providers"]:
        items += provider_items(provider)
    for sha256 in sorted(claim_pages(audit)):
        page = pages.get(sha256)
        if page is not None:
            items.append(Item(page_path(sha256, page.content_type), page.body, "claim_page",
                              page.content_type or "application/octet-stream"))
    return items


def provider_items(provider: dict[str, Any]) -> list[Item]:
    """The bundle files of one provider (`provider_record`): each finding whole, and its raw observations."""
    items = []
    folder = f"evidence/{safe_name(provider['id'])}"
    for index, finding in enumerate(provider["checks"]):
        stem = f"{folder}/{index:04d}-{safe_name(finding['id'])}"
        items.append(Item(f"{stem}/finding.json", document_bytes(finding), "finding", "application/json"))
        taken: set[str] = set()
        for name, kind, data, media in _raw(finding.get("evidence") or {}):
            path = f"{stem}/{safe_name(name, 120)}{_SUFFIX[kind]}"
            while path in taken:  # two keys that clean to one name
                path = path.removesuffix(_SUFFIX[kind]) + "_" + _SUFFIX[kind]
            taken.add(path)
            items.append(Item(path, data, kind, media))
    return items


def provider_pages(provider: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(sha256, URL fetched) of every claim finding of one provider (`provider_record`) that hashed a page."""
    for finding in provider["checks"]:
        value = finding.get("value")
        if str(finding.get("id", "")).startswith("claim.") and isinstance(value, dict) \
                and isinstance(value.get("sha256"), str):
            yield value["sha256"], value.get("evidence_url")


def missing_pages(audit: Audit, pages: Mapping[str, Page]) -> list[tuple[str, str | None]]:
    """(sha256, URL) of the claim pages a finding hashed that the store does not hold."""
    return [(sha, url) for sha, url in sorted(claim_pages(audit).items()) if sha not in pages]
