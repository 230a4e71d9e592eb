"""A full disk is said as such (issue 15): "disk full", exit 3, the database kept and readable once space is
freed, whether the disk is full before the scan (SQLite says "disk I/O error" growing its -shm), fills during
it (SQLITE_FULL), or is where the reports go.

A real full file system: a 1 MiB tmpfs mounted in a user and mount namespace (`unshare`, no root needed where
unprivileged user namespaces are allowed), filled by a file, with a real `auditor scan` of the lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.lab import Lab
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
AUDITOR = Path(sys.executable).parent / "auditor"
PROVIDERS = ["posteo", "tuta", "proton"]

# Runs inside the namespaces: mount, fill, scan, free the space, read the history back.
INNER = r"""
import json, os, shutil, subprocess, sys, time
mnt, base, free, target, auditor, *scan = sys.argv[1:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], check=True)
db = os.path.join(mnt, "a.sqlite") if target == "db" else base
reports = os.path.join(mnt, "reports") if target == "reports" else os.path.join(os.path.dirname(base), "reports")
if target == "db":
    shutil.copyfile(base, db)
fill = os.path.join(mnt, "fill")
st = os.statvfs(mnt)
with open(fill, "wb") as f:
    f.write(bytes(max(st.f_bavail * st.f_frsize - int(free), 0)))
t0 = time.monotonic()
run = subprocess.run([auditor, "scan", *scan, "--db", db, "--reports-dir", reports], capture_output=True, text=True)
seconds = time.monotonic() - t0
os.unlink(fill)
history = subprocess.run([auditor, "history", "--db", db, "--json"], capture_output=True, text=True)
print(json.dumps({"rc": run.returncode, "stderr": run.stderr, "seconds": seconds, "db": db,
                  "history": history.stdout, "history_rc": history.returncode}))
"""


def _namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_allowed(),
                                reason="unprivileged user namespaces (unshare -rm) are not allowed here")


@pytest.fixture(scope="module")
def base(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding one complete audit, and the scan flags."""
    db = tmp_path_factory.mktemp("full") / "base.sqlite"
    result = subprocess.run([str(AUDITOR), "scan", *scan_flags(lab), "--db", str(db), "--reports-dir",
                             str(db.parent / "reports")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return db


def scan_flags(lab: Lab) -> list[str]:
    only = [arg for pid in PROVIDERS for arg in ("--only", pid)]
    return ["--providers", str(ROOT / "providers.yaml"), *only, *lab.flags().split()]


@pytest.mark.parametrize(("target", "free", "reason"), [
    ("db", 0, "disk I/O error"),  # no room even for the -shm file: the database cannot be opened
    ("db", 96 * 1024, "database or disk is full"),  # room to start, full while storing the providers
    ("reports", 0, "No space left on device"),  # the audit is stored, its reports cannot be written
])
def test_full_disk_is_disk_full_exit_3_and_the_database_is_kept(lab: Lab, base: Path, tmp_path: Path, target: str,
                                                               free: int, reason: str) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    copy = tmp_path / "base.sqlite"
    shutil.copyfile(base, copy)
    command = ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", INNER, str(mnt), str(copy),
               str(free), target, str(AUDITOR), *scan_flags(lab)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")})
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    where = outcome["db"] if target == "db" else f"{mnt}/reports/"
    assert outcome["rc"] == 3, outcome["stderr"]
    [line] = outcome["stderr"].splitlines()
    assert line.startswith(f"auditor: {where}") and f": disk full ({reason}); free some space on that file " \
        "system and run again (nothing was lost: earlier audits are intact)" in line
    assert outcome["seconds"] < 60
    # Once space is freed, the database reads back: the earlier audit is there, complete.
    assert outcome["history_rc"] == 0
    audits = json.loads(outcome["history"])["audits"]
    with Store.open(base) as store:
        [before] = store.list_audits()
    assert any(a["audit_id"] == before.audit_id and a["complete"] for a in audits)
