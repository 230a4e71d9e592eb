"""Client reports from an audit: HTML (self-contained, printable), Markdown and CSV, in French or English.

    from auditor.report import ReportContext, Branding, render_html
    html = render_html(audit, ReportContext(lang="fr", branding=Branding(firm="…", client="…")))

Renderers never touch the network and never trust the audit's text: everything scanned is escaped.
Criteria texts (`CriterionInfo`) come from the scoring package and change records (`ChangeInfo`) from the
diff module, as plain data.
"""

from __future__ import annotations

from auditor.report.context import (
    CHANGE_KINDS,
    Branding,
    ChangeInfo,
    CriterionInfo,
    ReportContext,
    changes_info,
    criteria_info,
    logo_data_uri,
    profile_info,
)
from auditor.report.html import CSP, render_html
from auditor.report.i18n import LANGS, Lang, MissingTranslation, Translator
from auditor.report.text import CSV_COLUMNS, render_csv, render_markdown
from auditor.report.wiring import default_context, render_audit_html, render_audit_markdown

__all__ = [
    "CHANGE_KINDS",
    "CSP",
    "CSV_COLUMNS",
    "LANGS",
    "Branding",
    "ChangeInfo",
    "CriterionInfo",
    "Lang",
    "MissingTranslation",
    "ReportContext",
    "Translator",
    "changes_info",
    "criteria_info",
    "default_context",
    "logo_data_uri",
    "profile_info",
    "render_audit_html",
    "render_audit_markdown",
    "render_csv",
    "render_html",
    "render_markdown",
]
