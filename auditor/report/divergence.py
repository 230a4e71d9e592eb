"""The client report's "Where vantage points disagree" section: each disagreement between the vantage points of
an audit (auditor/vantages.py) in plain words — which provider, what, what each vantage saw, what it means for
the DPO. Every word comes from the catalogues; scanned names are cleaned here and escaped by the renderer."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.report.clean import NAME_LIMIT, clean
from auditor.report.i18n import Translator
from auditor.report.phrases import check_key
from auditor.report.vantage import vantage_line
from auditor.report.view import ReportView
from auditor.vantages import Disagreement, Observation

MAX_SHOWN = 8  # addresses or hosts listed per vantage before "…"
MAX_ITEMS = 60  # disagreements listed in the section; the annex has every finding with its vantage


@dataclass(frozen=True)
class Seen:
    vantage: str
    what: str


@dataclass(frozen=True)
class DivergenceItem:
    provider: str
    about: str
    seen: list[Seen]
    meaning: str


@dataclass(frozen=True)
class VantageItem:
    name: str
    line: str | None


@dataclass(frozen=True)
class DivergenceSection:
    vantages: list[VantageItem]
    items: list[DivergenceItem]
    more: int = 0  # disagreements beyond MAX_ITEMS, not listed


def _names(values: list[str]) -> str:
    shown = [clean(v, NAME_LIMIT) for v in values[:MAX_SHOWN]]
    return ", ".join(shown) + (", …" if len(values) > MAX_SHOWN else "")


def _observed(d: Disagreement, o: Observation, tr: Translator) -> str:
    if d.kind == "mx":
        return _names(o.hosts) or tr.t("divergence.no_mx")
    if d.kind in ("country", "addresses"):
        where = ", ".join(tr.country(c) if c else tr.t("common.unknown") for c in dict.fromkeys(o.countries))
        return f"{_names(o.addresses)} ({where})" if o.addresses else tr.t("divergence.no_address")
    status = tr.t_or(f"status.{o.status}", str(o.status))
    return f"{status} ({_names(o.values)})" if o.values else status


def _about(d: Disagreement, tr: Translator) -> str:
    if d.kind == "mx":
        return tr.t("divergence.about_mx", domain=clean(d.subject, NAME_LIMIT))
    if d.kind in ("country", "addresses"):
        return tr.t("divergence.about_host", host=clean(d.subject, NAME_LIMIT))
    check = tr.t_or(f"check.{check_key(d.check)}", clean(d.check, NAME_LIMIT))
    return tr.t("divergence.about_check", check=check, target=clean(d.target or d.subject, NAME_LIMIT))


def _meaning(d: Disagreement) -> str:
    if d.kind == "status":
        return "divergence.means_untested" if any(o.status == "error" for o in d.seen) else "divergence.means_status"
    return f"divergence.means_{d.kind}"


def divergence_section(view: ReportView, tr: Translator) -> DivergenceSection | None:
    """The section for an audit measured from several vantage points; None for one vantage (no section)."""
    audit = view.audit
    if len(audit.vantages) < 2:
        return None
    names, found = view.names, view.disagreements
    items = [DivergenceItem(provider=clean(names.get(d.provider, d.provider), NAME_LIMIT), about=_about(d, tr),
                            seen=[Seen(clean(o.vantage, NAME_LIMIT), _observed(d, o, tr)) for o in d.seen],
                            meaning=tr.t(_meaning(d)))
             for d in found[:MAX_ITEMS]]
    vantages = [VantageItem(clean(v.name or "", NAME_LIMIT), vantage_line(v, tr)) for v in audit.vantages]
    return DivergenceSection(vantages=vantages, items=items, more=max(0, len(found) - MAX_ITEMS))
