"""The HTML report: one self-contained file, no network, no scripts, printable to A4.

Autoescaping is on for every template and nothing taken from the audit is marked safe. The only strings
inserted unescaped are produced by this package itself: the stylesheet read from `static/report.css`
(escaping would break CSS quotes) and the SVG charts, whose text went through `Markup.format`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from auditor.findings import Audit
from auditor.report.charts import region_chart, score_chart
from auditor.report.context import CHANGE_KINDS, ChangeInfo, ReportContext
from auditor.report.i18n import Translator
from auditor.report.vantage import vantage_limits, vantage_line
from auditor.report.view import (
    CRITERION_SYMBOLS,
    FINDING_SYMBOLS,
    NAME_LIMIT,
    ReportView,
    build_view,
    clean,
)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "static" / "report.css"

# No default source; inline styles only; images only as data: URIs (the logo). No scripts at all.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

COLUMNS_PER_TABLE = 6  # providers per matrix slice: what fits across A4 portrait

METHOD_ITEMS = ("dns", "dnssec", "starttls", "tls", "mta_sts", "dane", "email_auth", "https", "hosting",
                "claims")
LIMIT_ITEMS = ("outside", "claims", "snapshot", "geo", "scope", "legal")
GLOSSARY_TERMS = ("starttls", "tls", "mta_sts", "tls_rpt", "dane", "dnssec", "spf", "dkim", "dmarc", "hsts",
                  "e2ee", "zero_access", "hds", "mssante", "eea", "adequacy", "third_country", "cloud_act",
                  "dpo")
CHANGE_SYMBOLS = {"regression": "▼", "improvement": "▲", "neutral": "•", "added": "+", "removed": "−", "changed": "~"}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its file name
        undefined=StrictUndefined,  # a typo in a template fails the render instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["clean"] = clean
    return env


@cache
def _stylesheet() -> Markup:
    css = STYLESHEET.read_text(encoding="utf-8")
    # The stylesheet is ours, but a stray "</style" would end the element early: refuse it outright.
    if "</" in css:
        raise ValueError(f"{STYLESHEET} must not contain '</'")
    return Markup(css)


def css_string(text: str) -> str:
    """A CSS string literal from any text: everything but plain ASCII letters, digits and a few marks is
    written as a 6-digit hex escape, so the value can end neither the string, nor the rule, nor <style>."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:-_")
    out: list[str] = []
    escaped = False
    for ch in text:
        # CSS swallows one whitespace after a hex escape (its terminator): a space right after one is
        # escaped too, or "Audit x · client" would print as "Audit x ·client".
        escaped = ch not in safe or (ch == " " and escaped)
        out.append(f"\\{ord(ch):06x}" if escaped else ch)
    return '"' + "".join(out) + '"'


def page_css(running: str, simulation: str | None) -> Markup:
    """@page margin boxes carrying the audit id (and the simulation mark) on every printed page."""
    rules = f"@top-left {{ content: {css_string(running)}; font-size: 7.5pt; color: #555; }}"
    if simulation:
        rules += (f" @top-right {{ content: {css_string(simulation)}; font-size: 8pt; font-weight: 700;"
                  " color: #b71c1c; }")
    return Markup(f"@page {{ {rules} }}")  # built only from css_string() output


def running_header(audit_id: str, client: str | None, tr: Translator) -> str:
    """The top-left line of every printed page: the audit id, and the client when the report names one."""
    text = tr.t("running.audit", audit_id=clean(audit_id, NAME_LIMIT))
    return f"{text} · {clean(client, NAME_LIMIT)}" if client else text


def _clean_change(c: ChangeInfo, names: dict[str, str]) -> ChangeInfo:
    # Change messages may quote scanned values (an MX name, a TXT record): cleaned like any finding text.
    # The diff names providers by id; the reader knows them by name.
    return ChangeInfo(kind=clean(c.kind, 40), provider=clean(names.get(c.provider, c.provider), NAME_LIMIT),
                      check=clean(c.check, NAME_LIMIT) if c.check else None, message=clean(c.message),
                      subject=clean(c.subject, NAME_LIMIT) if c.subject else None)


