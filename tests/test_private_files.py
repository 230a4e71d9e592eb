"""Files auditor writes are private whatever the umask (issue 15): the database and its WAL/SHM, the lock and
every report 0600, the directories it creates 0700; and the lock file never follows a symlink nor truncates a
file that is not its own."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.findings import Audit, ProviderResult, Vantage
from auditor.lock import ScanLock, lock_path
from auditor.pipeline import write_outputs
from auditor.report.export import FORMATS, write_report
from auditor.report.pdf import find_chromium
from auditor.store import Store

GOLDEN = Path(__file__).parent / "golden"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever comes out private, we made private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def audit() -> Audit:
    findings = json.loads((GOLDEN / "posteo.findings.json").read_text())  # real pipeline output, evidence left out
    posteo = ProviderResult(id="posteo", name="Posteo", kind="mail", checks=findings)
    return Audit(audit_id="20261201T080000Z-abcdef", started_at="2026-12-01T08:00:00Z",
                 finished_at="2026-12-01T08:00:05Z", complete=True, tool_version="test", profile="rgpd",
                 vantage=Vantage(resolver="127.0.0.1", host="test", lab=True), providers=[posteo])


@pytest.mark.usefixtures("open_umask")
def test_database_wal_shm_and_new_directories_are_private(tmp_path: Path, audit: Audit) -> None:
    db = tmp_path / "state" / "auditor" / "audits.sqlite"
    with Store.open(db) as store:
        store.save(audit)
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(f.exists() for f in files), "WAL journaling keeps -wal and -shm while the store is open"
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert (mode(tmp_path / "state"), mode(tmp_path / "state" / "auditor")) == (0o700, 0o700)


@pytest.mark.usefixtures("open_umask")
def test_lock_file_is_private(tmp_path: Path) -> None:
    lock = lock_path(tmp_path / "new" / "audits.sqlite")
    with ScanLock(lock):
        assert mode(lock) == 0o600 and mode(lock.parent) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_every_report_is_private(tmp_path: Path, audit: Audit) -> None:
    out = tmp_path / "reports" / "by-client"
    formats = [f for f in FORMATS if f != "pdf" or find_chromium() is not None]
    written = [write_report(audit, fmt, out / f"report.{fmt}", "en") for fmt in formats]
    written += write_outputs(audit, out / "scan.json", out / "scan.html", "fr")
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert (mode(tmp_path / "reports"), mode(out)) == (0o700, 0o700)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temporary file left


def test_rewritten_report_becomes_private_and_replaces_a_symlink(tmp_path: Path, audit: Audit) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    out = tmp_path / "report.md"
    out.symlink_to(victim)
    write_report(audit, "md", out, "en")
    assert victim.read_text() == "precious\n" and not out.is_symlink() and mode(out) == 0o600


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "precious.txt"
    path.write_text("a file that is not ours\n")
    return path


def test_lock_never_follows_a_symlink(tmp_path: Path, victim: Path) -> None:
    lock = lock_path(tmp_path / "audits.sqlite")
    lock.symlink_to(victim)
    with pytest.raises(ConfigError) as info:
        ScanLock(lock).acquire()
    assert str(info.value) == f"{lock}: is a symbolic link, not auditor's lock file; remove it or pass --db FILE"
    assert victim.read_text() == "a file that is not ours\n"


@pytest.mark.parametrize("how", ["same name", "hard link"])
def test_lock_never_truncates_a_file_it_did_not_write(tmp_path: Path, victim: Path, how: str) -> None:
    lock = lock_path(tmp_path / "audits.sqlite")
    if how == "hard link":
        os.link(victim, lock)
    else:
        lock.write_text(victim.read_text())
    with pytest.raises(ConfigError) as info:
        ScanLock(lock).acquire()
    assert str(info.value).startswith(f"{lock}: not auditor's lock file (")
    assert str(info.value).endswith("); move it aside or pass --db FILE")
    assert lock.read_text() == victim.read_text() == "a file that is not ours\n"


def test_lock_takes_over_its_own_stale_file(tmp_path: Path) -> None:
    """What a run killed by SIGKILL leaves: our lock file with a dead pid in it."""
    lock = lock_path(tmp_path / "audits.sqlite")
    lock.write_text("4194304\n")
    with ScanLock(lock):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert lock.read_text() == ""
    with ScanLock(lock):  # and the empty file a clean exit leaves
        assert lock.read_text() == f"{os.getpid()}\n"
