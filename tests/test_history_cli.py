"""`auditor history`, `auditor diff`, `auditor prune` as a DPO runs them, on a database filled by real scans
of lab providers (the session lab), plus a leftover incomplete audit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_cron import AUDITOR, ROOT, clean_env

from auditor.diff import AuditDiff
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.store import Store

PROVIDERS = ["exemplary", "nostarttls"]


@dataclass
class Db:
    path: Path
    env: dict[str, str]
    complete: list[str]  # audit ids, oldest first
    incomplete: str


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDITOR), *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def filled(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Db:
    tmp = tmp_path_factory.mktemp("history")
    db = tmp / "audits.sqlite"
    env = clean_env(tmp)
    only = [arg for pid in PROVIDERS for arg in ("--only", pid)]

    def scan() -> None:
        result = cli(env, "scan", "--providers", str(LAB_CATALOG), *only, "--db", str(db),
                     "--reports-dir", str(tmp / "reports"), *lab.flags().split())
        assert result.returncode == 0, result.stderr

    scan()
    scan()
    with Store.open(db) as store:
        # A run killed halfway between the 2nd and 3rd scans left this behind: begun, one provider stored.
        second = store.load_audit(store.list_audits()[0].audit_id)
        started = datetime.fromisoformat(second.started_at.replace("Z", "+00:00")) + timedelta(seconds=1)
        leftover = second.model_copy(update={
            "audit_id": started.strftime("%Y%m%dT%H%M%SZ-dead00"), "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": None, "complete": False, "providers": second.providers[:1]})
        store.begin_audit(leftover)
    # Times are kept to the second: the 3rd scan must start after the leftover, however fast scans are.
    time.sleep(max(0.0, (started + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()))
    scan()
    with Store.open(db) as store:
        complete = [a.audit_id for a in reversed(store.list_audits()) if a.complete]
    return Db(db, env, complete, leftover.audit_id)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("auditor: ")
    return result.stderr


# -- history ----------------------------------------------------------------------------------------


def test_history_lists_audits_newest_first(filled: Db) -> None:
    result = cli(filled.env, "history", "--db", str(filled.path))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["AUDIT", "STARTED", "FINISHED", "STATE", "LAB", "PROVIDERS", "PROFILE"]
    first, second, third = filled.complete
    assert [r.split()[0] for r in rows] == [third, filled.incomplete, second, first]
    assert rows[1].split()[2:] == ["-", "incomplete", "yes", "1", "rgpd"]
    assert all(r.split()[3:] == ["complete", "yes", "2", "rgpd"] for r in [rows[0], *rows[2:]])


def test_history_json(filled: Db) -> None:
    result = cli(filled.env, "history", "--db", str(filled.path), "--json", "--limit", "2")
    document = json.loads(result.stdout)
    assert document["db"] == str(filled.path)
    latest, leftover = document["audits"]
    assert leftover == {**leftover, "audit_id": filled.incomplete, "complete": False, "finished_at": None,
                        "lab": True, "providers": 1}
    assert latest["audit_id"] == filled.complete[-1] and latest["complete"] is True
    assert set(latest) == {"audit_id", "started_at", "finished_at", "complete", "lab", "providers", "profile",
                           "tool_version"}


def test_history_of_one_provider(filled: Db) -> None:
    text = cli(filled.env, "history", "--db", str(filled.path), "--provider", "exemplary")
    lines = text.stdout.splitlines()
    assert lines[0].startswith("exemplary: score") and lines[1].split() == ["STARTED", "AUDIT", "SCORE", "GRADE"]
    assert [line.split()[1] for line in lines[2:]] == filled.complete  # oldest first, complete audits only
    as_json = json.loads(cli(filled.env, "history", "--db", str(filled.path), "--provider", "exemplary",
                             "--json").stdout)
    assert [s["audit_id"] for s in as_json["scores"]] == filled.complete
    assert all(0 <= s["value"] <= 100 and s["grade"] in ("A+", "A", "B", "C", "D", "E", "F")
               for s in as_json["scores"])
    assert {line.split()[3] for line in lines[2:]} == {s["grade"] for s in as_json["scores"]}


def test_history_of_an_unknown_provider(filled: Db) -> None:
    error = one_line_error(cli(filled.env, "history", "--db", str(filled.path), "--provider", "nosuch"))
    assert "includes provider 'nosuch'" in error


def test_settings_come_from_env_and_config_file_flags_first(filled: Db, tmp_path: Path) -> None:
    from_env = cli({**filled.env, "AUDITOR_DB": str(filled.path)}, "history", "--json")
    assert json.loads(from_env.stdout)["db"] == str(filled.path)
    config = tmp_path / "config.toml"
    config.write_text(f'db = "{filled.path}"\n', encoding="utf-8")
    from_file = cli(filled.env, "history", "--json", "--config", str(config))
    assert json.loads(from_file.stdout)["db"] == str(filled.path)
    flag_wins = cli({**filled.env, "AUDITOR_DB": str(tmp_path / "other.sqlite")}, "history", "--db",
                    str(filled.path), "--json")
    assert json.loads(flag_wins.stdout)["db"] == str(filled.path)


# -- diff -------------------------------------------------------------------------------------------


def test_diff_defaults_to_the_last_two_complete_audits(filled: Db) -> None:
    result = cli(filled.env, "diff", "--db", str(filled.path), "--lang", "en")
    assert result.returncode == 0, result.stderr
    before, after = filled.complete[-2:]
    assert result.stdout.startswith(f"Changes from audit {before} (")
    assert f" to {after} (" in result.stdout and result.stdout.endswith("No changes.\n")
    document = json.loads(cli(filled.env, "diff", "--db", str(filled.path), "--json").stdout)
    diff = AuditDiff.model_validate(document)
    assert (diff.before_id, diff.after_id, diff.changes) == (before, after, [])
    assert document["has_regressions"] is False


def test_diff_in_french_by_default(filled: Db) -> None:
    result = cli(filled.env, "diff", "--db", str(filled.path))
    assert result.stdout.startswith("Changements de l'audit ") and result.stdout.endswith("Aucun changement.\n")


def test_diff_with_id_prefixes(filled: Db) -> None:
    first, second, third = filled.complete
    both = json.loads(cli(filled.env, "diff", first[:19], second[:19], "--db", str(filled.path), "--json").stdout)
    assert (both["before_id"], both["after_id"]) == (first, second)
    one = json.loads(cli(filled.env, "diff", first, "--db", str(filled.path), "--json").stdout)
    assert (one["before_id"], one["after_id"]) == (first, third)  # one id: from it to the latest complete


def test_diff_against_an_incomplete_audit_says_so(filled: Db) -> None:
    result = cli(filled.env, "diff", filled.complete[-1], filled.incomplete, "--db", str(filled.path), "--lang", "en")
    assert result.returncode == 0
    assert "the newer audit is incomplete" in result.stdout and "provider no longer in the audit" in result.stdout


def test_diff_usage_errors(filled: Db) -> None:
    assert "ambiguous" in one_line_error(cli(filled.env, "diff", "20", "--db", str(filled.path)))
    assert "no audit 'nosuch'" in one_line_error(cli(filled.env, "diff", "nosuch", "--db", str(filled.path)))
    assert "invalid setting lang" in one_line_error(cli(filled.env, "diff", "--lang", "de", "--db",
                                                        str(filled.path)))


def test_diff_with_a_single_complete_audit(filled: Db, tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite"
    with Store.open(filled.path) as source, Store.open(db) as target:
        target.save(source.load_audit(filled.complete[0]))
    assert "nothing to compare yet" in one_line_error(cli(filled.env, "diff", "--db", str(db)))


# -- prune ------------------------------------------------------------------------------------------


def copy_of(filled: Db, tmp_path: Path) -> Path:
    db = tmp_path / "copy.sqlite"
    with sqlite3.connect(filled.path) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    return db


def test_prune_keep(filled: Db, tmp_path: Path) -> None:
    db = copy_of(filled, tmp_path)
    result = cli(filled.env, "prune", "--keep", "1", "--db", str(db))
    assert result.returncode == 0, result.stderr
    first, second, third = filled.complete
    assert result.stdout.splitlines() == [
        f"deleted audit {filled.incomplete} (started {_started(filled, filled.incomplete)}, incomplete)",
        f"deleted audit {second} (started {_started(filled, second)}, complete)",
        f"deleted audit {first} (started {_started(filled, first)}, complete)",
        f"{db}: 3 audit(s) deleted, 1 kept",
    ]
    left = json.loads(cli(filled.env, "history", "--db", str(db), "--json").stdout)["audits"]
    assert [a["audit_id"] for a in left] == [third]
    with Store.open(db) as store:
        assert store.integrity_check() == "ok"


def test_prune_never_deletes_the_latest_complete_audit(filled: Db, tmp_path: Path) -> None:
    db = copy_of(filled, tmp_path)
    result = cli(filled.env, "prune", "--older-than", "0", "--keep", "0", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{db}: 3 audit(s) deleted, 1 kept"
    left = json.loads(cli(filled.env, "history", "--db", str(db), "--json").stdout)["audits"]
    assert [a["audit_id"] for a in left] == [filled.complete[-1]]
    nothing = cli(filled.env, "prune", "--keep", "0", "--db", str(db))
    assert nothing.stdout == f"{db}: 0 audit(s) deleted, 1 kept\n"


def test_prune_needs_a_rule(filled: Db) -> None:
    assert "--keep N or --older-than DAYS" in one_line_error(cli(filled.env, "prune", "--db", str(filled.path)))


def _started(filled: Db, audit_id: str) -> str:
    with Store.open(filled.path) as store:
        return next(a.started_at for a in store.list_audits() if a.audit_id == audit_id)


# -- bad databases and help -------------------------------------------------------------------------

COMMANDS = [["history"], ["diff"], ["prune", "--keep", "1"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_missing_database_is_not_created(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "typo" / "audits.sqlite"
    error = one_line_error(cli(clean_env(tmp_path), *command, "--db", str(db)))
    assert error == f"auditor: {db}: no audit database here; run `auditor scan` first or pass --db FILE\n"
    assert not db.parent.exists()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unusable_database_paths(command: list[str], tmp_path: Path) -> None:
    assert "is a directory" in one_line_error(cli(clean_env(tmp_path), *command, "--db", str(tmp_path)))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database\n" * 100, encoding="utf-8")
    assert "not a usable auditor database" in one_line_error(cli(clean_env(tmp_path), *command, "--db",
                                                                 str(garbage)))


@pytest.mark.parametrize("command", ["history", "diff", "prune"])
def test_help(command: str, tmp_path: Path) -> None:
    result = cli(clean_env(tmp_path), command, "--help")
    assert result.returncode == 0 and "--db" in result.stdout and "Usage: auditor " + command in result.stdout
