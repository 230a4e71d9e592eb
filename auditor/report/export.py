"""A stored audit to a file in any report format: the one place `auditor report` and `auditor demo` share.

HTML, Markdown and PDF carry the same content (the PDF is the HTML printed by Chromium), and each comes with
its technical annex (`<name>-annex.<ext>`: every finding with its raw evidence); CSV is one row per finding;
JSON is the audit document of docs/checks.md, validated against the shipped schema before it is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from auditor.console import warn
from auditor.errors import ConfigError
from auditor.files import write_private
from auditor.findings import Audit
from auditor.report.context import Branding
from auditor.report.html import Document
from auditor.report.i18n import LANGS
from auditor.report.pdf import ChromiumMissing, find_chromium, html_to_pdf
from auditor.report.text import render_csv
from auditor.report.wiring import render_audit_html, render_audit_markdown

Format = Literal["html", "pdf", "md", "csv", "json"]
FORMATS: tuple[Format, ...] = get_args(Format)
EXTENSIONS: dict[str, str] = {"html": "html", "pdf": "pdf", "md": "md", "csv": "csv", "json": "json"}
ANNEXED: tuple[Format, ...] = ("html", "pdf", "md")  # formats whose report has a technical annex


def annex_path(report: Path) -> Path:
    """`reports/x.pdf` → `reports/x-annex.pdf`."""
    return report.with_name(f"{report.stem}-annex{report.suffix}")


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt  # mypy narrows `fmt` through the membership test above


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ConfigError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    return lang


def default_path(reports_dir: Path, audit: Audit, lang: str, fmt: Format) -> Path:
    """reports/<audit-id>-<profile>-<lang>.<ext>, with anything unusual in a file name replaced."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in (audit.audit_id, audit.profile, lang))
    return reports_dir / f"{stem}.{EXTENSIONS[fmt]}"


def render_text(audit: Audit, fmt: Format, lang: str, *, branding: Branding | None = None,
                previous: Audit | None = None, document: Document = "report") -> str:
    """Every format but PDF, as text (`document`: the client report or its annex, for html and md)."""
    if fmt == "html":
        return render_audit_html(audit, lang, branding=branding, previous=previous, document=document)
    if fmt == "md":
        return render_audit_markdown(audit, lang, branding=branding, previous=previous, document=document)
    if fmt == "csv":
        return render_csv(audit)
    if fmt == "json":
        from auditor.schema import audit_document  # jsonschema: only needed here

        return json.dumps(audit_document(audit), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"{fmt} is not a text format")


def write_report(audit: Audit, fmt: Format, out: Path, lang: str, *, branding: Branding | None = None,
                 previous: Audit | None = None, document: Document = "report") -> Path:
    """Render and write one report (mode 0600); returns `out`. PDF raises ChromiumMissing (exit 3) without
    Chromium."""
    if fmt == "pdf":
        html = render_audit_html(audit, lang, branding=branding, previous=previous, document=document)
        return html_to_pdf(html, out)
    # Written as UTF-8 bytes: the CSV writer already ends rows with \r\n (RFC 4180), nothing is translated.
    return write_private(out, render_text(audit, fmt, lang, branding=branding, previous=previous,
                                          document=document))


def write_with_annex(audit: Audit, fmt: Format, out: Path, lang: str, *, branding: Branding | None = None,
                     previous: Audit | None = None, annex: bool = True) -> list[Path]:
    """The report, then its technical annex next to it when the format has one (html, pdf, md)."""
    written = [write_report(audit, fmt, out, lang, branding=branding, previous=previous)]
    if annex and fmt in ANNEXED:
        written.append(write_report(audit, fmt, annex_path(out), lang, branding=branding, previous=previous,
                                    document="annex"))
    return written


@dataclass
class DemoReports:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each, for the user


def write_demo_reports(audit: Audit, stem: Path, *, lang: str = "fr", previous: Audit | None = None,
                       seal: str | None = None) -> DemoReports:
    """For `auditor demo`: `<stem>-fr.html`, `<stem>-en.html` (each with its `-annex.html`) and
    `<stem>-<lang>.pdf` when Chromium is there, with the audit's `seal` on the cover like `auditor report`.

    A missing Chromium is not a failure of the demo: the PDF is listed in `skipped` with the reason.
    """
    result = DemoReports()
    branding = Branding(seal=seal) if seal else None
    for each in LANGS:
        result.written += write_with_annex(audit, "html", stem.with_name(f"{stem.name}-{each}.html"), each,
                                           branding=branding, previous=previous)
    if find_chromium() is None:
        result.skipped.append("PDF not written: Chromium is not installed (apt-get install chromium)")
        return result
    try:
        result.written.append(write_report(audit, "pdf", stem.with_name(f"{stem.name}-{lang}.pdf"), lang,
                                           branding=branding, previous=previous))
    except ChromiumMissing as exc:
        result.skipped.append(f"PDF not written: {exc}")
    return result


def previous_audit(db: Path, audit: Audit) -> Audit | None:
    """The previous complete audit in `db` (same lab flag), scored under `audit`'s profile, or None."""
    from auditor.scoring import score_audit
    from auditor.store import Store

    with Store.open(db) as store:
        previous_id = store.previous_complete(audit.audit_id)
        if previous_id is None:
            return None
        previous = store.load_audit(previous_id, profile=audit.profile)
    return previous if all(p.score for p in previous.providers) else score_audit(previous, audit.profile)


def audit_seal(db: Path, audit_id: str) -> str | None:
    """The seal of `audit_id` in `db` for a report's cover (see auditor.evidence.seal.seal_line)."""
    from auditor.evidence.seal import seal_line
    from auditor.store import Store

    with Store.open(db) as store:
        return seal_line(store, audit_id)


def print_demo_reports(audit: Audit, stem: Path, *, lang: str = "fr", db: Path | None = None) -> list[Path]:
    """For `run_demo`, after its own outputs: write_demo_reports with the changes since the previous demo
    audit in `db` and the audit's seal there (when `db` is given), saying on stderr what was skipped; returns
    the files written."""
    previous = previous_audit(db, audit) if db is not None else None
    seal = audit_seal(db, audit.audit_id) if db is not None else None
    result = write_demo_reports(audit, stem, lang=lang, previous=previous, seal=seal)
    for line in result.skipped:
        warn(line)
    return result.written
