"""The HTML report: one self-contained file, no network, no scripts, printable to A4.

Autoescaping is on for every template and nothing taken from the audit is marked safe. The only strings
inserted unescaped are produced by this package itself: the stylesheet read from `static/report.css`
(escaping would break CSS quotes) and the SVG charts, whose text went through `Markup.format`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from auditor.findings import Audit, ProviderResult
from auditor.report.context import CHANGE_KINDS, ChangeInfo, ReportContext
from auditor.report.divergence import divergence_section
from auditor.report.i18n import Translator
from auditor.report.phrases import Phrases
from auditor.report.summary import executive_summary
from auditor.report.vantage import audit_limits, cover_vantages, vantage_line
from auditor.report.view import (
    CRITERION_SYMBOLS,
    FINDING_SYMBOLS,
    NAME_LIMIT,
    VERDICT_SYMBOLS,
    ProviderView,
    ReportView,
    build_view,
    clean,
)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "static" / "report.css"

# No default source; inline styles only; images only as data: URIs (the logo). No scripts at all.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

# The documents, each a list of sections (a template partial `<name>.html.j2` and `<name>.md.j2` each, in
# templates/): the one place a section is registered. A section renders nothing when it has nothing to say.
CLIENT_SECTIONS = ("_cover", "_summary", "_rankings", "_sheets", "_vantages", "_changes", "_method", "_references",
                   "_glossary", "_closing")
ANNEX_SECTIONS = ("_annex_cover", "_annex_providers")
# Small blocks on the client report's last page, after the signature (e.g. the signing key's fingerprint).
CLOSING_BLOCKS: tuple[str, ...] = ()
Document = Literal["report", "annex"]

METHOD_ITEMS = ("dns", "dnssec", "starttls", "tls", "mta_sts", "dane", "email_auth", "https", "hosting",
                "claims")
# What an audit from outside cannot see, said in every client report (docs: README "The client report").
LIMIT_ITEMS = ("contracts", "subprocessors", "internal_access", "remote_access", "backups", "e2ee", "accounts",
               "claims", "snapshot", "geo", "legal")
GLOSSARY_TERMS = ("starttls", "tls", "mta_sts", "tls_rpt", "dane", "dnssec", "spf", "dkim", "dmarc", "hsts",
                  "e2ee", "zero_access", "hds", "mssante", "eea", "adequacy", "third_country", "cloud_act",
                  "processor", "controller", "dpo")
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


def title(ctx: ReportContext, tr: Translator) -> str:
    """The assessment's title from the profile file, else a generic one (a profile no longer at hand)."""
    return clean(ctx.profile.title.get(ctx.lang) or ctx.profile.title.get("fr") or "", 300) if ctx.profile \
        and ctx.profile.title else tr.t("cover.title")


def decisions_used(view: ReportView) -> list[Any]:
    """The adequacy decisions the audit relied on (one per country), for the references."""
    found: dict[str, Any] = {}
    for p in view.providers:
        facts = p.facts
        candidates = [facts.company.decision if facts.company else None]
        if facts.transfer:
            candidates += [facts.transfer.importer_decision, *(d.decision for d in facts.transfer.destinations)]
        for d in candidates:
            if d is not None:
                found.setdefault(d.id, d)
    return [found[k] for k in sorted(found)]


def laws_used(view: ReportView) -> list[Any]:
    """The access laws a sheet names (through the company or a hosting network's operator), for the references."""
    found: dict[str, Any] = {}
    for p in view.providers:
        facts = p.facts
        laws = list(facts.company.access_laws) if facts.company else []
        laws += [law for o in facts.hosting.operators for law in o.laws] if facts.hosting else []
        for law in laws:
            if law.id and law.url:
                found.setdefault(law.id, law)
    return [found[k] for k in sorted(found)]


