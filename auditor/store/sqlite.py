"""The audit history in one SQLite file: audits, providers, findings, evidence and scores.

An audit is written while it runs: `begin_audit` records it incomplete, `add_provider` commits each
provider in its own transaction and `finish_audit` marks it complete. A run killed at any point leaves
the providers already committed, readable and flagged incomplete; WAL journaling means the file is never
left corrupt. Evidence is content-addressed (SHA-256 of canonical JSON), so the same DNS answer or
certificate chain seen in a hundred audits is stored once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from auditor.errors import AuditorError, ConfigError
from auditor.files import create_private, disk_full, no_space_left
from auditor.findings import Audit, Finding, ProviderResult, Score
from auditor.store.evidence import canonical_json, evidence_hash
from auditor.store.schema import SCHEMA_VERSION, migrate, user_version

# Long enough for a cron scan and a hand-run `auditor history` to overlap without "database is locked":
# writers hold the lock only for one provider's transaction.
BUSY_TIMEOUT_S = 30.0

_FIX = "move it aside or pass --db FILE"


class AuditSummary(BaseModel):
    """One line of `auditor history`: what an audit is, without its findings."""

    model_config = ConfigDict(frozen=True)

    audit_id: str
    started_at: str
    finished_at: str | None
    complete: bool
    lab: bool
    providers: int
    profile: str
    tool_version: str


class ChainLink(NamedTuple):
    """One link of the signed history (docs/evidence.md): a sealed audit's manifest or a prune record."""

    seq: int
    kind: str  # audit | prune
    audit_id: str | None
    body: bytes  # the exact bytes signed
    hash: str  # SHA-256 of body
    signature: str  # base64 Ed25519
    public_key: str  # hex raw Ed25519
    timestamp: bytes | None  # RFC 3161 TimeStampResp over SHA-256(body)


class Signer(Protocol):
    public_hex: str

    def sign(self, body: bytes) -> str: ...


# The render callbacks of `seal_audit` and `prune` build a link's body from what is stored, under the write lock.
# A manifest is rendered from the audit's header and its providers streamed one at a time (bounded memory).
RenderManifest = Callable[[Audit, Iterator[ProviderResult], dict[str, tuple[bytes, str | None]], "str | None", str],
                          bytes]
RenderPrune = Callable[[list[dict[str, str | None]], "str | None", str], bytes]
_LINK_COLUMNS = "seq, kind, audit_id, body, hash, signature, public_key, timestamp"


class HistoryRow(NamedTuple):
    """A provider's score in one complete audit; value and grade are None when it was not scored."""

    audit_id: str
    started_at: str
    provider_id: str
    value: float | None
    grade: str | None


