"""One-call rendering for the pipeline and the CLI: criteria texts from the scoring package, changes from
the diff module, then the renderers. The renderers themselves stay free of those packages (plain data in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import datetime

from auditor.errors import ConfigError
from auditor.findings import Audit, ProviderResult
from auditor.report.context import Branding, ReportContext, changes_info, criteria_info, profile_info
from auditor.report.html import Document, html_parts, render_html
from auditor.report.text import render_markdown


def default_context(audit: Audit, lang: str = "fr", *, branding: Branding | None = None,
                    previous: Audit | None = None, generated_at: datetime | None = None) -> ReportContext:
    """A ReportContext with the built-in criteria texts and, when `previous` is given, the changes since it.

    `lang` is a plain str for callers holding user input; anything but "fr" or "en" fails validation.
    """
    # Imported here: scoring and diff are heavier and not needed by callers that bring their own data.
    from auditor.diff import diff_audits
    from auditor.scoring import load_criteria, load_profile

    criteria = load_criteria()
    fields: dict[str, object] = {
        "lang": lang, "branding": branding or Branding(), "criteria": criteria_info(criteria.criteria),
    }
    with suppress(ConfigError):  # a user's profile file no longer at hand: the report shows use ids instead
        fields["profile"], fields["uses"] = profile_info(load_profile(audit.profile, criteria), criteria)
    if previous is not None:
        fields["changes"] = changes_info(diff_audits(previous, audit).changes, lang)
        fields["previous_audit_id"] = previous.audit_id
    if generated_at is not None:
        fields["generated_at"] = generated_at
    return ReportContext.model_validate(fields)


def render_audit_html(audit: Audit, lang: str = "fr", *, branding: Branding | None = None,
                      previous: Audit | None = None, document: Document = "report") -> str:
    """The HTML client report (or its technical annex) with default criteria texts, and the changes since
    `previous` when given."""
    return render_html(audit, default_context(audit, lang, branding=branding, previous=previous), document)


def audit_html_parts(audit: Audit, lang: str = "fr", *, branding: Branding | None = None,
                     providers: Callable[[], Iterable[ProviderResult]] | None = None) -> Iterator[str]:
    """`render_audit_html`'s report piece by piece, of an audit whose `providers` are read afresh at each call
    (a bulk campaign's, from the store; see `build_view`)."""
    return html_parts(audit, default_context(audit, lang, branding=branding), "report", providers)


def render_audit_markdown(audit: Audit, lang: str = "fr", *, branding: Branding | None = None,
                          previous: Audit | None = None, document: Document = "report") -> str:
    """The Markdown report (or annex), with the same defaults as render_audit_html."""
    return render_markdown(audit, default_context(audit, lang, branding=branding, previous=previous), document)
