"""The audit store: round trips, evidence dedup, migrations, crash safety, pruning, bad files."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.findings import Audit, Finding, ProviderResult, Score, Status, Vantage
from auditor.store import SCHEMA_VERSION, Store
from auditor.store.schema import migrate

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def _at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def _provider(pid: str, *, grade: str = "A", country: str = "DE", page: str = "aa" * 32) -> ProviderResult:
    domain = f"{pid}.example"
    return ProviderResult(
        id=pid, name=pid.title(), kind="mail",
        score=Score(profile="rgpd", value=88.5, grade=grade, blockers=[], criteria=[]),
        checks=[
            Finding(id="dns.mx", subject=domain, status=Status.PASS, value=[f"mx1.{domain}", f"mx2.{domain}"],
                    summary="2 MX", evidence={"answer": [f"10 mx1.{domain}.", f"20 mx2.{domain}."], "ttl": 300}),
            Finding(id="smtp.starttls", subject=domain, target=f"mx1.{domain}", status=Status.PASS, value=True,
                    summary="STARTTLS ok", evidence={"banner": "220 ready", "tls": "TLSv1.3"}),
            Finding(id="mta_sts", subject=domain, status=Status.PASS,
                    value={"published": True, "mode": "enforce", "valid": True, "mx_covered": True,
                           "max_age": 604800, "errors": []},
                    summary="enforce"),
            Finding(id="hosting.summary", subject=pid, status=Status.PASS,
                    value={"countries": [country], "outside_eu_eea": [], "outside_adequacy": []},
                    summary=f"hosted in {country}", evidence={}),
            Finding(id="claim.e2ee", subject=pid, status=Status.ERROR, value=None,
                    summary="timeout fetching the evidence page", evidence={"sha256": page, "url": None}),
        ],
    )


def _audit(audit_id: str, days_ago: float, providers: list[ProviderResult], *, complete: bool = True,
           lab: bool = False) -> Audit:
    return Audit(
        audit_id=audit_id, started_at=_at(days_ago), finished_at=_at(days_ago - 0.01) if complete else None,
        complete=complete, tool_version="0.1.0", profile="rgpd",
        vantage=Vantage(resolver="192.0.2.53:53", host="dpo-laptop", lab=lab), providers=providers,
    )


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "nested" / "audits.sqlite"  # the parent directories do not exist yet


def test_round_trip(db_path: Path) -> None:
    audit = _audit("20261129T060000-abc", 1, [_provider("posteo"), _provider("tuta", grade="B")])
    with Store.open(db_path) as store:
        store.save(audit)
        assert store.load_audit(audit.audit_id) == audit
        assert store.load_audit() == audit  # the latest complete one
        assert store.load_audit("20261129T06") == audit  # a unique prefix
        assert json.loads(store.load_audit().to_json()) == json.loads(audit.to_json())
    with Store.open(db_path) as store:  # and across connections
        assert store.load_audit(audit.audit_id) == audit


def test_vantages_round_trip(db_path: Path) -> None:
    """An audit from two named vantage points: each finding keeps the one that measured it, and the JSON
    document of a one-vantage audit carries no `vantage` key on its findings."""
    audit = _audit("20261129T070000-def", 1, [_provider("posteo")])
    measured = [f.model_copy(update={"vantage": name}) for f in audit.providers[0].checks for name in ("eu", "us")]
    two = audit.model_copy(update={
        "vantages": [audit.vantage.model_copy(update={"name": n}) for n in ("eu", "us")],
        "providers": [audit.providers[0].model_copy(update={"checks": measured})]})
    with Store.open(db_path) as store:
        store.save(two)
        back = store.load_audit(two.audit_id)
    assert back == two
    assert [v.name for v in back.vantages] == ["eu", "us"]
    assert {f.vantage for f in back.providers[0].checks} == {"eu", "us"}
    assert all("vantage" not in f for p in json.loads(audit.to_json())["providers"] for f in p["checks"])


def test_identical_evidence_is_stored_once(db_path: Path) -> None:
    a1 = _audit("a1", 2, [_provider("posteo")])
    a2 = _audit("a2", 1, [_provider("posteo")])
    with Store.open(db_path) as store:
        store.save(a1)
        store.save(a2)
        # Same facts with the keys in another order: the same canonical JSON, the same hash.
        shuffled = Finding(id="dns.mx", subject="x.example", status=Status.PASS, value=[], summary="s",
                           evidence={"ttl": 300, "answer": ["10 mx1.posteo.example.", "20 mx2.posteo.example."]})
        store.begin_audit(_audit("a3", 0.5, [ProviderResult(id="x", name="X", kind="mail", checks=[shuffled])],
                                 complete=False))
    # dns.mx, smtp.starttls and claim.e2ee carry evidence; hosting.summary's is empty, mta_sts has none.
    assert _count(db_path, "evidence") == 3
    assert _count(db_path, "findings") == 11


def test_wal_and_connection_settings(db_path: Path) -> None:
    with Store.open(db_path) as store:
        settings = store.connection_settings()
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == 1  # NORMAL
    assert settings["foreign_keys"] == 1
    assert settings["busy_timeout"] >= 1000
    assert settings["user_version"] == SCHEMA_VERSION
    with sqlite3.connect(db_path) as db:  # WAL is a property of the file, seen by any other connection
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_version_1_database_migrates_it(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(db, target=1) == 1
    vantage = json.dumps({"resolver": "127.0.0.1:5353", "host": "lab", "lab": True})
    db.execute(
        "INSERT INTO audits (id, schema, started_at, started_epoch, finished_at, complete, profile, tool_version,"
        " vantage) VALUES ('old', 'auditor.audit/1', '2026-01-01T00:00:00Z', 1767225600, '2026-01-01T00:10:00Z',"
        " 1, 'rgpd', '0.0.9', ?)",
        (vantage,),
    )
    db.execute("INSERT INTO providers VALUES ('old', 'olvid', 0, 'Olvid', 'chat')")
    db.execute(
        "INSERT INTO findings VALUES ('old', 'olvid', 0, 'https.hsts', 'olvid.io', 'olvid.io:443', 'pass',"
        " '{\"max_age\":31536000,\"include_subdomains\":true,\"preload\":false}', 'HSTS', NULL)"
    )
    db.close()

    with Store.open(db_path) as store:
        assert store.connection_settings()["user_version"] == SCHEMA_VERSION
        [summary] = store.list_audits()
        assert summary.lab is True  # backfilled from the vantage JSON by migration 2
        audit = store.load_audit("old")
        assert audit.vantage.lab is True
        assert audit.providers[0].checks[0].value["max_age"] == 31536000
        # and the migrated database takes new audits
        store.save(_audit("new", 0, [_provider("posteo")]))
        assert store.integrity_check() == "ok"


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store.open(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer auditor"):
        Store.open(db_path)


def test_incomplete_audit_is_visible_as_incomplete(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.save(_audit("done", 2, [_provider("posteo")]))
        store.begin_audit(_audit("running", 1, [], complete=False))
        store.add_provider("running", _provider("posteo"))
        by_id = {s.audit_id: s for s in store.list_audits()}
        assert by_id["running"].complete is False and by_id["running"].providers == 1
        assert by_id["done"].complete is True
        running = store.load_audit("running")
        assert running.complete is False and running.finished_at is None
        assert [p.id for p in running.providers] == ["posteo"]
        assert store.load_audit().audit_id == "done"  # "latest" means latest complete
        assert [r.audit_id for r in store.history("posteo")] == ["done"]
        store.finish_audit("running", _at(0.9))
        assert store.load_audit().audit_id == "running"
        assert store.previous_complete("running") == "done"
        assert store.previous_complete("done") is None


def test_no_complete_audit_yet(db_path: Path) -> None:
    with Store.open(db_path) as store, pytest.raises(ConfigError, match="auditor scan"):
        store.load_audit()


def test_adding_a_provider_again_replaces_it_and_complete_audits_are_closed(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.begin_audit(_audit("a", 1, [_provider("posteo"), _provider("tuta")], complete=False))
        store.add_provider("a", _provider("posteo", grade="C"))
        audit = store.load_audit("a")
        assert [p.id for p in audit.providers] == ["posteo", "tuta"]  # kept its place
        assert audit.providers[0].score is not None and audit.providers[0].score.grade == "C"
        store.finish_audit("a", _at(0.5))
        with pytest.raises(ConfigError, match="complete"):
            store.add_provider("a", _provider("olvid"))


def test_rescoring_under_another_profile(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.save(_audit("a", 1, [_provider("posteo")]))
        store.set_score("a", "posteo", Score(profile="hds", value=40, grade="E", blockers=["hds.certified"]))
        hds = store.load_audit("a", profile="hds")
        assert hds.profile == "hds"
        assert hds.providers[0].score is not None and hds.providers[0].score.grade == "E"
        assert store.load_audit("a").providers[0].score.grade == "A"  # type: ignore[union-attr]
        with pytest.raises(ConfigError, match="no provider"):
            store.set_score("a", "nobody", Score(profile="hds", value=1, grade="F"))


def test_unknown_and_ambiguous_ids(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.save(_audit("2026-11-28-a", 2, [_provider("posteo")]))
        store.save(_audit("2026-11-28-b", 1, [_provider("posteo")]))
        with pytest.raises(ConfigError, match="auditor history"):
            store.load_audit("nope")
        with pytest.raises(ConfigError, match="ambiguous"):
            store.load_audit("2026-11-28")
        assert store.load_audit("2026-11-28-b").audit_id == "2026-11-28-b"


def test_history(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.save(_audit("a", 3, [_provider("posteo", grade="B"), _provider("tuta")]))
        store.save(_audit("b", 1, [_provider("posteo", grade="A")]))
        rows = store.history("posteo")
        assert [(r.audit_id, r.provider_id, r.value, r.grade) for r in rows] == [
            ("a", "posteo", 88.5, "B"), ("b", "posteo", 88.5, "A"),
        ]
        assert rows[0].started_at == _at(3)
        assert len(store.history()) == 3


def _prune_world(path: Path) -> Store:
    store = Store.open(path)
    store.save(_audit("a1", 100, [_provider("posteo", page="11" * 32)]))  # evidence only a1 has
    store.save(_audit("a2", 50, [_provider("posteo")], complete=False))  # a killed run
    store.save(_audit("a3", 40, [_provider("posteo")]))
    store.save(_audit("a4", 10, [_provider("posteo")]))
    store.save(_audit("a5", 1, [_provider("posteo")], complete=False))  # may still be running
    return store


@pytest.mark.parametrize(
    ("keep", "older_than", "deleted"),
    [
        (1, None, ["a3", "a2", "a1"]),
        (0, None, ["a3", "a2", "a1"]),  # the latest complete audit survives even --keep 0
        (None, timedelta(days=30), ["a3", "a2", "a1"]),
        (2, timedelta(days=30), ["a2", "a1"]),  # kept if any rule keeps it
        (None, timedelta(days=60), ["a1"]),
        (None, timedelta(seconds=1), ["a5", "a3", "a2", "a1"]),  # but never the latest complete (a4)
        (None, None, []),
    ],
)
def test_prune_rules(tmp_path: Path, keep: int | None, older_than: timedelta | None, deleted: list[str]) -> None:
    path = tmp_path / "audits.sqlite"
    with _prune_world(path) as store:
        assert store.prune(keep=keep, older_than=older_than, now=NOW) == deleted
        left = {s.audit_id for s in store.list_audits()}
        assert left == {"a1", "a2", "a3", "a4", "a5"} - set(deleted)
        assert store.integrity_check() == "ok"
        for audit_id in left:
            store.load_audit(audit_id)


def test_prune_removes_orphaned_evidence_only(tmp_path: Path) -> None:
    path = tmp_path / "audits.sqlite"
    with _prune_world(path) as store:
        before = _count(path, "evidence")
        store.prune(keep=1, now=NOW)
        assert _count(path, "evidence") == before - 1  # a1's claim evidence went, the shared stayed
        assert store.load_audit("a4").providers[0].checks[0].evidence["ttl"] == 300


def test_prune_refuses_negative_keep(db_path: Path) -> None:
    with Store.open(db_path) as store, pytest.raises(ConfigError):
        store.prune(keep=-1)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(b"this is a text file, not a database\n" * 200),
        lambda p: p.mkdir(),
        lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080),  # a mangled header
    ],
    ids=["text", "directory", "mangled"],
)
def test_unusable_file_gives_one_line_naming_file_and_fix(tmp_path: Path, make: object) -> None:
    path = tmp_path / "audits.sqlite"
    make(path)  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        Store.open(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "--db" in message


def test_someone_elses_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    with pytest.raises(ConfigError, match="not an auditor one"):
        Store.open(path)
    with sqlite3.connect(path) as db:  # and it was left alone
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["contacts"]


_WRITER = textwrap.dedent(
    """
    import sys
    from auditor.findings import Audit, Finding, ProviderResult, Status, Vantage
    from auditor.store import Store

    store = Store.open(sys.argv[1])
    store.begin_audit(Audit(audit_id="killed", started_at="2026-11-29T05:00:00Z", tool_version="t",
                            profile="rgpd", vantage=Vantage(resolver="r", host="h")))
    n = 0
    while True:
        checks = [Finding(id="dns.mx", subject=f"d{n}-{i}.example", status=Status.PASS, value=[f"mx{i}"],
                          summary="x" * 200, evidence={"blob": f"{n}-{i}-" + "y" * 4000})
                  for i in range(200)]
        store.add_provider("killed", ProviderResult(id=f"p{n}", name="P", kind="mail", checks=checks))
        n += 1
        print(n, flush=True)
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.05])
def test_sigkill_while_writing_leaves_a_sound_incomplete_audit(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "audits.sqlite"
    with Store.open(path) as store:
        store.save(_audit("earlier", 1, [_provider("posteo")]))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        for _ in range(3):  # three providers committed, the fourth being written
            assert proc.stdout.readline(), "the writer died before writing"
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        summary = next(s for s in store.list_audits() if s.audit_id == "killed")
        assert summary.complete is False and summary.providers >= 3
        killed = store.load_audit("killed")
        assert killed.complete is False
        # Every stored provider is whole: its own transaction either committed entirely or not at all.
        assert all(len(p.checks) == 200 for p in killed.providers)
        assert store.load_audit().audit_id == "earlier"
        # Newer than the latest complete audit, so pruning cannot tell it from a scan still running.
        assert store.prune(keep=1) == []


def test_readers_are_not_blocked_by_a_writer(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.save(_audit("a", 1, [_provider("posteo")]))
    writer = sqlite3.connect(db_path, isolation_level=None, timeout=0.1)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a scan in the middle of a provider's transaction
        writer.execute("UPDATE audits SET tool_version = 'uncommitted'")
        started = time.monotonic()
        with Store.open(db_path) as reader:
            assert reader.load_audit("a").tool_version == "0.1.0"  # the last committed state
            assert [s.audit_id for s in reader.list_audits()] == ["a"]
        assert time.monotonic() - started < 5  # did not wait for the busy timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_damage_inside_the_file_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = tmp_path / "audits.sqlite"
    with Store.open(path) as store:
        for n in range(20):
            store.save(_audit(f"a{n}", 30 - n, [_provider("posteo", page=f"{n:064x}")]))
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0  # checkpointed on close
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, len(data) - page, 2 * page):  # scribble over every other page
        data[offset + 100: offset + 400] = b"\xa5" * 300
    path.write_bytes(bytes(data))
    try:
        store = Store.open(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    with store:
        assert store.integrity_check() != "ok"
        try:
            for summary in store.list_audits():
                store.load_audit(summary.audit_id)
        except ConfigError as exc:  # a one-line message, never a raw sqlite3 traceback
            assert str(path) in str(exc) and "--db" in str(exc)