def _describe(path: Path, exc: sqlite3.Error) -> AuditorError:
    """The error to report for a failed SQLite operation: one line, with what to do about it."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "locked" in reason or "busy" in reason:
        return ConfigError(f"{path}: {reason} (another auditor process held it over {BUSY_TIMEOUT_S:.0f} s); "
                           "retry later")
    # SQLite says SQLITE_FULL when a write comes short, but only "disk I/O error" when growing its shared
    # memory file fails: the free space tells that apart from a damaged disk. Either way the file is kept.
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "I/O error" in reason and no_space_left(path)):
        return disk_full(path, reason)
    return ConfigError(f"{path}: not a usable auditor database ({reason}); {_FIX}")


P = ParamSpec("P")
R = TypeVar("R")


def _reported(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Turn SQLite errors (a damaged file, a lock held too long) into one-line ConfigErrors."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _describe(self.path, exc) from exc

    return wrapper


def _epoch(timestamp: str) -> float:
    """RFC 3339 to seconds since the epoch; a timestamp without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp: {timestamp!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _prune_plan(rows: list[tuple[str, float, int, int]], keep: int | None, cutoff: float | None) -> list[str]:
    """The ids `Store.prune` deletes, from (id, started_epoch, complete, lab) rows newest first."""
    if keep is None and cutoff is None:
        return []
    protected: set[str] = set()
    for lab in (0, 1):
        latest = next((r for r in rows if r[2] and r[3] == lab), None)
        if latest is not None:
            protected.add(latest[0])
    kept_by_count: set[str] = set()
    if keep is not None:
        complete_seen = 0
        for audit_id, _started, complete, _lab in rows:
            if complete:
                complete_seen += 1
                if complete_seen <= keep:
                    kept_by_count.add(audit_id)
            elif complete_seen == 0:
                kept_by_count.add(audit_id)  # newer than every complete audit: may still be running
    young = {r[0] for r in rows if cutoff is not None and r[1] >= cutoff}
    return [
        r[0]
        for r in rows
        if r[0] not in protected
        and (keep is None or r[0] not in kept_by_count)
        and (cutoff is None or r[0] not in young)
    ]


class Store:
    """The audit history. Use `Store.open(path)`, preferably as a context manager.

    One Store per thread: the underlying sqlite3 connection is not shared across threads.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, journal_mode: str) -> None:
        self._db = db
        self.path = path
        self.journal_mode = journal_mode  # "wal" except on file systems that cannot share memory maps

    # -- opening and closing ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating it and its directory if needed) and migrate the database at `path`.

        Anything that makes the file unusable (not a database, corrupt, unreadable, from a newer
        auditor) is a `ConfigError` whose one-line message names the file and the fix.
        """
        path = Path(path).expanduser()
        # Created here, 0600, because SQLite would make it 0644 (and its -wal and -shm take its mode).
        create_private(path)
        db: sqlite3.Connection | None = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly one
            # provider (or one migration), never whatever the sqlite3 module decides to group.
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            journal_mode = cls._configure(db)
            # One snapshot for both reads: another process creating the schema in between would
            # otherwise look like a foreign database (tables present, version 0).
            db.execute("BEGIN")
            version = user_version(db)
            has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
            db.execute("COMMIT")
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"{path}: written by a newer auditor (schema {version}, this one knows up to "
                    f"{SCHEMA_VERSION}); upgrade auditor or pass --db FILE"
                )
            if version == 0 and has_tables:
                raise ConfigError(f"{path}: an SQLite database, but not an auditor one; {_FIX}")
            migrate(db)
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise _describe(path, exc) from exc
        except BaseException:
            if db is not None:
                db.close()
            raise
        return cls(db, path, journal_mode)

    @staticmethod
    def _configure(db: sqlite3.Connection) -> str:
        # WAL: readers never block the writer and a killed writer cannot corrupt the file.
        # synchronous=NORMAL is durable against process crashes in WAL mode; only a power loss may undo
        # the last commits, and never corrupt.
        journal_mode = str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
        return journal_mode

    @_reported
    def connection_settings(self) -> dict[str, Any]:
        """The pragmas in force on this connection (for diagnostics: is the file really in WAL?)."""
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "user_version")
        return {name: self._db.execute(f"PRAGMA {name}").fetchone()[0] for name in names}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so waiting for another writer happens here under the
        # busy timeout rather than failing halfway through the transaction.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # a COMMIT refused (disk full) leaves it open; SQLite may have rolled back
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One snapshot for a multi-query read: without it, a scan committing a provider between two
        # SELECTs would show findings of a provider the first SELECT did not see.
        self._db.execute("BEGIN")
        try:
            yield self._db
        finally:
            self._db.execute("COMMIT")

    # -- writing an audit ---------------------------------------------------------------------------

    @_reported
    def begin_audit(self, audit: Audit) -> str:
        """Record `audit` as incomplete (whatever its `complete` says) and return its id.

        Providers already in `audit.providers` are added, each in its own transaction.
        """
        epoch = _epoch(audit.started_at)
        with self._write() as db:
            if db.execute("SELECT 1 FROM audits WHERE id = ?", (audit.audit_id,)).fetchone():
                raise ConfigError(f"{self.path}: audit {audit.audit_id} already exists")
            db.execute(
                "INSERT INTO audits (id, schema, started_at, started_epoch, finished_at, complete, profile,"
                " tool_version, vantage, lab, vantages) VALUES (?, ?, ?, ?, NULL, 0, ?, ?, ?, ?, ?)",
                (
                    audit.audit_id, audit.schema_, audit.started_at, epoch, audit.profile,
                    audit.tool_version, canonical_json(audit.vantage.model_dump(mode="json")),
                    int(audit.vantage.lab), canonical_json([v.model_dump(mode="json") for v in audit.vantages]),
                ),
            )
        for result in audit.providers:
            self.add_provider(audit.audit_id, result)
        return audit.audit_id

    @_reported
    def add_provider(self, audit_id: str, result: ProviderResult) -> None:
        """Commit one provider's findings (and score, if any) in one transaction.

        Adding a provider again replaces it in place (a retried provider); adding to a complete audit is
        refused, since a finished audit is a record a DPO may already have shown.
        """
        with self._write() as db:
            row = db.execute("SELECT complete FROM audits WHERE id = ?", (audit_id,)).fetchone()
            if row is None:
                raise ConfigError(f"{self.path}: no audit {audit_id}")
            if row[0]:
                raise ConfigError(f"{self.path}: audit {audit_id} is complete; start a new audit")
            old = db.execute(
                "SELECT position FROM providers WHERE audit_id = ? AND provider_id = ?", (audit_id, result.id)
            ).fetchone()
            if old is not None:
                position = old[0]
                db.execute("DELETE FROM providers WHERE audit_id = ? AND provider_id = ?", (audit_id, result.id))
            else:
                position = db.execute(
                    "SELECT coalesce(max(position) + 1, 0) FROM providers WHERE audit_id = ?", (audit_id,)
                ).fetchone()[0]
            db.execute(
                "INSERT INTO providers (audit_id, provider_id, position, name, kind) VALUES (?, ?, ?, ?, ?)",
                (audit_id, result.id, position, result.name, result.kind),
            )
            for index, finding in enumerate(result.checks):
                self._insert_finding(db, audit_id, result.id, index, finding)
            if result.score is not None:
                self._upsert_score(db, audit_id, result.id, result.score)

    @staticmethod
    def _insert_finding(
        db: sqlite3.Connection, audit_id: str, provider_id: str, position: int, finding: Finding
    ) -> None:
        data = finding.model_dump(mode="json")
        digest: str | None = None
        if data["evidence"]:
            body = canonical_json(data["evidence"])
            digest = evidence_hash(body)
            db.execute("INSERT OR IGNORE INTO evidence (hash, body) VALUES (?, ?)", (digest, body))
        db.execute(
            "INSERT INTO findings (audit_id, provider_id, position, check_id, subject, target, status, value,"
            " summary, evidence_hash, vantage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                audit_id, provider_id, position, data["id"], data["subject"], data["target"], data["status"],
                canonical_json(data["value"]), data["summary"], digest, finding.vantage,
            ),
        )

    @staticmethod
    def _upsert_score(db: sqlite3.Connection, audit_id: str, provider_id: str, score: Score) -> None:
        db.execute(
            "INSERT INTO scores (audit_id, provider_id, profile, value, grade, body) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (audit_id, provider_id, profile) DO UPDATE SET"
            " value = excluded.value, grade = excluded.grade, body = excluded.body",
            (
                audit_id, provider_id, score.profile, score.value, score.grade,
                canonical_json(score.model_dump(mode="json")),
            ),
        )

    @_reported
    def set_score(self, audit_id: str, provider_id: str, score: Score) -> None:
        """Record (or replace) a provider's score under `score.profile`; allowed on complete audits too,
        since re-scoring a stored audit under another profile changes no measurement."""
        with self._write() as db:
            known = db.execute(
                "SELECT 1 FROM providers WHERE audit_id = ? AND provider_id = ?", (audit_id, provider_id)
            ).fetchone()
            if known is None:
                raise ConfigError(f"{self.path}: no provider {provider_id} in audit {audit_id}")
            self._upsert_score(db, audit_id, provider_id, score)

    @_reported
    def finish_audit(self, audit_id: str, finished_at: str) -> None:
        """Mark the audit complete: from now on it is what `load_audit()` and `diff` compare against."""
        _epoch(finished_at)  # reject a malformed timestamp before it becomes part of the record
        with self._write() as db:
            cursor = db.execute(
                "UPDATE audits SET finished_at = ?, complete = 1 WHERE id = ?", (finished_at, audit_id)
            )
            if cursor.rowcount == 0:
                raise ConfigError(f"{self.path}: no audit {audit_id}")

    def save(self, audit: Audit) -> str:
        """Store a whole audit at once (an imported JSON document, a re-scored copy); finished if it is."""
        audit_id = self.begin_audit(audit)
        if audit.complete and audit.finished_at:
            self.finish_audit(audit_id, audit.finished_at)
        return audit_id

    # -- reading ------------------------------------------------------------------------------------

    @_reported
    def resolve_id(self, audit_id: str | None) -> str:
        """The full id for `audit_id` (an id or a unique prefix); None is the latest complete audit."""
        if audit_id is None:
            row = self._db.execute(
                "SELECT id FROM audits WHERE complete = 1 ORDER BY started_epoch DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise ConfigError(f"{self.path}: no complete audit yet; run `auditor scan` first")
            return str(row[0])
        if not audit_id:
            raise ConfigError("empty audit id; `auditor history` lists the audits")
        if self._db.execute("SELECT 1 FROM audits WHERE id = ?", (audit_id,)).fetchone():
            return audit_id
        # substr, not LIKE: ids may contain % or _, which LIKE would read as wildcards.
        matches = [
            str(r[0])
            for r in self._db.execute(
                "SELECT id FROM audits WHERE substr(id, 1, ?) = ? ORDER BY started_epoch DESC",
                (len(audit_id), audit_id),
            )
        ]
        if not matches:
            raise ConfigError(f"{self.path}: no audit {audit_id!r}; `auditor history` lists the audits")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise ConfigError(f"audit id {audit_id!r} is ambiguous ({shown}); give more characters")
        return matches[0]

    @_reported
    def load_audit(self, audit_id: str | None = None, *, profile: str | None = None) -> Audit:
        """The stored audit (None: the latest complete one; a unique id prefix is enough).

        Scores are those under `profile`, by default the audit's own profile; a provider not scored
        under it has `score=None`.
        """
        with self._read():
            return self._load(self.resolve_id(audit_id), profile)

    def _load(self, full_id: str, profile: str | None) -> Audit:
        header = self._header(full_id, profile)
        return header.model_copy(update={"providers": list(self._providers(full_id, header.profile))})

    def _header(self, full_id: str, profile: str | None) -> Audit:
        """The audit without its providers (`providers` is set, to [], as a loaded audit's is)."""
        row = self._db.execute(
            "SELECT schema, started_at, finished_at, complete, profile, tool_version, vantage, vantages"
            " FROM audits WHERE id = ?",
            (full_id,),
        ).fetchone()
        schema, started_at, finished_at, complete, audit_profile, tool_version, vantage, vantages = row
        return Audit.model_validate(
            {
                "schema": schema, "audit_id": full_id, "started_at": started_at, "finished_at": finished_at,
                "complete": bool(complete), "tool_version": tool_version, "profile": profile or audit_profile,
                "vantage": json.loads(vantage), "vantages": json.loads(vantages), "providers": [],
            }
        )

    def _providers(self, full_id: str, profile: str, order: list[str] | None = None,
                   evidence: Container[str] | None = None) -> Iterator[ProviderResult]:
        """The audit's providers one at a time (stored order, or `order`'s ids), each with its findings and its
        score under `profile`: what a campaign's end phase reads without holding the whole audit. `evidence`:
        the check ids whose evidence is read (None: all; the others' is `{}`, for a reader that needs no more)."""
        ids = order if order is not None else [str(r[0]) for r in self._db.execute(
            "SELECT provider_id FROM providers WHERE audit_id = ? ORDER BY position", (full_id,))]
        for pid in ids:
            row = self._db.execute("SELECT name, kind FROM providers WHERE audit_id = ? AND provider_id = ?",
                                   (full_id, pid)).fetchone()
            if row is None:
                raise ConfigError(f"{self.path}: no provider {pid} in audit {full_id}")
            score = self._db.execute("SELECT body FROM scores WHERE audit_id = ? AND provider_id = ? AND profile = ?",
                                     (full_id, pid, profile)).fetchone()
            checks = [
                {
                    "id": check_id, "subject": subject, "target": target, "status": status,
                    "value": json.loads(value), "summary": summary,
                    "evidence": json.loads(body) if body is not None and (evidence is None or check_id in evidence)
                    else {},
                    **({"vantage": measured_from} if measured_from is not None else {}),
                }
                for check_id, subject, target, status, value, summary, body, measured_from in self._db.execute(
                    "SELECT f.check_id, f.subject, f.target, f.status, f.value, f.summary, e.body, f.vantage"
                    " FROM findings AS f LEFT JOIN evidence AS e ON e.hash = f.evidence_hash"
                    " WHERE f.audit_id = ? AND f.provider_id = ? ORDER BY f.position",
                    (full_id, pid),
                )
            ]
            yield ProviderResult.model_validate(
                {"id": pid, "name": row[0], "kind": row[1], "score": json.loads(score[0]) if score else None,
                 "checks": checks})

    def iter_pairs(self, before_id: str, after_id: str
                   ) -> Iterator[tuple[ProviderResult | None, ProviderResult]]:
        """Each provider of `after_id` (stored order) with the same provider in `before_id` (None when absent),
        one pair at a time in one read snapshot: a diff of two campaigns without holding either."""
        before, after = self.resolve_id(before_id), self.resolve_id(after_id)
        with self._read():
            old_profile, new_profile = self._header(before, None).profile, self._header(after, None).profile
            known = self._provider_names(before)
            for new in self._providers(after, new_profile):
                old = next(self._providers(before, old_profile, [new.id])) if new.id in known else None
                yield old, new

    def _provider_names(self, full_id: str) -> dict[str, str]:
        return {str(pid): str(name) for pid, name in self._db.execute(
            "SELECT provider_id, name FROM providers WHERE audit_id = ? ORDER BY position", (full_id,))}

    @_reported
    def provider_names(self, audit_id: str) -> dict[str, str]:
        """id -> name of the audit's providers, in stored order."""
        return self._provider_names(self.resolve_id(audit_id))

    @_reported
    def audit_header(self, audit_id: str | None = None) -> Audit:
        """`load_audit` without the providers (see `iter_providers`)."""
        return self._header(self.resolve_id(audit_id), None)

    def iter_providers(self, audit_id: str, order: list[str] | None = None,
                       evidence: Container[str] | None = None) -> Iterator[ProviderResult]:
        """A stored audit's providers one at a time, in one read snapshot (stored order, or the ids of `order`;
        `evidence`: see `_providers`): memory follows one provider, not the audit. Consume it whole (the
        snapshot ends with it)."""
        full_id = self.resolve_id(audit_id)
        with self._read():
            header = self._header(full_id, None)
            yield from self._providers(full_id, header.profile, order, evidence)

    @_reported
    def latest_incomplete(self, provider_ids: set[str]) -> str | None:
        """The latest incomplete audit holding at least one provider, all of them in `provider_ids` (an
        interrupted run of the same domains or catalog, for `scan --resume`), or None."""
        rows = self._db.execute(
            "SELECT a.id, group_concat(p.provider_id, char(10)) FROM audits AS a"
            " JOIN providers AS p ON p.audit_id = a.id WHERE a.complete = 0"
            " GROUP BY a.id ORDER BY a.started_epoch DESC, a.rowid DESC"
        )
        for audit_id, ids in rows:
            if set(ids.split("\n")) <= provider_ids:
                return str(audit_id)
        return None

    @_reported
    def list_audits(self, limit: int = 50) -> list[AuditSummary]:
        """The most recent audits first, complete or not."""
        rows = self._db.execute(
            "SELECT a.id, a.started_at, a.finished_at, a.complete, a.lab, a.profile, a.tool_version,"
            " (SELECT count(*) FROM providers AS p WHERE p.audit_id = a.id)"
            " FROM audits AS a ORDER BY a.started_epoch DESC, a.rowid DESC LIMIT ?",
            (limit,),
        )
        return [
            AuditSummary(
                audit_id=r[0], started_at=r[1], finished_at=r[2], complete=bool(r[3]), lab=bool(r[4]),
                profile=r[5], tool_version=r[6], providers=r[7],
            )
            for r in rows
        ]

    @_reported
    def previous_complete(self, audit_id: str) -> str | None:
        """The latest complete audit started before `audit_id`, or None.

        Only audits with the same lab flag count: comparing a simulation with the real Internet would
        report every difference between the two worlds as a change.
        """
        with self._read():
            full_id = self.resolve_id(audit_id)
            epoch, rowid, lab = self._db.execute(
                "SELECT started_epoch, rowid, lab FROM audits WHERE id = ?", (full_id,)
            ).fetchone()
            row = self._db.execute(
                "SELECT id FROM audits WHERE complete = 1 AND lab = ? AND id != ?"
                " AND (started_epoch < ? OR (started_epoch = ? AND rowid < ?))"
                " ORDER BY started_epoch DESC, rowid DESC LIMIT 1",
                (lab, full_id, epoch, epoch, rowid),
            ).fetchone()
        return str(row[0]) if row else None

    @_reported
    def history(self, provider_id: str | None = None) -> list[HistoryRow]:
        """Scores over time, oldest first, from complete audits, under each audit's own profile.

        Incomplete audits are left out: a run killed halfway is not a measurement to plot.
        """
        query = (
            "SELECT a.id, a.started_at, p.provider_id, s.value, s.grade"
            " FROM audits AS a JOIN providers AS p ON p.audit_id = a.id"
            " LEFT JOIN scores AS s"
            "   ON s.audit_id = a.id AND s.provider_id = p.provider_id AND s.profile = a.profile"
            " WHERE a.complete = 1"
        )
        params: tuple[str, ...] = ()
        if provider_id is not None:
            query += " AND p.provider_id = ?"
            params = (provider_id,)
        query += " ORDER BY a.started_epoch, a.rowid, p.position"
        return [HistoryRow(*r) for r in self._db.execute(query, params)]

    # -- maintenance --------------------------------------------------------------------------------

    @_reported
    def prune(
        self, keep: int | None = None, older_than: timedelta | None = None, *, now: datetime | None = None,
        record: tuple[RenderPrune, Signer] | None = None,
    ) -> list[str]:
        """Delete old audits and the evidence only they used; return the deleted ids.

        An audit survives if any given rule keeps it:
        - `keep=N` keeps the N most recent complete audits, and incomplete audits newer than the latest
          complete one (a scan may still be writing them); older incomplete audits are leftovers of
          killed runs and go.
        - `older_than=D` keeps audits started less than D ago.
        The latest complete audit (and the latest complete lab audit) is never deleted: it is what the
        next `diff` compares against. With neither rule, no audit is deleted (orphaned evidence still is).
        `record`: how to sign a prune link for what was deleted, so that `history --verify` does not take the
        pruning for tampering (in the same transaction as the deletion).
        """
        if keep is not None and keep < 0:
            raise ConfigError(f"--keep must be 0 or more, got {keep}")
        cutoff = ((now or datetime.now(UTC)) - older_than).timestamp() if older_than is not None else None
        # Decide and delete under one write lock: a scan finishing in between cannot change the plan.
        with self._write() as db:
            rows = db.execute(
                "SELECT id, started_epoch, complete, lab FROM audits ORDER BY started_epoch DESC, rowid DESC"
            ).fetchall()
            doomed = _prune_plan(rows, keep, cutoff)
            if doomed and record is not None:
                render, signer = record
                sealed = dict(db.execute("SELECT audit_id, hash FROM chain WHERE kind = 'audit'").fetchall())
                deleted: list[dict[str, str | None]] = [{"audit_id": i, "manifest": sealed.get(i)} for i in doomed]
                self._append_link(db, "prune", None, lambda prev: render(deleted, prev, signer.public_hex), signer)
            db.executemany("DELETE FROM audits WHERE id = ?", [(i,) for i in doomed])
            db.execute(
                "DELETE FROM evidence WHERE hash NOT IN"
                " (SELECT evidence_hash FROM findings WHERE evidence_hash IS NOT NULL)"
            )
            kept = self._page_hashes(db)
            stale = [h for (h,) in db.execute("SELECT sha256 FROM pages") if h not in kept]
            db.executemany("DELETE FROM pages WHERE sha256 = ?", [(h,) for h in stale])
        return doomed

    @staticmethod
    def _page_hashes(db: sqlite3.Connection, audit_id: str | None = None) -> set[str]:
        """The claim pages findings name (`claim.*` `value.sha256`), of one audit or of all."""
        # In Python: the JSON1 functions are not guaranteed in every SQLite build.
        found: set[str] = set()
        query = "SELECT value FROM findings WHERE substr(check_id, 1, 6) = 'claim.'"
        for (value,) in db.execute(query + (" AND audit_id = ?" if audit_id else ""), (audit_id,) if audit_id else ()):
            sha = json.loads(value).get("sha256") if value.startswith("{") else None
            if isinstance(sha, str):
                found.add(sha)
        return found

    @_reported
    def page_hashes(self, audit_id: str) -> set[str]:
        """The claim pages the findings of one audit name."""
        return self._page_hashes(self._db, self.resolve_id(audit_id))

    def integrity_check(self) -> str:
        """"ok", or the problems SQLite reports (page-level integrity, then broken foreign keys)."""
        try:
            problems = [str(r[0]) for r in self._db.execute("PRAGMA integrity_check")]
            if problems == ["ok"]:
                problems = []
            problems += [
                f"{table} row {rowid} references a missing {parent}"
                for table, rowid, parent, _fk in self._db.execute("PRAGMA foreign_key_check")
            ]
        except sqlite3.DatabaseError as exc:  # damaged beyond what the check itself can walk
            problems = [str(exc)]
        return "; ".join(problems) if problems else "ok"

    @_reported
    def evidence(self, digest: str) -> Any:
        """The stored evidence with this SHA-256, or None (lets a report cite and re-check evidence)."""
        row = self._db.execute("SELECT body FROM evidence WHERE hash = ?", (digest,)).fetchone()
        return json.loads(row[0]) if row else None

    # --- the RDAP cache (auditor.net.rdap.RdapCache) ---------------------------------------------------------
    @_reported
    def rdap_get(self, ip: str, max_age: float) -> dict[str, Any] | None:
        """The stored answer for `ip` if it is younger than `max_age` seconds, else None."""
        cutoff = datetime.now(UTC).timestamp() - max_age
        row = self._db.execute("SELECT body FROM rdap_cache WHERE ip = ? AND fetched_epoch >= ?",
                               (ip, cutoff)).fetchone()
        if row is None:
            return None
        try:
            body = json.loads(row[0])
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def rdap_put(self, ip: str, body: dict[str, Any]) -> None:
        """Best effort: a cache that cannot be written (a full disk, a long lock) costs one look-up next run,
        and the audit's own writes report the cause."""
        with contextlib.suppress(sqlite3.Error), self._write() as db:
            db.execute("INSERT OR REPLACE INTO rdap_cache (ip, fetched_epoch, body) VALUES (?, ?, ?)",
                       (ip, datetime.now(UTC).timestamp(), canonical_json(body)))

    # --- claim pages as fetched (auditor.probes.claims keeps them through ScanContext.pages) -------------------
    def put_page(self, body: bytes, content_type: str | None) -> None:
        """Keep a fetched claim page under its SHA-256 (the finding's `value.sha256`). Best effort, like the
        RDAP cache: a page that cannot be written is listed as missing in the audit's manifest."""
        digest = hashlib.sha256(body).hexdigest()
        with contextlib.suppress(sqlite3.Error), self._write() as db:
            db.execute("INSERT OR IGNORE INTO pages (sha256, body, content_type, first_seen) VALUES (?, ?, ?, ?)",
                       (digest, body, (content_type or "")[:200] or None, datetime.now(UTC).isoformat()))

    def _pages(self, db: sqlite3.Connection, hashes: set[str]) -> dict[str, tuple[bytes, str | None]]:
        found: dict[str, tuple[bytes, str | None]] = {}
        for digest in sorted(hashes):
            row = db.execute("SELECT body, content_type FROM pages WHERE sha256 = ?", (digest,)).fetchone()
            if row is not None:
                found[digest] = (bytes(row[0]), row[1])
        return found

    @_reported
    def pages(self, hashes: set[str]) -> dict[str, tuple[bytes, str | None]]:
        """The stored pages among `hashes`: sha256 → (body, content type)."""
        with self._read() as db:
            return self._pages(db, hashes)

    # --- the signed chain (auditor.evidence.seal) ---------------------------------------------------------------
    def _append_link(self, db: sqlite3.Connection, kind: str, audit_id: str | None,
                     body_for: Callable[[str | None], bytes], signer: Signer) -> ChainLink:
        """Append a link after the current last one; the caller holds the write lock."""
        row = db.execute("SELECT hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
        body = body_for(row[0] if row else None)
        digest, signature = hashlib.sha256(body).hexdigest(), signer.sign(body)
        cursor = db.execute(
            "INSERT INTO chain (kind, audit_id, body, hash, signature, public_key) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, audit_id, body, digest, signature, signer.public_hex))
        return ChainLink(int(cursor.lastrowid or 0), kind, audit_id, body, digest, signature, signer.public_hex, None)

    @_reported
    def seal_audit(self, audit_id: str, render: RenderManifest, signer: Signer) -> ChainLink:
        """Append the manifest of a complete audit to the chain (once: a sealed audit returns its link).

        The audit is read back under the write lock, so the manifest describes exactly what is stored, and the
        previous link cannot change in between."""
        with self._write() as db:
            full_id = self.resolve_id(audit_id)
            existing = self._link(db, full_id)
            if existing is not None:
                return existing
            complete = db.execute("SELECT complete FROM audits WHERE id = ?", (full_id,)).fetchone()[0]
            if not complete:
                raise ConfigError(f"{self.path}: audit {full_id} is incomplete (its scan was interrupted): "
                                  "there is nothing final to seal")
            header = self._header(full_id, None)
            stored = self._pages(db, self._page_hashes(db, full_id))
            return self._append_link(db, "audit", full_id,
                                     lambda prev: render(header, self._providers(full_id, header.profile), stored,
                                                         prev, signer.public_hex), signer)

    @staticmethod
    def _link(db: sqlite3.Connection, audit_id: str) -> ChainLink | None:
        row = db.execute(f"SELECT {_LINK_COLUMNS} FROM chain WHERE kind = 'audit' AND audit_id = ?",
                         (audit_id,)).fetchone()
        return _as_link(row) if row else None

    @_reported
    def chain_link(self, audit_id: str) -> ChainLink | None:
        """The link sealing `audit_id` (a full id), or None when it was never sealed."""
        return self._link(self._db, audit_id)

    @_reported
    def chain(self) -> tuple[list[ChainLink], int]:
        """Every link in order, and the highest sequence number ever given (more than the last link's when
        links were removed from the end)."""
        with self._read() as db:
            links = [_as_link(r) for r in db.execute(f"SELECT {_LINK_COLUMNS} FROM chain ORDER BY seq")]
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chain'").fetchone()
        return links, int(row[0]) if row else 0

    @_reported
    def set_timestamp(self, link_hash: str, token: bytes) -> None:
        with self._write() as db:
            db.execute("UPDATE chain SET timestamp = ? WHERE hash = ?", (token, link_hash))

    @_reported
    def audit_states(self) -> dict[str, tuple[bool, float]]:
        """Every stored audit: id → (complete, started_epoch)."""
        return {r[0]: (bool(r[1]), float(r[2]))
                for r in self._db.execute("SELECT id, complete, started_epoch FROM audits")}


def _as_link(row: tuple[Any, ...]) -> ChainLink:
    seq, kind, audit_id, body, digest, signature, public_key, timestamp = row
    return ChainLink(int(seq), str(kind), audit_id, bytes(body), str(digest), str(signature), str(public_key),
                     bytes(timestamp) if timestamp is not None else None)
