"""Chromium keeps its sandbox unless we run as root (issue 15): the PDF is printed from a page whose text came
from remote servers. Observed on a real Chromium through a shim that records its arguments, printing as
root and as an ordinary user (`setpriv`, so this needs root to switch users)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.report.pdf import HEADLESS_FLAGS, find_chromium, headless_flags

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
PRINT = ("import sys; from pathlib import Path; from auditor.report.pdf import html_to_pdf; "
         "html_to_pdf('<!doctype html><p>sandboxed</p>', Path(sys.argv[1]))")


def test_no_sandbox_flag_is_for_root_only() -> None:
    assert "--no-sandbox" not in HEADLESS_FLAGS
    assert headless_flags(0) == (*HEADLESS_FLAGS, "--no-sandbox")
    assert headless_flags(1000) == HEADLESS_FLAGS


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory both root and `nobody` can use (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="auditor-sandbox-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _print_as(uid: int | None, shared: Path, name: str) -> tuple[list[str], Path]:
    chromium = find_chromium()
    assert chromium is not None
    log, pdf = shared / f"{name}.args", shared / f"{name}.pdf"
    shim = shared / f"{name}-chromium"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexec {chromium} "$@"\n')
    shim.chmod(0o755)
    command = [sys.executable, "-c", PRINT, str(pdf)]
    if uid is not None:
        command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]
    env = {**os.environ, "AUDITOR_CHROMIUM": str(shim), "HOME": str(shared)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return log.read_text().splitlines(), pdf


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or find_chromium() is None,
                    reason="needs root (to print once as root and once as another user), setpriv and Chromium")
def test_chromium_sandbox_stays_on_for_an_ordinary_user(shared_dir: Path) -> None:
    if not all(os.access(p, os.R_OK | os.X_OK) for p in (ROOT, Path(sys.executable).parent)):
        pytest.skip("the checkout is not readable by other users")
    as_root, _ = _print_as(None, shared_dir, "root")
    assert "--no-sandbox" in as_root
    as_user, pdf = _print_as(NOBODY, shared_dir, "user")
    assert "--no-sandbox" not in as_user and "--headless" in as_user
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_uid == NOBODY
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
