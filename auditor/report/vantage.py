"""The vantage point in the report: one line saying what it could test, and its limits, each with the way
out (docs/vantage.md). Shared by the HTML and Markdown renderings; every word comes from the catalogues."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.findings import Audit, Vantage
from auditor.report.clean import NAME_LIMIT, clean
from auditor.report.i18n import Translator


def _word(tr: Translator, value: bool | None, yes: str, no: str) -> str:
    return tr.t(yes) if value is True else tr.t(no) if value is False else tr.t("vantage.not_measured")


def vantage_line(vantage: Vantage, tr: Translator) -> str | None:
    """`IPv6 yes · outbound port 25 open · DNSSEC through the resolver yes (validating)`, or None for an audit
    stored before vantage points were characterised."""
    v = vantage
    if v.ipv6 is None and v.port25 is None and v.resolver_dnssec is None:
        return None
    dnssec = _word(tr, v.resolver_dnssec, "common.yes", "vantage.stripped")
    extras = [tr.t("vantage.validating")] if v.resolver_validates else []
    extras += [tr.t("vantage.stub")] if v.stub else []
    line = tr.t("vantage.line", ipv6=_word(tr, v.ipv6, "common.yes", "common.no"),
                port25=_word(tr, v.port25, "vantage.open", "vantage.blocked"), dnssec=dnssec)
    return line + (f" ({', '.join(extras)})" if extras else "")


def vantage_limits(vantage: Vantage, tr: Translator) -> list[str]:
    """One sentence per limit of this vantage point, each naming what it affects and the way out."""
    limits = []
    if vantage.resolver_dnssec is False:
        fix = (tr.t("vantage.dnssec_fix", fix=vantage.resolver_fix) if vantage.resolver_fix
               else tr.t("vantage.dnssec_nofix"))
        limits.append(f"{tr.t('vantage.dnssec', resolver=vantage.resolver)} {fix}")
    if vantage.port25 is False:
        limits.append(tr.t("vantage.port25"))
    if vantage.ipv6 is False:
        limits.append(tr.t("vantage.ipv6"))
    return limits


@dataclass(frozen=True)
class CoverVantage:
    """One vantage point of an audit measured from several, as the cover lists it."""

    name: str
    host: str
    resolver: str
    line: str | None  # what it could test (`vantage_line`)


def cover_vantages(audit: Audit, tr: Translator) -> list[CoverVantage]:
    """Every vantage point of an audit measured from several, in order; empty for one (the cover then shows
    `audit.vantage` as it always has). Names and hosts come from the workers' settings: cleaned."""
    if len(audit.vantages) < 2:
        return []
    return [CoverVantage(clean(v.name or "?", NAME_LIMIT), clean(v.host, NAME_LIMIT), clean(v.resolver, NAME_LIMIT),
                         vantage_line(v, tr)) for v in audit.vantages]


def audit_limits(audit: Audit, tr: Translator) -> list[str]:
    """The limits of the audit's vantage point; with several, each one's limits, naming the vantage it is of."""
    if len(audit.vantages) < 2:
        return vantage_limits(audit.vantage, tr)
    return [tr.t("vantage.limit_from", name=clean(v.name or "?", NAME_LIMIT), limit=limit)
            for v in audit.vantages for limit in vantage_limits(v, tr)]