def template_globals(view: ReportView, ctx: ReportContext, tr: Translator,
                     document: Document = "report") -> dict[str, Any]:
    """What the templates (HTML and Markdown) see. Public so the tests can render with the same names."""
    audit = view.audit
    lang = ctx.lang

    def criterion_title(cid: str) -> str:
        info = ctx.criteria.get(cid)
        return clean(info.title_in(lang, cid) if info else cid, NAME_LIMIT)

    def criterion_short(cid: str) -> str:
        info = ctx.criteria.get(cid)
        return clean(info.short_in(lang, cid) if info else cid, NAME_LIMIT)

    def criterion_text(cid: str, part: str) -> str:
        info = ctx.criteria.get(cid)
        texts = {"explanation": info.explanation_in, "meaning": info.meaning_in, "action": info.action_in} \
            if info else {}
        return clean(texts[part](lang), 1500) if part in texts else ""

    def criterion_version(cid: str) -> str:
        info = ctx.criteria.get(cid)
        if info is None or info.version is None:
            return "—"
        return tr.t("method.version_value", version=info.version, reviewed=tr.day(info.reviewed))

    def criteria_shorts(ids: list[str]) -> str:
        return ", ".join(criterion_short(c) for c in ids)

    def claim_names(names: list[str]) -> str:
        return ", ".join(tr.t_or(f"claim.{n}", n) for n in names)

    names = view.names

    def phrases(p: ProviderView) -> Phrases:
        return Phrases(tr, ctx, p.id)

    def country(code: str) -> str:
        return tr.country(code)

    def use_reasons(p: ProviderView) -> list[str]:
        """The reasons behind a provider's use verdicts, each said once (blockers repeat across uses)."""
        ph = phrases(p)
        seen: list[str] = []
        for u in p.score.uses if p.score else []:
            for r in u.reasons:
                if r.code == "outside_profile":
                    continue
                if r.code == "blocker":  # the ranking table names them
                    text = tr.t("use_reason.blockers")
                elif r.code in ("below_threshold", "near_threshold"):
                    text = tr.t("use_reason.score", value=tr.number(r.value or 0))
                else:
                    text = ph.use_reason(r)
                if text not in seen:
                    seen.append(text)
        return seen

    glob: dict[str, Any] = {
        "lang": lang, "ctx": ctx, "audit": audit, "view": view, "branding": ctx.branding, "document": document,
        "sections": CLIENT_SECTIONS if document == "report" else ANNEX_SECTIONS, "closing_blocks": CLOSING_BLOCKS,
        "title": title(ctx, tr), "profile": ctx.profile,
        "lab": audit.vantage.lab, "csp": Markup(CSP), "css": _stylesheet(),  # both ours, not data
        "logo_uri": ctx.branding.logo_uri(),
        "page_css": page_css(running_header(audit.audit_id, ctx.branding.client, tr),
                             tr.t("lab.banner_title") if audit.vantage.lab else None),
        "generated": tr.datetime(ctx.generated_at),
        "vantage_line": vantage_line(audit.vantage, tr), "vantage_limits": audit_limits(audit, tr),
        "cover_vantages": cover_vantages(audit, tr),
        "divergence": divergence_section(view, tr) if document == "report" else None,
        "previous_audit_id": clean(ctx.previous_audit_id, NAME_LIMIT) if ctx.previous_audit_id else None,
        "changes": [_clean_change(c, names) for c in ctx.changes or []],
        "t": tr.t, "tn": tr.tn, "t_or": tr.t_or, "number": tr.number, "ordinal": tr.ordinal, "timestamp": tr.timestamp,
        "day": tr.day, "country": country, "phrases": phrases, "use_reasons": use_reasons,
        "criterion_title": criterion_title, "criterion_short": criterion_short, "criterion_text": criterion_text,
        "criterion_version": criterion_version, "criteria_shorts": criteria_shorts, "claim_names": claim_names,
        "finding_symbols": FINDING_SYMBOLS, "criterion_symbols": CRITERION_SYMBOLS, "verdict_symbols": VERDICT_SYMBOLS,
        "finding_codes": set(FINDING_SYMBOLS), "criterion_codes": set(CRITERION_SYMBOLS),
        "change_kinds": CHANGE_KINDS, "change_symbols": CHANGE_SYMBOLS,
        "uses": view.use_ids, "use_title": lambda u: clean(ctx.use_title(u), NAME_LIMIT),
        "uses_rule": uses_rule(view, ctx, tr),
        "method_items": METHOD_ITEMS, "limit_items": LIMIT_ITEMS, "glossary_terms": GLOSSARY_TERMS,
        "decisions": decisions_used(view), "laws": laws_used(view),
    }
    if document == "report":
        glob["exec"] = executive_summary(view, ctx, tr)
    return glob


def render_html(audit: Audit, ctx: ReportContext, document: Document = "report") -> str:
    """The client report (or its technical annex) as one self-contained HTML document in `ctx.lang`.

    Raises MissingTranslation when a string is missing from the catalogue, ConfigError for a bad logo.
    """
    return "".join(html_parts(audit, ctx, document))


def html_parts(audit: Audit, ctx: ReportContext, document: Document = "report",
               providers: Callable[[], Iterable[ProviderResult]] | None = None) -> Iterator[str]:
    """`render_html` piece by piece, to be written as it is rendered (a bulk campaign's thousands of sheets);
    `providers`: see `build_view`."""
    tr = Translator(ctx.lang)
    view = build_view(audit, ctx, providers)
    return _environment().get_template("report.html.j2").generate(**template_globals(view, ctx, tr, document))
