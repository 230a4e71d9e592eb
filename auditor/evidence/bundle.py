"""`auditor evidence export`: an audit's evidence bundle, a zip a regulator can check offline.

    manifest.json     what the bundle holds (path, SHA-256, size of each item), the audit, the previous link
    manifest.sig      the Ed25519 signature of manifest.json's exact bytes (base64, one line)
    public-key.pem    the signer's public key (its fingerprint is in the report: compare, or pin it)
    timestamp.tsr     the RFC 3161 time-stamp of manifest.json, when a TSA is configured
    audit.json, vantage.json, evidence/…, pages/…   the items

The items are rebuilt from the store and must match the manifest sealed when the audit completed: a
database altered since is refused rather than exported with a seal it no longer matches.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import AuditorError, ConfigError
from auditor.evidence.items import Page, bundle_items, claim_pages
from auditor.evidence.keys import fingerprint, public_pem
from auditor.evidence.manifest import Manifest, compare_items, manifest_items, parse_link
from auditor.evidence.seal import add_timestamp, seal
from auditor.files import write_private
from auditor.settings import Settings
from auditor.store import Store

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public-key.pem"
TIMESTAMP = "timestamp.tsr"
CONTROL = (MANIFEST, SIGNATURE, PUBLIC_KEY, TIMESTAMP)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # entries carry no time of their own: the manifest says when


class SealMismatch(AuditorError):
    """The database no longer holds what was sealed: exit 1, like any failed verification."""

    exit_code = 1


@dataclass(frozen=True)
class Exported:
    path: Path
    audit_id: str
    items: int
    manifest_sha256: str
    fingerprint: str
    timestamped: bool


def _entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    archive.writestr(info, data)


def export(store: Store, audit_id: str | None, out: Path, settings: Settings) -> Exported:
    """Write the bundle of `audit_id` (default: the latest complete audit) to `out`, mode 0600."""
    full_id = store.resolve_id(audit_id)
    link = add_timestamp(store, seal(store, full_id, settings), settings)  # an audit stored before sealing: now
    manifest = parse_link(link.body)
    if not isinstance(manifest, Manifest):
        raise ConfigError(f"{store.path}: the seal of audit {full_id} is not a manifest")
    audit = store.load_audit(full_id)
    stored = store.pages(set(claim_pages(audit)))
    items = bundle_items(audit, {h: Page(b, t) for h, (b, t) in stored.items()})
    changes = compare_items(manifest.items, manifest_items(items))
    if changes:
        raise SealMismatch(f"{store.path}: audit {full_id} no longer matches its seal ({'; '.join(changes[:3])}): "
                           "the database was altered since; `auditor history --verify` says more")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _entry(archive, MANIFEST, link.body)
        _entry(archive, SIGNATURE, (link.signature + "\n").encode())
        _entry(archive, PUBLIC_KEY, public_pem(link.public_key))
        if link.timestamp is not None:
            _entry(archive, TIMESTAMP, link.timestamp)
        for item in items:
            _entry(archive, item.path, item.data)
    write_private(out, buffer.getvalue())
    return Exported(out, full_id, len(items), link.hash, fingerprint(link.public_key), link.timestamp is not None)
