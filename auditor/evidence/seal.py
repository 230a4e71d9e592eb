"""Sealing audits into the history chain, and checking the chain (`auditor history --verify`).

When a scan completes, its audit is read back from the store, laid out as the bundle's items, and its
manifest (with the previous link's hash) is signed and appended to the `chain` table; with a time-stamping
authority configured, the manifest is time-stamped too. A prune appends a signed record of what it deleted.
`verify_history` then tells an audit altered in the database (its items no longer match its manifest), one
removed (a link without its audit and no prune saying so, or a link missing from the chain), and links
reordered or forged (hashes, signatures, `previous`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from auditor.console import warn
from auditor.evidence.items import Page
from auditor.evidence.keys import Signer, fingerprint, verify
from auditor.evidence.manifest import (
    Manifest,
    ManifestError,
    ManifestItem,
    PruneRecord,
    compare_items,
    parse_link,
    render_manifest,
    render_prune,
    sha256_hex,
    stream_items,
)
from auditor.evidence.timestamp import TimestampError, stamp
from auditor.findings import Audit, ProviderResult
from auditor.settings import Settings
from auditor.store import ChainLink, Store
from auditor.store.sqlite import RenderPrune

MAX_LISTED = 20  # problems listed one by one; beyond, a count


def _render(header: Audit, providers: Iterator[ProviderResult], pages: Mapping[str, tuple[bytes, str | None]],
            previous: str | None, public_key: str) -> bytes:
    return render_manifest(header, providers, {h: Page(b, t) for h, (b, t) in pages.items()}, previous, public_key)


def seal(store: Store, audit_id: str, settings: Settings) -> ChainLink:
    """Seal a complete audit (idempotent), time-stamping its manifest when `tsa_url` is set. A time-stamp that
    cannot be had is one line on stderr: the seal stands without it, and export tries again."""
    link = store.seal_audit(audit_id, _render, Signer.for_settings(settings))
    return add_timestamp(store, link, settings)


def seal_line(store: Store, audit_id: str) -> str | None:
    """The audit's seal as a report cover shows it: its manifest SHA-256 and the signing key's fingerprint
    (None: never sealed, e.g. stored before sealing existed, or incomplete)."""
    link = store.chain_link(audit_id)
    return f"{link.hash} — {fingerprint(link.public_key)}" if link else None


def add_timestamp(store: Store, link: ChainLink, settings: Settings) -> ChainLink:
    if settings.tsa_url is None or link.timestamp is not None:
        return link
    try:
        token, _ = stamp(link.body, settings)
    except TimestampError as exc:
        warn(f"audit {link.audit_id} sealed without a time-stamp: {exc}")
        return link
    store.set_timestamp(link.hash, token)
    return link._replace(timestamp=token)


def record_prune(settings: Settings) -> tuple[RenderPrune, Signer]:
    """What `Store.prune(record=…)` needs to sign a prune link."""
    return render_prune, Signer.for_settings(settings)


def current_items(store: Store, audit_id: str) -> list[ManifestItem]:
    """The bundle's items as the store holds the audit now (read one provider at a time)."""
    stored = store.pages(store.page_hashes(audit_id))
    rest: list[ManifestItem] = []
    lead, _ = stream_items(store.audit_header(audit_id), store.iter_providers(audit_id),
                           {h: Page(b, t) for h, (b, t) in stored.items()}, rest.append)
    return [*lead, *rest]


@dataclass
class HistoryCheck:
    links: int = 0
    sealed: int = 0  # audits whose link and data agree
    pruned: int = 0  # sealed audits deleted by a recorded prune
    unsealed_old: int = 0  # complete audits stored before the first seal: not covered
    incomplete: int = 0  # interrupted scans: never sealed
    keys: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _link_problems(link: ChainLink, previous: str | None, pinned: str | None) -> list[str]:
    name = f"link {link.seq}" + (f" (audit {link.audit_id})" if link.audit_id else " (prune)")
    problems = []
    if sha256_hex(link.body) != link.hash:
        problems.append(f"{name}: its content no longer matches its hash")
    if not verify(link.public_key, link.body, link.signature):
        problems.append(f"{name}: the signature does not verify (the record was changed after signing)")
    elif pinned is not None and link.public_key != pinned:
        problems.append(f"{name}: signed by key {fingerprint(link.public_key)}, not by the key given")
    try:
        body = parse_link(link.body)
    except ManifestError as exc:
        return [*problems, f"{name}: not a readable record ({exc})"]
    if body.previous != previous:
        problems.append(f"{name}: the previous link is not the one recorded: a link before it was removed, "
                        "inserted or reordered")
    if body.public_key != link.public_key:
        problems.append(f"{name}: the record names another signer than the one stored")
    if isinstance(body, Manifest) and body.audit_id != link.audit_id:
        problems.append(f"{name}: the manifest is about audit {body.audit_id}")
    return problems


def verify_history(store: Store, pinned: str | None = None) -> HistoryCheck:
    """Check every link of the chain and every audit against its seal."""
    links, highest = store.chain()
    states = store.audit_states()
    result = HistoryCheck(links=len(links))
    pruned_ids = _pruned(links)
    chain_start = _chain_start(links)
    previous: str | None = None
    expected_seq = 1
    for link in links:
        if link.seq != expected_seq:
            result.problems.append(f"links {expected_seq}–{link.seq - 1} of the chain are missing")
        expected_seq = link.seq + 1
        result.keys.add(link.public_key)
        result.problems += _link_problems(link, previous, pinned)
        previous = link.hash
        if link.kind != "audit" or link.audit_id is None:
            continue
        if link.audit_id not in states:
            if link.audit_id in pruned_ids:
                result.pruned += 1
            else:
                result.problems.append(f"audit {link.audit_id} was removed from the database (no prune recorded it)")
            continue
        try:
            manifest = parse_link(link.body)
        except ManifestError:
            continue  # already reported
        if isinstance(manifest, Manifest):
            changes = compare_items(manifest.items, current_items(store, link.audit_id))
            if changes:
                shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
                result.problems.append(f"audit {link.audit_id} was altered in the database since it was sealed: "
                                       f"{shown}")
            else:
                result.sealed += 1
    if highest > expected_seq - 1:
        result.problems.append(f"the last {highest - expected_seq + 1} link(s) of the chain were removed")
    sealed_ids = {link.audit_id for link in links if link.kind == "audit"}
    for audit_id, (complete, started) in sorted(states.items()):
        if audit_id in sealed_ids:
            continue
        if not complete:
            result.incomplete += 1
        elif chain_start is None or started < chain_start:
            result.unsealed_old += 1
        else:
            result.problems.append(f"audit {audit_id} is complete but was never sealed: not written by an auditor "
                                   f"scan (or its sealing failed); `auditor evidence export --audit {audit_id}` "
                                   "seals it now")
    return result


def _pruned(links: list[ChainLink]) -> set[str]:
    """The audits prune records say were deleted on purpose."""
    found: set[str] = set()
    for link in links:
        if link.kind != "prune":
            continue
        try:
            body = parse_link(link.body)
        except ManifestError:
            continue  # reported with the link
        if isinstance(body, PruneRecord):
            found |= {str(d.get("audit_id")) for d in body.deleted}
    return found


def _chain_start(links: list[ChainLink]) -> float | None:
    """When the chain began (the first link's time): complete audits started before were never sealed."""
    for link in links:
        try:
            body = parse_link(link.body)
        except ManifestError:
            continue
        moment = body.sealed_at if isinstance(body, Manifest) else body.pruned_at
        try:
            return dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return None