def uses_rule(view: ReportView, ctx: ReportContext, tr: Translator) -> str:
    """The use rule in words, with each assessed use's threshold from the profile (see UseRule)."""
    assessed = [(u, ctx.uses[u]) for u in view.use_ids if u in ctx.uses and ctx.uses[u].assessed]
    thresholds = ", ".join(f"{clean(ctx.use_title(u), NAME_LIMIT)} {tr.number(info.threshold or 0)}"
                           for u, info in assessed)
    margin = max((info.margin for _, info in assessed), default=0)
    return tr.t("summary.uses_rule", thresholds=thresholds or "—", margin=tr.number(margin))


def template_globals(view: ReportView, ctx: ReportContext, tr: Translator) -> dict[str, Any]:
    """What the templates see. Public so the tests can render with the same names."""
    audit = view.audit
    lang = ctx.lang

    def criterion_title(cid: str) -> str:
        info = ctx.criteria.get(cid)
        return clean(info.title_in(lang, cid) if info else cid, NAME_LIMIT)

    def criterion_explanation(cid: str) -> str:
        info = ctx.criteria.get(cid)
        return clean(info.explanation_in(lang), 1000) if info else ""

    names = {p.id: p.name for p in audit.providers}

    def country(code: str) -> str:
        return tr.t("provider.country_value", name=tr.t_or(f"country.{code}", code), code=code)

    return {
        "lang": lang, "ctx": ctx, "audit": audit, "view": view, "branding": ctx.branding,
        "lab": audit.vantage.lab, "csp": Markup(CSP), "css": _stylesheet(),  # both ours, not data
        "logo_uri": ctx.branding.logo_uri(),
        "page_css": page_css(running_header(audit.audit_id, ctx.branding.client, tr),
                             tr.t("lab.banner_title") if audit.vantage.lab else None),
        "generated": tr.datetime(ctx.generated_at),
        "vantage_line": vantage_line(audit.vantage, tr), "vantage_limits": vantage_limits(audit.vantage, tr),
        "previous_audit_id": clean(ctx.previous_audit_id, NAME_LIMIT) if ctx.previous_audit_id else None,
        "changes": [_clean_change(c, names) for c in ctx.changes or []],
        "t": tr.t, "tn": tr.tn, "t_or": tr.t_or, "number": tr.number, "ordinal": tr.ordinal, "timestamp": tr.timestamp,
        "criterion_title": criterion_title, "criterion_explanation": criterion_explanation,
        "country": country,
        "finding_symbols": FINDING_SYMBOLS, "criterion_symbols": CRITERION_SYMBOLS,
        "finding_codes": set(FINDING_SYMBOLS), "criterion_codes": set(CRITERION_SYMBOLS),
        "change_kinds": CHANGE_KINDS, "change_symbols": CHANGE_SYMBOLS,
        "uses": view.use_ids, "use_title": lambda u: clean(ctx.use_title(u), NAME_LIMIT),
        "uses_rule": uses_rule(view, ctx, tr),
        "columns_per_table": COLUMNS_PER_TABLE,
        "method_items": METHOD_ITEMS, "limit_items": LIMIT_ITEMS, "glossary_terms": GLOSSARY_TERMS,
        "score_svg": score_chart(view.providers, tr), "region_svg": region_chart(view.regions, tr),
    }


def render_html(audit: Audit, ctx: ReportContext) -> str:
    """The full client report as one self-contained HTML document in `ctx.lang`.

    Raises MissingTranslation when a string is missing from the catalogue, ConfigError for a bad logo.
    """
    tr = Translator(ctx.lang)
    view = build_view(audit, ctx)
    return _environment().get_template("report.html.j2").render(**template_globals(view, ctx, tr))
