"""The manifest: what an audit's bundle contains (path, SHA-256, size of every item), the audit's identity, the
vantage and tool version, and the hash of the previous link of the history chain. Its exact bytes are signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor import __version__
from auditor.evidence.items import (
    AUDIT_DOCUMENT,
    VANTAGE,
    Item,
    Page,
    audit_record,
    document_bytes,
    page_path,
    provider_items,
    provider_pages,
    provider_record,
)
from auditor.findings import Audit, ProviderResult
from auditor.jsontext import in_list, part_text, spliced

FORMAT: Literal["auditor.bundle/1"] = "auditor.bundle/1"
PRUNE_FORMAT: Literal["auditor.prune/1"] = "auditor.prune/1"
# A relative path of safe names: never absolute, never a backslash or a drive letter (and `safe_path`: no `..`).
PATH_PATTERN = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class ManifestError(Exception):
    """Bytes that are not a manifest of a format this auditor knows."""


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(pattern=PATH_PATTERN, max_length=255)
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=0)
    kind: str = Field(max_length=40)
    media_type: str = Field(max_length=200)

    @field_validator("path")
    @classmethod
    def _no_dot_segments(cls, v: str) -> str:
        if not safe_path(v):
            raise ValueError("a path segment is . or ..")
        return v


def safe_path(path: str) -> bool:
    """A relative path of safe names, without `.` or `..` segments (what a bundle may contain)."""
    return re.fullmatch(PATH_PATTERN, path) is not None and all(p not in (".", "..") for p in path.split("/"))


class MissingPage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    url: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["auditor.bundle/1"]
    audit_id: str = Field(max_length=200)
    started_at: str
    finished_at: str | None
    complete: bool
    profile: str
    tool_version: str  # the auditor that scanned
    lab: bool  # a simulation against the lab, not a measurement of the real providers
    vantage: dict[str, Any]
    sealed_at: str
    sealed_by: str  # the auditor version that sealed
    previous: str | None = Field(pattern=SHA256_PATTERN)  # the previous chain link's hash; None: the first
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")  # the signer's raw Ed25519 public key
    items: list[ManifestItem]
    missing: list[MissingPage] = Field(default_factory=list)  # claim pages hashed but not kept


class PruneRecord(BaseModel):
    """A prune, as the chain records it: which sealed audits were deleted on purpose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["auditor.prune/1"]
    pruned_at: str
    previous: str | None = Field(pattern=SHA256_PATTERN)
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    deleted: list[dict[str, str | None]]  # {"audit_id", "manifest": hash of its link, or None if never sealed}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_item(item: Item) -> ManifestItem:
    return ManifestItem(path=item.path, sha256=sha256_hex(item.data), size=len(item.data), kind=item.kind,
                        media_type=item.media_type)


def manifest_items(items: list[Item]) -> list[ManifestItem]:
    return [manifest_item(i) for i in items]


def stream_items(header: Audit, providers: Iterable[ProviderResult], pages: Mapping[str, Page],
                 sink: Callable[[ManifestItem], None]) -> tuple[list[ManifestItem], list[MissingPage]]:
    """The manifest items of an audit read one provider at a time (`header`: the audit without its providers),
    the same as `manifest_items(bundle_items(audit, pages))` without holding the audit or its items.

    `sink` receives every item after the first two, in the bundle's order; returned: those first two (the audit
    document and its vantage, known only once every provider was read) and the missing claim pages."""
    record = audit_record(header)
    digest, size = hashlib.sha256(), 0
    found: dict[str, str | None] = {}

    def provider_texts() -> Iterable[str]:
        for result in providers:
            provider = provider_record(result)
            for item in provider_items(provider):
                sink(manifest_item(item))
            for sha, url in provider_pages(provider):
                found.setdefault(sha, url)
            yield part_text(provider)

    for chunk in spliced(record, "providers", provider_texts()):
        data = chunk.encode("utf-8")
        digest.update(data)
        size += len(data)
    for sha in sorted(found):
        page = pages.get(sha)
        if page is not None:
            sink(manifest_item(Item(page_path(sha, page.content_type), page.body, "claim_page",
                                    page.content_type or "application/octet-stream")))
    lead = [ManifestItem(path=AUDIT_DOCUMENT, sha256=digest.hexdigest(), size=size, kind="audit",
                         media_type="application/json"),
            manifest_item(Item(VANTAGE, document_bytes(record["vantage"]), "vantage", "application/json"))]
    missing = [MissingPage(sha256=sha, url=url) for sha, url in sorted(found.items()) if sha not in pages]
    return lead, missing


def render_manifest(header: Audit, providers: Iterable[ProviderResult], pages: Mapping[str, Page],
                    previous: str | None, public_key: str) -> bytes:
    """The manifest of an audit read back from the store (`header` and its `providers`, streamed) chained after
    `previous`, as the bytes to sign: what `document_bytes` of the whole `Manifest` gives, built while only the
    items' JSON (a few hundred bytes each) is held."""
    rest = io.BytesIO()  # every item after the first two, laid out and separated as the manifest holds them

    def keep(item: ManifestItem) -> None:
        rest.write((",\n" + in_list(part_text(item.model_dump(mode="json")))).encode("utf-8"))

    lead, missing = stream_items(header, providers, pages, keep)
    manifest = Manifest(
        format=FORMAT, audit_id=header.audit_id, started_at=header.started_at, finished_at=header.finished_at,
        complete=header.complete, profile=header.profile, tool_version=header.tool_version,
        lab=header.vantage.lab, vantage=audit_record(header)["vantage"], sealed_at=now_utc(), sealed_by=__version__,
        previous=previous, public_key=public_key, items=[], missing=missing)
    # The two first items, then the others where the list closes: one copy of them, never a list of strings.
    *opening, closing = spliced(manifest.model_dump(mode="json"), "items",
                                [part_text(item.model_dump(mode="json")) for item in lead])
    return b"".join([*(piece.encode("utf-8") for piece in opening), rest.getbuffer(), closing.encode("utf-8")])


def render_prune(deleted: list[dict[str, str | None]], previous: str | None, public_key: str) -> bytes:
    record = PruneRecord(format=PRUNE_FORMAT, pruned_at=now_utc(), previous=previous, public_key=public_key,
                         deleted=deleted)
    return document_bytes(record.model_dump(mode="json"))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"not JSON ({str(exc)[:120]})") from exc


def parse_manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate(_json(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ManifestError(f"{where}: {first['msg']}") from exc


def parse_link(data: bytes) -> Manifest | PruneRecord:
    """A chain link's body: a manifest or a prune record."""
    value = _json(data)
    if isinstance(value, dict) and value.get("format") == PRUNE_FORMAT:
        try:
            return PruneRecord.model_validate(value)
        except ValidationError as exc:
            raise ManifestError(f"prune record: {exc.errors()[0]['msg']}") from exc
    return parse_manifest(data)


def compare_items(expected: list[ManifestItem], actual: list[ManifestItem]) -> list[str]:
    """What differs between a manifest's items and the items rebuilt now, one line each (at most a few)."""
    want = {i.path: i for i in expected}
    have = {i.path: i for i in actual}
    problems = [f"item {p} changed" for p in want if p in have and want[p].sha256 != have[p].sha256]
    problems += [f"item {p} is gone" for p in want if p not in have]
    problems += [f"item {p} was added" for p in have if p not in want]
    return problems
