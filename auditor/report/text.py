"""Plain-text renderings: Markdown (the report's content for wikis and tickets) and CSV (one row per finding).

Markdown passes raw HTML through in most renderers, so scanned text is HTML-escaped *and* stripped of
Markdown syntax before it lands in the document. CSV cells that a spreadsheet would read as a formula are
defused with a leading quote.
"""

from __future__ import annotations

import csv
import html
import io
import re
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from auditor.findings import Audit
from auditor.report.clean import _INVISIBLE, NAME_LIMIT, clean
from auditor.report.context import ReportContext
from auditor.report.html import TEMPLATES, Document, template_globals
from auditor.report.i18n import Translator
from auditor.report.view import build_view

# Inline syntax only: scanned text never starts a line here (it always follows a table pipe, a bullet's
# label or a heading's marks), so block markers such as "-" or "#" need no escaping. With [ ] escaped no
# link or image can form; with <> escaped (by html.escape) no HTML or autolink can.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
MD_TEXT_LIMIT = 4000  # one line of our own prose (an advice, a law's summary); scanned text is shorter


class MdSafe(str):
    """Markdown already escaped (a macro's output, a link): printed as is."""


_BLANKS = re.compile(r"[ \t\r\n\f\v]+")  # not the no-break spaces of French typography


def md(text: object, limit: int = MD_TEXT_LIMIT) -> str:
    """Untrusted text made inert in Markdown, on one line: HTML entities for <>&, backslashes before syntax."""
    line = _BLANKS.sub(" ", _INVISIBLE.sub("\ufffd", str(text)))
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", html.escape(line, quote=False))


def _finalize(value: Any) -> str:
    if isinstance(value, MdSafe):
        return value
    return "" if value is None else md(value)


def md_link(text: object, url: str | None) -> MdSafe:
    """A link when `url` is a safe http(s) URL (parentheses and spaces percent-encoded), else the text."""
    if not url:
        return MdSafe(md(text))
    target = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
    return MdSafe(f"[{md(text)}](<{target}>)")


@cache
def _environment() -> Environment:
    # Every {{ }} output is escaped by `finalize`; macros return escaped text, marked with `|raw`.
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, finalize=_finalize)
    env.filters["raw"] = MdSafe
    env.filters["clean"] = clean
    return env


def render_markdown(audit: Audit, ctx: ReportContext, document: Document = "report") -> str:
    """The client report (or its annex) as Markdown in `ctx.lang`: the same sections as the HTML."""
    tr = Translator(ctx.lang)
    glob = template_globals(build_view(audit, ctx), ctx, tr, document)
    glob["md_link"] = md_link
    text = _environment().get_template("report.md.j2").render(**glob)
    return re.sub(r"\n{3,}", "\n\n", text)


# `vantage` last, so a reader of the six first columns is unaffected: the named vantage point that measured the
# finding in an audit measured from several (docs/vantage.md), empty otherwise and for catalog-drawn findings.
CSV_COLUMNS = ("provider", "check", "subject", "target", "status", "summary", "vantage")
# Characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (or a DDE call).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will show as text: formula-looking values get a leading apostrophe."""
    text = "" if value is None else clean(value, 2000)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(audit: Audit) -> str:
    """One row per finding: provider id, check id, subject, target, status, summary, vantage (RFC 4180, CRLF)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for p in audit.providers:
        for f in p.checks:
            writer.writerow([csv_cell(x) for x in (
                clean(p.id, NAME_LIMIT), f.id, f.subject, f.target, str(f.status), f.summary,
                clean(f.vantage, NAME_LIMIT) if f.vantage else None,
            )])
    return buf.getvalue()


__all__ = ["CSV_COLUMNS", "MdSafe", "csv_cell", "md", "md_link", "render_csv", "render_markdown"]
