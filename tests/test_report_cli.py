"""`auditor report`: every format from a stored audit, re-scoring without a scan, and one-line errors (exit 2/3).

The command runs as a user runs it (the installed console script, in a subprocess), against a database
holding two audits of lab providers: an earlier one and the latest, so that "changes since" has something
to say, plus an unfinished audit that must never be picked as "the latest".
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from auditor.catalog import load_catalog
from auditor.findings import Audit, Status
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.report import CSV_COLUMNS
from auditor.report.export import print_demo_reports, write_demo_reports
from auditor.report.pdf import find_chromium
from auditor.scan import run_scan
from auditor.schema import audit_document, validate_document
from auditor.scoring import score_audit
from auditor.settings import load_settings
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
AUDITOR = Path(sys.executable).parent / "auditor"
PROVIDERS = ["exemplary", "offshore", "nostarttls", "hostile"]
EARLIER_ID = "20261101T000000Z-e0e0e0"
UNFINISHED_ID = "20261231T000000Z-ffffff"  # started last, never finished


def earlier(audit: Audit) -> Audit:
    """A month before: exemplary had no DMARC policy yet (a change the report must show)."""
    providers = []
    for p in audit.providers:
        if p.id == "exemplary":
            p = p.model_copy(update={"checks": [
                c.model_copy(update={"status": Status.FAIL, "value": {"record": None, "policy": None, "pct": None},
                                     "summary": "no DMARC record"}) if c.id == "dmarc" else c
                for c in p.checks]})
        providers.append(p)
    return score_audit(audit.model_copy(update={
        "audit_id": EARLIER_ID, "started_at": "2026-11-01T00:00:00Z", "finished_at": "2026-11-01T00:05:00Z",
        "providers": providers}), "rgpd")


@pytest.fixture(scope="module")
def latest(lab: Lab) -> Audit:
    settings = load_settings({**lab.overrides(), "timeout": 3.0}, environ={})
    audit = asyncio.run(run_scan(load_catalog(LAB_CATALOG).select(PROVIDERS), settings))
    return score_audit(audit, "rgpd")


@pytest.fixture(scope="module")
def db(latest: Audit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "audits.sqlite"
    with Store.open(path) as store:
        store.save(earlier(latest))
        store.save(latest)
        store.begin_audit(latest.model_copy(update={"audit_id": UNFINISHED_ID, "started_at": "2026-12-31T00:00:00Z",
                                                    "finished_at": None, "complete": False}))
    return path


def env(tmp: Path, **extra: str) -> dict[str, str]:
    """No AUDITOR_* from the developer's shell and no config file of theirs."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    clean.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"), **extra)
    return clean


def report(tmp: Path, db: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDITOR), "report", "--db", str(db), "--reports-dir", str(tmp / "reports"), *args],
                          capture_output=True, text=True, timeout=240, cwd=tmp, env=env(tmp, **extra_env))


