"""`auditor evidence verify`: check a bundle offline, without the database, treating the zip as hostile.

Nothing is extracted to disk. Entry names must be safe relative paths (no `..`, no absolute path, no
backslash, no duplicate, no symlink, no encryption); every entry is read in chunks up to a cap, so a zip
bomb or a lying size header costs at most the cap. Any file that is not a zip, or a zip without a
manifest, is "not a bundle" (exit 2); everything else that does not check out is a failed verification
(exit 1) naming the item: changed, missing, extra, a signature that does not verify, another key, a
time-stamp that does not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from auditor.evidence.bundle import CONTROL, MANIFEST, PUBLIC_KEY, SIGNATURE, TIMESTAMP
from auditor.evidence.keys import fingerprint, parse_public, verify
from auditor.evidence.manifest import Manifest, ManifestError, parse_manifest, safe_path
from auditor.evidence.timestamp import Stamp, TimestampError, check, imprint_of

MAX_ENTRIES = 200_000
MAX_ENTRY = 256 * 1024 * 1024  # one item (an audit document of thousands of providers stays far below)
MAX_TOTAL = 4 * 1024 * 1024 * 1024
MAX_CONTROL = 64 * 1024 * 1024  # the manifest of a very large audit
CHUNK = 1024 * 1024


class NotABundle(Exception):
    """The file is not an evidence bundle at all (exit 2)."""


@dataclass
class Verdict:
    audit_id: str | None = None
    items: int = 0
    fingerprint: str | None = None
    key_source: str = "embedded"  # embedded | given
    sealed_at: str | None = None
    previous: str | None = None
    lab: bool = False
    manifest_sha256: str | None = None
    stamp: Stamp | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


class _Reader:
    """Bounded reads of a zip's entries."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.total = 0

    def _stream(self, info: zipfile.ZipInfo, cap: int, sink: Callable[[bytes], object]) -> tuple[int, str | None]:
        """Feed the entry to `sink` in chunks: (its size, None), or (0, why it stopped) past `cap` or on damage."""
        size = 0
        try:
            with self.archive.open(info) as handle:
                while chunk := handle.read(CHUNK):
                    size += len(chunk)
                    self.total += len(chunk)
                    if size > cap or self.total > MAX_TOTAL:
                        return 0, f"larger than {min(cap, MAX_TOTAL)} bytes"
                    sink(chunk)
        except Exception as exc:  # a damaged entry (bad CRC, corrupt deflate data): named, never a crash
            return 0, f"damaged in the zip ({str(exc)[:100] or type(exc).__name__})"
        return size, None

    def read(self, info: zipfile.ZipInfo, cap: int) -> tuple[bytes | None, str | None]:
        """(the entry's bytes, None), or (None, why not) — never more than `cap` bytes in memory."""
        chunks: list[bytes] = []
        _, why = self._stream(info, cap, chunks.append)
        return (None, why) if why else (b"".join(chunks), None)

    def digest(self, info: zipfile.ZipInfo, cap: int) -> tuple[str | None, int, str | None]:
        """(SHA-256 hex, size, None) streaming, or (None, 0, why not)."""
        hasher = hashlib.sha256()
        size, why = self._stream(info, cap, hasher.update)
        return (None, 0, why) if why else (hasher.hexdigest(), size, None)


def _entries(archive: zipfile.ZipFile) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """The entries by name, and what is wrong with the zip's structure."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise NotABundle(f"{len(infos)} entries (a bundle has at most {MAX_ENTRIES})")
    entries: dict[str, zipfile.ZipInfo] = {}
    problems: list[str] = []
    for info in infos:
        name = info.filename
        shown = name[:120].encode("unicode_escape").decode()
        if info.is_dir():
            continue
        if not safe_path(name):
            problems.append(f"entry {shown!r} has an unsafe name (absolute, `..`, or odd characters): refused")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            problems.append(f"entry {shown} is a symbolic link: refused")
            continue
        if info.flag_bits & 0x1:
            problems.append(f"entry {shown} is encrypted: refused")
            continue
        if name in entries:
            problems.append(f"entry {shown} appears twice (which copy counts is ambiguous): refused")
            continue
        entries[name] = info
    return entries, problems


def verify_bundle(path: Path, public_key: str | None = None, tsa_roots: list[x509.Certificate] | None = None,
                  ) -> Verdict:
    """Check `path`; `public_key` (raw hex) pins the signer, `tsa_roots` are the roots a time-stamp must chain
    to (None: a time-stamp present is reported as not checked). Raises NotABundle (exit 2)."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise NotABundle("no such file") from exc
    except IsADirectoryError as exc:
        raise NotABundle("a directory, not a bundle") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise NotABundle(f"not a zip file ({str(exc)[:100] or type(exc).__name__})") from exc
    with archive:
        return _verify(_Reader(archive), public_key, tsa_roots)


