"""The manifest: what an audit's bundle contains (path, SHA-256, size of every item), the audit's identity, the
vantage and tool version, and the hash of the previous link of the history chain. Its exact bytes are signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor import __version__
from auditor.evidence.items import Item, Page, audit_record, bundle_items, document_bytes, missing_pages
from auditor.findings import Audit

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


def manifest_items(items: list[Item]) -> list[ManifestItem]:
    return [ManifestItem(path=i.path, sha256=sha256_hex(i.data), size=len(i.data), kind=i.kind,
                         media_type=i.media_type) for i in items]


def render_manifest(audit: Audit, pages: Mapping[str, Page], previous: str | None, public_key: str) -> bytes:
    """The manifest of `audit` (read back from the store) chained after `previous`, as the bytes to sign."""
    record = audit_record(audit)
    manifest = Manifest(
        format=FORMAT, audit_id=audit.audit_id, started_at=audit.started_at, finished_at=audit.finished_at,
        complete=audit.complete, profile=audit.profile, tool_version=audit.tool_version, lab=audit.vantage.lab,
        vantage=record["vantage"], sealed_at=now_utc(), sealed_by=__version__, previous=previous,
        public_key=public_key, items=manifest_items(bundle_items(audit, pages)),
        missing=[MissingPage(sha256=sha, url=url) for sha, url in missing_pages(audit, pages)])
    return document_bytes(manifest.model_dump(mode="json"))


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
