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

from auditor.findings import Audit
from auditor.report.context import ReportContext
from auditor.report.html import CHANGE_SYMBOLS, GLOSSARY_TERMS, LIMIT_ITEMS, METHOD_ITEMS, uses_rule
from auditor.report.i18n import Translator
from auditor.report.vantage import vantage_limits, vantage_line
from auditor.report.view import (
    CRITERION_SYMBOLS,
    FINDING_SYMBOLS,
    NAME_LIMIT,
    MatrixCell,
    ProviderView,
    ReportView,
    build_view,
    clean,
)

# Inline syntax only: scanned text never starts a line here (it always follows a table pipe, a bullet's
# label or a heading's marks), so block markers such as "-" or "#" need no escaping. With [ ] escaped no
# link or image can form; with <> escaped (by html.escape) no HTML or autolink can.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: object) -> str:
    """Untrusted text made inert in Markdown: HTML entities for <>&, backslashes before syntax."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(clean(text), quote=False))


def _md_link(label: str, url: str | None) -> str:
    # Only http(s) URLs become links; parentheses are percent-encoded so they cannot close the target.
    if not url:
        return md(label)
    target = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20").replace("<", "%3C")
    return f"[{md(label)}](<{target.replace('>', '%3E')}>)"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows), ""]


class _Markdown:
    def __init__(self, view: ReportView, ctx: ReportContext) -> None:
        self.view, self.ctx, self.tr = view, ctx, Translator(ctx.lang)
        self.lab = view.audit.vantage.lab
        self.out: list[str] = []

    # --- helpers ---
    def t(self, key: str, **params: object) -> str:
        return self.tr.t(key, **params)

    def banner(self) -> None:
        if self.lab:
            self.out += [f"> **{self.t('lab.banner_title')}** — {self.t('lab.banner_text')}", ""]

    def criterion_title(self, cid: str) -> str:
        info = self.ctx.criteria.get(cid)
        return md(info.title_in(self.ctx.lang, cid) if info else cid)

    def finding_status(self, code: str) -> str:
        return f"{FINDING_SYMBOLS.get(code, '?')} {self.tr.t_or('status.' + code, md(code))}"

    def criterion_status(self, code: str) -> str:
        return f"{CRITERION_SYMBOLS.get(code, '?')} {self.tr.t_or('criterion_status.' + code, md(code))}"

    def kind(self, kind: str) -> str:
        return self.tr.t_or(f"kind.{kind}", md(kind))

    def country(self, code: str) -> str:
        return self.t("provider.country_value", name=self.tr.t_or(f"country.{code}", code), code=code)

    def uses_rule(self) -> str:
        return uses_rule(self.view, self.ctx, self.tr)

    # --- sections ---
    def cover(self) -> None:
        a, b, tr = self.view.audit, self.ctx.branding, self.tr
        self.out += [f"# {self.t('cover.title')}", ""]
        self.banner()
        facts = []
        if b.client:
            facts.append((self.t("cover.prepared_for"), md(b.client)))
        if b.firm:
            facts.append((self.t("cover.prepared_by"), md(b.firm)))
        kinds = ", ".join(self.t("cover.kind_count", kind=self.kind(k), count=tr.number(n))
                          for k, n in self.view.kinds.items())
        facts += [
            (self.t("cover.date"), tr.datetime(self.ctx.generated_at)),
            (self.t("cover.audit_id"), md(a.audit_id)),
            (self.t("cover.profile"), tr.t_or(f"profile.{a.profile}", md(a.profile))),
            (self.t("cover.period"), md(tr.timestamp(a.started_at))
             + (f" → {md(tr.timestamp(a.finished_at))}" if a.finished_at else "")),
            (self.t("cover.scope"), tr.tn("cover.providers", len(self.view.providers))
             + (f" ({kinds})" if kinds else "")),
            (self.t("cover.vantage"), self.t("cover.vantage_value", host=md(a.vantage.host),
                                             resolver=md(a.vantage.resolver))),
        ]
        line = vantage_line(a.vantage, tr)
        if line:
            facts.append((self.t("vantage.title"), md(line)))
        if self.ctx.previous_audit_id:
            facts.append((self.t("cover.previous"), md(self.ctx.previous_audit_id)))
        self.out += [f"- **{k}**{self.t('common.colon')} {v}" for k, v in facts] + [""]
        limits = vantage_limits(a.vantage, tr)
        if limits:
            self.out += [f"> **{self.t('vantage.limits_title')}**", *(f"> - {md(limit)}" for limit in limits), ""]
        if not a.complete:
            self.out += [f"> **{self.t('cover.incomplete_title')}** — {self.t('cover.incomplete_text')}", ""]

    def summary(self) -> None:
        tr = self.tr
        self.out += [f"## {self.t('summary.title')}", ""]
        self.banner()
        self.out += [self.t("summary.intro"), ""]
        if self.view.scored:
            self.out += [f"### {self.t('summary.ranking')}", ""]
            rows = []
            for p in self.view.providers:
                blockers = ", ".join(self.criterion_title(b) for b in p.blockers)
                rows.append([
                    tr.number(p.rank) if p.rank else "—", md(p.name), self.kind(p.kind),
                    f"{tr.number(p.score.value)}/100" if p.score else self.t("summary.not_scored"),
                    p.score.grade if p.score else "—",
                    blockers or (self.t("summary.no_blockers") if p.score else "—"),
                ])
            self.out += _table([self.t("summary.rank"), self.t("common.provider"), self.t("common.kind"),
                                self.t("summary.score"), self.t("summary.grade"), self.t("summary.blockers")],
                               rows)
        else:
            self.out += [self.t("summary.no_scores"), ""]
        self.out += [f"### {self.t('summary.uses_title')}", "", self.t("summary.uses_intro"), ""]
        self.out += _table(
            [self.t("common.provider"), *(md(self.ctx.use_title(u)) for u in self.view.use_ids)],
            [[md(p.name), *(f"{u.symbol} {self.t('verdict.' + u.verdict)}" for u in p.uses)]
             for p in self.view.providers],
        )
        self.out += [self.uses_rule(), ""]
        self.out += [f"### {self.t('summary.hosting_title')}", "", self.t("summary.hosting_intro"), ""]
        self.out += _table([self.t("common.region"), self.t("summary.servers")],
                           [[self.t(f"region.{r}"), tr.number(n)] for r, n in self.view.regions.items()])

    def _cell(self, c: MatrixCell) -> str:
        if self.view.matrix.by == "criteria":
            if c.status == "not_scored":
                return f"· {self.t('matrix.not_scored')}"
            return self.criterion_status(c.status) + (f" ({c.detail})" if c.detail else "")
        if c.status == "absent":
            return f"· {self.t('matrix.absent')}"
        return self.finding_status(c.status) + (f" ({c.detail})" if c.detail else "")

    def matrix(self) -> None:
        m = self.view.matrix
        self.out += [f"## {self.t('matrix.title')}", ""]
        self.banner()
        by_criteria = m.by == "criteria"
        self.out += [self.t("matrix.intro_criteria" if by_criteria else "matrix.intro_checks"), ""]
        header = [self.t("matrix.criterion" if by_criteria else "matrix.check"),
                  *(md(p.name) for p, _ in m.rows)]
        rows = []
        for i, col in enumerate(m.columns):
            label = self.criterion_title(col) if by_criteria else f"`{col}`"
            rows.append([label, *(self._cell(cells[i]) for _, cells in m.rows)])
        self.out += _table(header, rows)

    def provider(self, p: ProviderView) -> None:
        tr = self.tr
        self.out += [f"## {md(p.name)} ({self.kind(p.kind)})", ""]
        self.banner()
        score = (f"{tr.number(p.score.value)}/100 — {self.t('summary.grade')} {p.score.grade}"
                 if p.score else self.t("summary.not_scored"))
        colon = self.t("common.colon")
        self.out += [f"- **{self.t('summary.score')}**{colon} {score}"]
        if p.score:
            blockers = ", ".join(self.criterion_title(b) for b in p.blockers) or self.t("summary.no_blockers")
            self.out += [f"- **{self.t('summary.blockers')}**{colon} {blockers}"]
        uses = "; ".join(f"{md(self.ctx.use_title(u.use))}{colon} {u.symbol} {self.t('verdict.' + u.verdict)}"
                         for u in p.uses)
        countries = ", ".join(self.country(c) for c in p.countries) or self.t("provider.no_countries")
        self.out += [f"- **{self.t('provider.uses')}**{colon} {uses}",
                     f"- **{self.t('provider.countries')}**{colon} {countries}", ""]
        self.out += [f"### {self.t('provider.findings')}", ""]
        for g in p.groups:
            if g.criterion:
                c = g.criterion
                pts = tr.tn("provider.points", c.points, max=tr.number(c.max))
                colon = self.t("common.colon")
                self.out += [f"#### {self.criterion_title(g.key)}{colon} {self.criterion_status(c.status)} ({pts})", ""]
                if c.reason:
                    self.out += [f"{self.t('provider.reason')} {md(c.reason)}", ""]
            else:
                self.out += [f"#### {f'`{g.key}`' if g.key else self.t('provider.other_checks')}", ""]
            if not g.findings:
                self.out += [self.t("provider.no_findings_for_criterion"), ""]
                continue
            self.out += _table(
                [self.t("common.status"), self.t("common.check"), self.t("common.target"),
                 self.t("common.summary"), self.t("common.evidence")],
                [[self.finding_status(f.status), f"`{f.check}`",
                  md(f.subject) + (f" → {md(f.target)}" if f.target else ""), md(f.summary),
                  md(" · ".join(x for x in (f.value, f.evidence) if x)) or "—"] for f in g.findings],
            )
        self.out += [f"### {self.t('provider.hosting')}", ""]
        if p.servers:
            self.out += _table(
                [self.t("common.status"), self.t("provider.host"), self.t("provider.ip"),
                 self.t("provider.country"), self.t("common.region"), self.t("provider.operator")],
                [[self.finding_status(s.status), md(s.host), md(s.ip),
                  self.country(s.country) if s.country else (md(s.country_raw) or self.t("common.unknown")),
                  self.t(f"region.{s.region}"),
                  (md(s.org) or "—") + (f" (AS{s.asn})" if s.asn is not None else "")
                  + (f" — {md(s.note)}" if s.note else "")] for s in p.servers],
            )
        else:
            self.out += [self.t("provider.no_servers"), ""]
        self.out += [f"### {self.t('provider.claims')}", "", self.t("provider.claims_intro"), ""]
        if p.claims:
            def tri(v: bool | None) -> str:
                return self.t("common.yes") if v is True else self.t("common.no") if v is False \
                    else self.t("common.unknown")
            self.out += _table(
                [self.t("common.status"), self.t("provider.claim"), self.t("provider.claimed"),
                 self.t("provider.verified"), self.t("provider.evidence_link"), self.t("provider.checked_at")],
                [[self.finding_status(c.status), tr.t_or(f"claim.{c.name}", md(c.name)), tri(c.claimed),
                  tri(c.verified), _md_link(c.url_text, c.url) if c.url_text else "—",
                  md(tr.timestamp(c.checked_at)) if c.checked_at else "—"] for c in p.claims],
            )
        else:
            self.out += [self.t("provider.no_claims"), ""]

    def changes(self) -> None:
        if self.ctx.changes is None:
            return
        names = {p.id: p.name for p in self.view.audit.providers}
        self.out += [f"## {self.t('changes.title')}", ""]
        self.banner()
        if self.ctx.previous_audit_id:
            self.out += [self.t("changes.since", previous=md(self.ctx.previous_audit_id)), ""]
        if not self.ctx.changes:
            self.out += [self.t("changes.none"), ""]
            return
        rows = []
        for c in self.ctx.changes:
            kind = f"{CHANGE_SYMBOLS.get(c.kind, '•')} {self.tr.t_or('change_kind.' + c.kind, md(c.kind))}"
            check = (f"`{md(c.check)}`" if c.check else "—") + (f" {md(c.subject)}" if c.subject else "")
            rows.append([kind, md(names.get(c.provider, c.provider)), check, md(c.message)])
        self.out += _table(
            [self.t("changes.kind"), self.t("common.provider"), self.t("common.check"), self.t("changes.message")],
            rows,
        )

    def appendix(self) -> None:
        a = self.view.audit
        self.out += [f"## {self.t('method.title')}", ""]
        self.banner()
        self.out += [self.t("method.intro"), "", f"### {self.t('method.measured_title')}", ""]
        self.out += [f"- {self.t('method.measured.' + i)}" for i in METHOD_ITEMS] + [""]
        profile = self.tr.t_or(f"profile.{a.profile}", md(a.profile))
        self.out += [f"### {self.t('method.scoring_title')}", "", self.t("method.scoring", profile=profile), "",
                     self.uses_rule(), "", f"### {self.t('method.statuses_title')}", ""]
        self.out += [f"- {sym} **{self.t('status.' + code)}** — {self.t('status_help.' + code)}"
                     for code, sym in FINDING_SYMBOLS.items()] + [""]
        self.out += [f"### {self.t('method.vantage_title')}", "",
                     self.t("method.vantage", host=md(a.vantage.host), resolver=md(a.vantage.resolver)), "",
                     f"### {self.t('lab.title')}", ""]
        if self.lab:
            self.out += [f"> **{self.t('lab.banner_title')}** — {self.t('lab.note_simulated')}", ""]
        else:
            self.out += [self.t("lab.note_real"), ""]
        self.out += [f"## {self.t('limits.title')}", ""]
        self.out += [f"- {self.t('limits.' + i)}" for i in LIMIT_ITEMS] + [""]
        self.out += [f"## {self.t('refs.title')}", "", self.t("refs.intro"), ""]
        if self.view.references:
            self.out += [f"- {md(r.label)} — {_md_link(r.url_text, r.url)}" for r in self.view.references] + [""]
        else:
            self.out += [self.t("refs.none"), ""]
        self.out += [f"## {self.t('glossary.title')}", ""]
        self.out += [f"- **{self.t(f'glossary.{g}.term')}** — {self.t(f'glossary.{g}.definition')}"
                     for g in GLOSSARY_TERMS] + [""]
        self.out += ["---", "", self.t("footer.generated", version=md(a.tool_version),
                                       date=self.tr.datetime(self.ctx.generated_at)), ""]

    def render(self) -> str:
        self.cover()
        self.summary()
        self.matrix()
        for p in self.view.providers:
            self.provider(p)
        self.changes()
        self.appendix()
        return "\n".join(self.out)


def render_markdown(audit: Audit, ctx: ReportContext) -> str:
    """The report's content as Markdown in `ctx.lang` (no charts; the tables carry the same numbers)."""
    return _Markdown(build_view(audit, ctx), ctx).render()


CSV_COLUMNS = ("provider", "check", "subject", "target", "status", "summary")
# Characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (or a DDE call).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will show as text: formula-looking values get a leading apostrophe."""
    text = "" if value is None else clean(value, 2000)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(audit: Audit) -> str:
    """One row per finding: provider id, check id, subject, target, status, summary (RFC 4180, CRLF)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for p in audit.providers:
        for f in p.checks:
            writer.writerow([csv_cell(x) for x in (
                clean(p.id, NAME_LIMIT), f.id, f.subject, f.target, str(f.status), f.summary,
            )])
    return buf.getvalue()


__all__ = ["CSV_COLUMNS", "csv_cell", "md", "render_csv", "render_markdown"]