def _verify(reader: _Reader, public_key: str | None, tsa_roots: list[x509.Certificate] | None) -> Verdict:
    entries, problems = _entries(reader.archive)
    if MANIFEST not in entries:
        raise NotABundle(f"no {MANIFEST} in the zip")
    verdict = Verdict(problems=problems)
    body, why = reader.read(entries[MANIFEST], MAX_CONTROL)
    if body is None:
        verdict.problems.append(f"{MANIFEST}: {why}")
        return verdict
    verdict.manifest_sha256 = hashlib.sha256(body).hexdigest()
    try:
        manifest = parse_manifest(body)
    except ManifestError as exc:
        verdict.problems.append(f"{MANIFEST} is not a valid manifest ({exc})")
        return verdict
    verdict.audit_id, verdict.sealed_at, verdict.previous = manifest.audit_id, manifest.sealed_at, manifest.previous
    verdict.items, verdict.lab = len(manifest.items), manifest.lab
    _check_signature(reader, entries, manifest, body, public_key, verdict)
    _check_items(reader, entries, manifest, verdict)
    if TIMESTAMP in entries:
        _check_timestamp(reader, entries[TIMESTAMP], body, tsa_roots, verdict)
    return verdict


def _check_signature(reader: _Reader, entries: dict[str, zipfile.ZipInfo], manifest: Manifest, body: bytes,
                     public_key: str | None, verdict: Verdict) -> None:
    signer = manifest.public_key
    verdict.fingerprint = fingerprint(signer)
    if public_key is not None:
        verdict.key_source = "given"
        if public_key != signer:
            verdict.problems.append(f"wrong key: the manifest is signed by {fingerprint(signer)}, not by the key "
                                    f"given ({fingerprint(public_key)})")
            return
    elif PUBLIC_KEY in entries:
        pem, why = reader.read(entries[PUBLIC_KEY], MAX_CONTROL)
        try:
            embedded = parse_public(pem or b"", PUBLIC_KEY) if pem is not None else None
        except Exception as exc:  # a ConfigError about garbage: a bundle problem here, not the user's
            embedded, why = None, str(exc)
        if embedded != signer:
            verdict.problems.append(f"{PUBLIC_KEY} is not the key the manifest names ({why or 'another key'})")
    else:
        verdict.problems.append(f"{PUBLIC_KEY} is missing (pass --public-key FILE to check the signature)")
    if SIGNATURE not in entries:
        verdict.problems.append(f"{SIGNATURE} is missing: the manifest is not signed")
        return
    signature, why = reader.read(entries[SIGNATURE], MAX_CONTROL)
    try:
        text = (signature or b"").decode("ascii").strip()
        base64.b64decode(text, validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        text = ""
    if signature is None or not verify(signer, body, text):
        verdict.problems.append(f"the signature does not verify: {MANIFEST} was changed after signing "
                                f"(or {SIGNATURE} was{' ' + why if why else ''})")


def _check_items(reader: _Reader, entries: dict[str, zipfile.ZipInfo], manifest: Manifest,
                 verdict: Verdict) -> None:
    listed = set()
    for item in manifest.items:
        listed.add(item.path)
        info = entries.get(item.path)
        if info is None:
            verdict.problems.append(f"missing item {item.path}")
            continue
        digest, size, why = reader.digest(info, min(MAX_ENTRY, item.size))
        if digest is None and why and why.startswith("larger"):
            verdict.problems.append(f"item {item.path} changed (larger than the {item.size} bytes listed)")
        elif digest is None:
            verdict.problems.append(f"item {item.path} is {why}")
        elif digest != item.sha256 or size != item.size:
            verdict.problems.append(f"item {item.path} changed (sha256 {digest[:16]}…, the manifest says "
                                    f"{item.sha256[:16]}…)")
    for name in sorted(set(entries) - listed - set(CONTROL)):
        verdict.problems.append(f"extra item {name}: not in the manifest")


def _check_timestamp(reader: _Reader, info: zipfile.ZipInfo, body: bytes,
                     tsa_roots: list[x509.Certificate] | None, verdict: Verdict) -> None:
    token, why = reader.read(info, MAX_CONTROL)
    if token is None:
        verdict.problems.append(f"{TIMESTAMP}: {why}")
        return
    try:
        if tsa_roots is None:
            # Without the TSA's root its signature cannot be trusted, but a token for another manifest shows.
            if imprint_of(token) != hashlib.sha256(body).digest():
                verdict.problems.append(f"{TIMESTAMP} time-stamps another manifest, not this one")
            verdict.notes.append(f"{TIMESTAMP}: the time-stamping authority's signature was not checked; pass "
                                 "--tsa-ca FILE with its root")
            return
        verdict.stamp = check(token, body, tsa_roots)
    except TimestampError as exc:
        verdict.problems.append(f"{TIMESTAMP}: {exc}")
