"""The SQLite schema and its migrations, versioned with `PRAGMA user_version`.

Each migration moves the database from version N to N+1 and runs in the same transaction as the
`user_version` bump, so a run killed mid-migration leaves the old version intact, never half of the new
one. Migrations are append-only: once released, a step is never edited (older databases in the field
depend on replaying exactly that step), a new one is added instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def _v1_initial(db: sqlite3.Connection) -> None:
    """Audits, their providers, findings, content-addressed evidence and scores."""
    # Statement by statement: executescript() would COMMIT the migration's transaction first.
    script = """
        CREATE TABLE audits (
            id            TEXT PRIMARY KEY,
            schema        TEXT NOT NULL,
            started_at    TEXT NOT NULL,
            -- started_at as seconds since the epoch: RFC 3339 strings with different offsets do not
            -- sort as text, and "latest" and "older than" must compare instants.
            started_epoch REAL NOT NULL,
            finished_at   TEXT,
            complete      INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
            profile       TEXT NOT NULL,
            tool_version  TEXT NOT NULL,
            vantage       TEXT NOT NULL
        );
        CREATE TABLE providers (
            audit_id    TEXT NOT NULL REFERENCES audits(id) ON DELETE CASCADE,
            provider_id TEXT NOT NULL,
            position    INTEGER NOT NULL,
            name        TEXT NOT NULL,
            kind        TEXT NOT NULL,
            PRIMARY KEY (audit_id, provider_id)
        );
        CREATE TABLE evidence (
            hash TEXT PRIMARY KEY,   -- SHA-256 of body, which is canonical JSON
            body TEXT NOT NULL
        );
        CREATE TABLE findings (
            audit_id      TEXT NOT NULL,
            provider_id   TEXT NOT NULL,
            position      INTEGER NOT NULL,
            check_id      TEXT NOT NULL,
            subject       TEXT NOT NULL,
            target        TEXT,
            status        TEXT NOT NULL,
            value         TEXT NOT NULL,  -- JSON
            summary       TEXT NOT NULL,
            evidence_hash TEXT REFERENCES evidence(hash),  -- NULL: no evidence
            PRIMARY KEY (audit_id, provider_id, position),
            FOREIGN KEY (audit_id, provider_id)
                REFERENCES providers(audit_id, provider_id) ON DELETE CASCADE
        );
        CREATE TABLE scores (
            audit_id    TEXT NOT NULL,
            provider_id TEXT NOT NULL,
            profile     TEXT NOT NULL,
            value       REAL NOT NULL,
            grade       TEXT NOT NULL,
            body        TEXT NOT NULL,  -- the whole Score as JSON
            PRIMARY KEY (audit_id, provider_id, profile),
            FOREIGN KEY (audit_id, provider_id)
                REFERENCES providers(audit_id, provider_id) ON DELETE CASCADE
        );
        """
    for statement in filter(str.strip, script.split(";")):
        db.execute(statement)


def _v2_lab_flag_and_indexes(db: sqlite3.Connection) -> None:
    """A queryable lab flag (so history can leave simulations out) and indexes for the common queries."""
    db.execute("ALTER TABLE audits ADD COLUMN lab INTEGER NOT NULL DEFAULT 0 CHECK (lab IN (0, 1))")
    # Backfill from the vantage JSON in Python: the JSON1 functions are not guaranteed in every build.
    rows = db.execute("SELECT id, vantage FROM audits").fetchall()
    for audit_id, vantage in rows:
        lab = bool(json.loads(vantage).get("lab", False))
        db.execute("UPDATE audits SET lab = ? WHERE id = ?", (int(lab), audit_id))
    db.execute("CREATE INDEX audits_by_start ON audits(complete, started_epoch)")
    db.execute("CREATE INDEX findings_by_evidence ON findings(evidence_hash)")
    db.execute("CREATE INDEX scores_by_provider ON scores(provider_id)")


def _v3_rdap_cache(db: sqlite3.Connection) -> None:
    """RDAP/ASN answers per IP address, reused across runs until they are older than the caller's TTL.

    A cache, not history: rows are replaced, and losing the table loses nothing but look-up time.
    """
    db.execute("""
        CREATE TABLE rdap_cache (
            ip            TEXT PRIMARY KEY,
            fetched_epoch REAL NOT NULL,
            body          TEXT NOT NULL  -- JSON of auditor.net.rdap.NetworkOwner.to_cache()
        )""")


def _v4_pages_and_chain(db: sqlite3.Connection) -> None:
    """Claim pages as fetched (content-addressed), and the signed chain of audit manifests and prunes.

    `pages`: a claim finding's `value.sha256` names its page here, so an evidence bundle can carry the page the
    verdict was drawn from. `chain`: one signed link per sealed audit (its manifest) and per prune (what it
    deleted), each holding the previous link's hash (docs/evidence.md). No foreign key to `audits`: a link
    outlives the audit it describes, which is how a removed audit is detected.
    """
    db.execute("""
        CREATE TABLE pages (
            sha256       TEXT PRIMARY KEY,  -- of body
            body         BLOB NOT NULL,     -- as fetched (decoded Content-Encoding), at most the fetch cap
            content_type TEXT,
            first_seen   TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE chain (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a removed last link leaves a gap
            kind       TEXT NOT NULL CHECK (kind IN ('audit', 'prune')),
            audit_id   TEXT,           -- kind 'audit': the audit sealed
            body       BLOB NOT NULL,  -- the exact bytes signed: a manifest or a prune record (JSON)
            hash       TEXT NOT NULL UNIQUE,  -- SHA-256 of body
            signature  TEXT NOT NULL,  -- Ed25519 over body, base64
            public_key TEXT NOT NULL,  -- the signer's raw Ed25519 public key, hex
            timestamp  BLOB            -- RFC 3161 TimeStampResp over SHA-256(body), when a TSA is configured
        )""")
    db.execute("CREATE UNIQUE INDEX chain_by_audit ON chain(audit_id) WHERE kind = 'audit'")


def _v5_vantages(db: sqlite3.Connection) -> None:
    """Audits measured from several named vantage points: each finding says which one measured it (NULL: the
    audit's only vantage point, or a catalog finding), and the audit keeps every vantage's characterisation."""
    db.execute("ALTER TABLE findings ADD COLUMN vantage TEXT")
    db.execute("ALTER TABLE audits ADD COLUMN vantages TEXT NOT NULL DEFAULT '[]'")  # JSON: a list of Vantage


# MIGRATIONS[i] takes a database from user_version i to i + 1.
MIGRATIONS: list[Migration] = [_v1_initial, _v2_lab_flag_and_indexes, _v3_rdap_cache, _v4_pages_and_chain,
                                _v5_vantages]
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to `target`, one transaction each; return the version reached.

    `db` must be in autocommit mode (isolation_level=None) so that the explicit BEGIN here is the only
    transaction. `target` below SCHEMA_VERSION exists for the tests, which build older databases.
    """
    version = user_version(db)
    while version < target:
        db.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated while we waited.
            version = user_version(db)
            if version >= target:
                db.execute("COMMIT")
                break
            MIGRATIONS[version](db)
            version += 1
            db.execute(f"PRAGMA user_version = {version:d}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return version
