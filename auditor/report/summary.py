"""The executive summary, written from the data: who leads each kind, what blocks, which uses each provider
fits, what changed since the previous audit. Sentences come from the catalogues, filled with the audit's
figures; nothing here is canned prose about a particular provider."""

from __future__ import annotations

from collections import Counter

from auditor.report.clean import clean
from auditor.report.context import ReportContext
from auditor.report.i18n import Translator
from auditor.report.phrases import Phrases
from auditor.report.view import ProviderView, ReportView

NAMES_SHOWN = 6  # providers named in one sentence; beyond, "and N more"
CHANGES_SHOWN = 5


def _names(tr: Translator, names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (" " + tr.t("value.more", count=tr.number(more)) if more > 0 else "")


def kind_paragraph(kind: str, providers: list[ProviderView], tr: Translator, ph: Phrases) -> str:
    scored = [p for p in providers if p.score is not None]
    kind_name = tr.t_or(f"kind.{kind}", kind)
    if not scored:
        return tr.t("exec.kind_unscored", kind=kind_name, count=tr.number(len(providers)))
    leaders = [p for p in scored if p.rank == 1]
    lead = leaders[0]
    assert lead.score is not None
    text = tr.t("exec.kind_lead", kind=kind_name, count=tr.number(len(providers)),
                leader=_names(tr, [p.name for p in leaders]), score=tr.number(lead.score.value),
                grade=lead.score.grade)
    blocked = [p for p in scored if p.blockers]
    if not blocked:
        return f"{text} {tr.t('exec.no_blockers')}"
    common = Counter(b for p in blocked for b in p.blockers).most_common(1)[0]
    return " ".join([text, tr.tn("exec.blocked", len(blocked), total=tr.number(len(scored)),
                                 criterion=ph.criterion_short(common[0]), times=tr.number(common[1]))])


def use_paragraph(use: str, view: ReportView, ctx: ReportContext, tr: Translator) -> str:
    title = ctx.use_title(use)
    by_verdict: dict[str, list[str]] = {"fits": [], "reservations": []}
    for p in view.providers:
        for u in p.uses:
            if u.use == use and u.verdict in by_verdict:
                by_verdict[u.verdict].append(p.name)
    if not by_verdict["fits"] and not by_verdict["reservations"]:
        return tr.t("exec.use_none", use=title)
    parts = []
    if by_verdict["fits"]:
        parts.append(tr.t("exec.use_fits", names=_names(tr, by_verdict["fits"])))
    if by_verdict["reservations"]:
        parts.append(tr.t("exec.use_reservations", names=_names(tr, by_verdict["reservations"])))
    # The language's semicolon: French sets a (non-breaking) space before it.
    return tr.t("exec.use", use=title, verdicts=(tr.t("common.semicolon") + " ").join(parts))


def changes_paragraphs(view: ReportView, ctx: ReportContext, tr: Translator) -> list[str]:
    if ctx.changes is None:
        return [tr.t("exec.no_previous")]
    counts = Counter(c.kind for c in ctx.changes)
    if not ctx.changes:
        return [tr.t("exec.no_changes", previous=clean(ctx.previous_audit_id or "", 120))]
    out = [tr.t("exec.changes", previous=clean(ctx.previous_audit_id or "", 120),
                regressions=tr.tn("exec.regressions", counts.get("regression", 0)),
                improvements=tr.tn("exec.improvements", counts.get("improvement", 0)))]
    names = view.names
    regressions = [c for c in ctx.changes if c.kind == "regression"]
    out += [tr.t("exec.change_line", provider=clean(names.get(c.provider, c.provider), 120),
                 message=clean(c.message))
            for c in regressions[:CHANGES_SHOWN]]
    return out


def executive_summary(view: ReportView, ctx: ReportContext, tr: Translator) -> dict[str, list[str]]:
    """{"kinds": [one paragraph per kind], "uses": [one per assessed use], "changes": [...]}."""
    ph = Phrases(tr, ctx)
    kinds: dict[str, list[ProviderView]] = {}
    for p in view.providers:
        kinds.setdefault(p.kind, []).append(p)
    assessed = [u for u in view.use_ids if u not in ctx.uses or ctx.uses[u].assessed]
    return {
        "kinds": [kind_paragraph(k, ps, tr, ph) for k, ps in kinds.items()],
        "uses": [use_paragraph(u, view, ctx, tr) for u in assessed] if view.scored else [],
        "changes": changes_paragraphs(view, ctx, tr),
    }
