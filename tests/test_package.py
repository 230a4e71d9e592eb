"""The package as a newcomer installs it (issue 15): a wheel built from this checkout carries the real catalog
and the licence; installed in a fresh virtual environment, `auditor demo` runs from an empty directory while
another lab holds the default addresses, writes private files whatever the umask, and `history`, `report`
and `diff` then find the demo's database.

The fresh environment has no pip and only our wheel installed; the dependencies are borrowed read-only from
the development environment through a .pth line (installing them again would need the registry)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from labscan import default_net_taken

from auditor import __version__

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                    "reports")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    seconds: float  # to build and install

    def run(self, *args: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "auditor"), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, umask=0)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("package")
    t0 = time.monotonic()
    source = tmp / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)  # the build writes build/ into its tree
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(tmp / "dist")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp / "dist").glob("auditor-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], capture_output=True, text=True, check=True).stdout.strip())
    (site / "dev-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--no-deps", "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return Installed(wheel, venv, time.monotonic() - t0)


def test_wheel_carries_the_real_catalog_and_the_licence(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        assert wheel.read("auditor/data/providers.yaml") == (ROOT / "providers.yaml").read_bytes()
        for data in ("auditor/lab/catalog.yaml", "auditor/lab/world.yaml", "auditor/data/audit.schema.json"):
            assert wheel.getinfo(data).file_size > 0
        info = f"auditor-{__version__}.dist-info"
        assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert "License-Expression: AGPL-3.0-or-later" in metadata.splitlines()
    assert (ROOT / "LICENSE").read_text().startswith("                    GNU AFFERO GENERAL PUBLIC LICENSE\n")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class Demo:
    cwd: Path
    env: dict[str, str]
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def demo(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    cwd = tmp_path_factory.mktemp("newcomer")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    env.update(XDG_DATA_HOME=str(cwd / ".data"), XDG_CONFIG_HOME=str(cwd / ".config"))
    with default_net_taken():
        t0 = time.monotonic()
        result = installed.run("demo", cwd=cwd, env=env)
        seconds = time.monotonic() - t0
    return Demo(cwd, env, result, seconds)


def test_installed_demo_runs_from_an_empty_directory(installed: Installed, demo: Demo) -> None:
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c", "import auditor; print(auditor.__file__)"],
                           capture_output=True, text=True, cwd=demo.cwd, check=True).stdout
    assert where.startswith(str(installed.venv))  # the wheel's copy, not the checkout
    assert demo.result.returncode == 0, demo.result.stderr
    assert "Traceback" not in demo.result.stderr
    stem = f"reports/demo-{date.today().isoformat()}"
    out = demo.result.stdout
    assert f"wrote {stem}.json" in out and f"wrote {stem}-fr.html" in out and "stored in reports/demo.sqlite" in out
    assert "of 18 providers against the lab" in out  # the packaged catalog


def test_demo_files_are_private_whatever_the_umask(demo: Demo) -> None:
    reports = demo.cwd / "reports"
    assert mode(reports) == 0o700
    files = sorted(reports.iterdir())
    assert reports / "demo.sqlite" in files and any(f.suffix == ".json" for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_history_report_and_diff_find_the_demo_database(installed: Installed, demo: Demo) -> None:
    note = (f"auditor: no audit database at {demo.cwd}/.data/auditor/audits.sqlite yet: reading the demo's, "
            "reports/demo.sqlite (pass --db FILE to choose)\n")
    history = installed.run("history", "--json", cwd=demo.cwd, env=demo.env)
    assert history.returncode == 0 and history.stderr == note
    [audit] = json.loads(history.stdout)["audits"]
    assert audit["lab"] is True and audit["complete"] is True
    report = installed.run("report", "--format", "md", "--lang", "en", cwd=demo.cwd, env=demo.env)
    assert report.returncode == 0 and report.stderr == note
    written = report.stdout.splitlines()  # the report, then its evidence annex
    assert len(written) == 2 and written[1].endswith("-annex.md")
    assert all(mode(demo.cwd / path) == 0o600 for path in written)
    diff = installed.run("diff", cwd=demo.cwd, env=demo.env)
    assert diff.returncode == 2
    assert diff.stderr == note + f"auditor: reports/demo.sqlite: only one complete audit ({audit['audit_id']}); " \
                                 "nothing to compare yet\n"