def written(result: subprocess.CompletedProcess[str]) -> Path:
    """The report's path; an html, pdf or md report is followed by its technical annex, `<name>-annex.<ext>`."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    report = Path(lines[0])
    if report.suffix in (".html", ".pdf", ".md"):
        assert lines[1:] == [str(report.with_name(f"{report.stem}-annex{report.suffix}"))], result.stdout
        assert Path(lines[1]).stat().st_size > 0
    else:
        assert len(lines) == 1, result.stdout
    return report


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditor: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x0d\x47\xa1")) + chunk(b"IEND", b""))


# --- formats ---------------------------------------------------------------------------------------------

def test_html_by_default_latest_complete_audit_with_changes(db: Path, latest: Audit, tmp_path: Path) -> None:
    out = written(report(tmp_path, db))
    assert out == tmp_path / "reports" / f"{latest.audit_id}-rgpd-fr.html"
    html = (tmp_path / out).read_text(encoding="utf-8")
    assert latest.audit_id in html and UNFINISHED_ID not in html
    assert 'id="changes"' in html and EARLIER_ID in html  # compared with the previous complete audit
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html


def test_markdown_csv_and_json(db: Path, latest: Audit, tmp_path: Path) -> None:
    md = written(report(tmp_path, db, "--format", "md", "--lang", "en"))
    assert md.name == f"{latest.audit_id}-rgpd-en.md"
    text = md.read_text(encoding="utf-8")
    assert "Changes since the previous audit" in text and "Exemplary Mail (lab)" in text

    rows = list(csv.reader(io.StringIO(written(report(tmp_path, db, "--format", "csv")).read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == tuple(CSV_COLUMNS)
    assert len(rows) - 1 == sum(len(p.checks) for p in latest.providers)

    document = json.loads(written(report(tmp_path, db, "--format", "json")).read_text(encoding="utf-8"))
    validate_document(document)
    assert document == audit_document(latest)  # the stored audit, as scanned and scored


def test_output_file_and_branding(db: Path, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(tiny_png())
    target = tmp_path / "out" / "client.html"
    out = written(report(tmp_path, db, "--output", str(target), "--firm", "Cabinet Exemple",
                         "--client", "Clinique <du Lac>", "--logo", str(logo), "--lang", "en"))
    assert out == target
    html = target.read_text(encoding="utf-8")
    assert "Cabinet Exemple" in html and "Clinique &lt;du Lac&gt;" in html and "data:image/png;base64," in html


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (`make test` installs it)")
def test_pdf(db: Path, latest: Audit, tmp_path: Path) -> None:
    out = written(report(tmp_path, db, "--format", "pdf", "--lang", "en"))
    assert out.name == f"{latest.audit_id}-rgpd-en.pdf"
    data = out.read_bytes()
    assert data[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) > 5  # cover + sections


def test_pdf_without_chromium_is_one_line_and_exit_3(db: Path, tmp_path: Path) -> None:
    result = report(tmp_path, db, "--format", "pdf", AUDITOR_CHROMIUM=str(tmp_path / "no-such-chromium"))
    one_line_error(result, 3, "Chromium")
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())


# --- re-scoring --------------------------------------------------------------------------------------------

def test_rescoring_under_sante_changes_scores_without_scanning(db: Path, latest: Audit, tmp_path: Path) -> None:
    rgpd = json.loads(written(report(tmp_path, db, "--format", "json")).read_text(encoding="utf-8"))
    sante_out = written(report(tmp_path, db, "--format", "json", "--profile", "sante"))
    assert sante_out.name == f"{latest.audit_id}-sante-fr.json"
    sante = json.loads(sante_out.read_text(encoding="utf-8"))
    validate_document(sante)
    assert rgpd["profile"] == "rgpd" and sante["profile"] == "sante"
    before = {p["id"]: (p["score"]["value"], p["score"]["grade"], p["score"]["blockers"]) for p in rgpd["providers"]}
    after = {p["id"]: (p["score"]["value"], p["score"]["grade"], p["score"]["blockers"]) for p in sante["providers"]}
    assert before != after
    # Same findings (nothing was scanned again), scores as the scoring package computes them under sante.
    assert [p["checks"] for p in sante["providers"]] == [p["checks"] for p in rgpd["providers"]]
    expected = audit_document(score_audit(latest, "sante"))
    assert [p["score"] for p in sante["providers"]] == [p["score"] for p in expected["providers"]]
    html = written(report(tmp_path, db, "--profile", "sante"))
    assert html.name.endswith("-sante-fr.html")


def test_an_earlier_audit_by_id_prefix(db: Path, tmp_path: Path) -> None:
    out = written(report(tmp_path, db, "--audit", EARLIER_ID[:12], "--format", "json"))
    assert json.loads(out.read_text(encoding="utf-8"))["audit_id"] == EARLIER_ID


# --- errors: one line, exit 2 --------------------------------------------------------------------------------

def test_unknown_audit_id(db: Path, tmp_path: Path) -> None:
    one_line_error(report(tmp_path, db, "--audit", "19990101T000000Z-nope"), 2, "19990101T000000Z-nope")


@pytest.mark.parametrize("fmt", ["docx", "HTML", ""])
def test_bad_format(db: Path, tmp_path: Path, fmt: str) -> None:
    one_line_error(report(tmp_path, db, "--format", fmt), 2, "format")


@pytest.mark.parametrize("content", [b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                                     b"GIF89a\x01\x00\x01\x00", b""])
def test_logo_must_be_png_or_jpeg(db: Path, tmp_path: Path, content: bytes) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_bytes(content)
    one_line_error(report(tmp_path, db, "--logo", str(logo)), 2, "PNG or JPEG")
    assert not (tmp_path / "reports").exists()


def test_other_bad_input(db: Path, tmp_path: Path) -> None:
    one_line_error(report(tmp_path, db, "--logo", str(tmp_path / "missing.png")), 2, "missing.png")
    one_line_error(report(tmp_path, db, "--lang", "de"), 2, "lang")
    one_line_error(report(tmp_path, db, "--profile", "nope"), 2, "nope")
    one_line_error(report(tmp_path, tmp_path / "none.sqlite"), 2, "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()  # a report never creates a database


# --- the demo's reports ----------------------------------------------------------------------------------

def test_demo_reports_in_both_languages(latest: Audit, tmp_path: Path) -> None:
    result = write_demo_reports(latest, tmp_path / "demo-2026-11-29", lang="fr", previous=earlier(latest))
    names = [p.name for p in result.written]
    assert names[:4] == ["demo-2026-11-29-fr.html", "demo-2026-11-29-fr-annex.html", "demo-2026-11-29-en.html",
                         "demo-2026-11-29-en-annex.html"]
    assert '<html lang="en">' in result.written[2].read_text(encoding="utf-8")
    if find_chromium() is None:
        assert len(result.skipped) == 1 and "Chromium" in result.skipped[0]
    else:
        assert names[4:] == ["demo-2026-11-29-fr.pdf"] and result.skipped == []
        assert result.written[4].read_bytes()[:5] == b"%PDF-"


def test_demo_reports_show_the_audits_seal_like_auditor_report(latest: Audit, db: Path, tmp_path: Path) -> None:
    """The demo's client reports carry the seal on their cover: the manifest SHA-256 and the signing key's
    fingerprint, as the history chain holds them (the same line `auditor report` prints on its cover)."""
    from auditor.evidence.keys import fingerprint
    from auditor.evidence.seal import seal
    from auditor.pipeline import write_outputs

    path = tmp_path / "demo.sqlite"
    settings = load_settings({"db": str(path)}, environ={})
    with Store.open(path) as store:
        store.save(latest)
        link = seal(store, latest.audit_id, settings)
    expected = f'<dd class="seal"><code>{link.hash} — {fingerprint(link.public_key)}</code></dd>'
    written_files = print_demo_reports(latest, tmp_path / "demo", lang="fr", db=path)
    written_files += write_outputs(latest, None, tmp_path / "demo.html", "fr",
                                   seal=f"{link.hash} — {fingerprint(link.public_key)}")
    reports = [p for p in written_files if p.suffix == ".html" and not p.stem.endswith("-annex")]
    assert [p.name for p in reports] == ["demo-fr.html", "demo-en.html", "demo.html"]
    for report_file in reports:
        assert expected in report_file.read_text(encoding="utf-8"), report_file.name
    # an audit stored without a seal (before sealing existed) has no seal line, rather than an empty one
    unsealed = print_demo_reports(latest, tmp_path / "old", lang="fr", db=db)
    assert 'class="seal"' not in unsealed[0].read_text(encoding="utf-8")


def test_print_demo_reports_finds_the_previous_audit(db: Path, latest: Audit, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    written_files = print_demo_reports(latest, tmp_path / "demo", lang="en", db=db)
    html = written_files[2].read_text(encoding="utf-8")
    assert written_files[2].name == "demo-en.html" and 'id="changes"' in html and EARLIER_ID in html
    if find_chromium() is None:
        assert "Chromium" in capsys.readouterr().err

