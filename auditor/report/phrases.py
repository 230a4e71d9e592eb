"""Structured facts said in words, in the report's language: criterion details, adequacy decisions, use
reasons, roles, hosting, claims. Every word comes from the catalogues (locales/*.yaml); scanned values are
shown as they are (host names, protocol keywords), numbers and dates in the language's format.

This is what keeps English out of the French report: the findings' `summary` and the criteria's `reason`
are English technical records, kept for the annex; the client report says the same from the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.findings import Detail, UseReason
from auditor.report.clean import NAME_LIMIT, clean
from auditor.report.context import ReportContext
from auditor.report.i18n import Translator
from auditor.report.sheet import Company, Decision, Hosting, Operator

VALUE_LIMIT = 80
LIST_SHOWN = 6  # values of a list shown in a detail; the annex has them all


def check_key(check: str) -> str:
    """The catalogue segment of a check id: `tls.certificate` → `tls_certificate`, every `claim.*` → `claim`."""
    return "claim" if check.startswith("claim.") else check.replace(".", "_")


class Phrases:
    def __init__(self, tr: Translator, ctx: ReportContext, provider_id: str = "") -> None:
        self.tr, self.ctx, self.provider_id = tr, ctx, provider_id

    # --- values ---------------------------------------------------------------------------------------
    def countries(self, codes: Iterable[str]) -> str:
        return ", ".join(self.tr.country(c) for c in codes) or self.tr.t("value.empty")

    def token(self, check: str, field: str | None, value: str) -> str:
        """A word from the data (`secure`, `safeguards`, `third_party`) in the report's language when the
        catalogue knows it, else as measured (protocol keywords such as `enforce`, `-all`, `TLSv1.2`)."""
        if field == "region":
            return self.tr.t_or(f"region.{value}", clean(value, VALUE_LIMIT))
        if field in ("countries", "outside_eu_eea", "outside_adequacy") and len(value) == 2:
            return self.tr.country(value)
        if field == "foreign_access":
            return self.tr.t_or(f"access_law.{value}", clean(value, VALUE_LIMIT))
        key = f"value.{check_key(check)}.{field or 'value'}.{value}"
        # Protocol keywords and versions (enforce, -all, TLSv1.2) have no entry: they are shown as measured.
        return self.tr.t(key) if self.tr.has(key) else clean(value, VALUE_LIMIT)

    def value(self, check: str, field: str | None, value: Any) -> str:
        tr = self.tr
        if value is None:
            return tr.t("value.null")
        if isinstance(value, bool):
            return tr.t("common.yes" if value else "common.no")
        if isinstance(value, int | float):
            return tr.number(value)
        if isinstance(value, list | tuple):
            if not value:
                return tr.t("value.empty")
            shown = [self.value(check, field, v) for v in value[:LIST_SHOWN]]
            more = len(value) - LIST_SHOWN
            return ", ".join(shown) + (" " + tr.t("value.more", count=tr.number(more)) if more > 0 else "")
        if isinstance(value, str):
            return self.token(check, field, value)
        return clean(str(value), VALUE_LIMIT)

    def expected(self, d: Detail) -> str:
        op, expected = d.op or "equals", d.expected
        if op == "empty":
            return self.tr.t("expect.empty" if expected else "expect.not_empty")
        if op == "in" and isinstance(expected, list) and len(expected) == 1:
            op, expected = "equals", expected[0]
        shown = self.value(d.check, d.field, expected)
        return self.tr.t_or(f"expect.{op}", shown, value=shown)

    # --- criteria -------------------------------------------------------------------------------------
    def check_label(self, check: str) -> str:
        if check.startswith("claim."):
            name = check.removeprefix("claim.")
            return self.tr.t_or(f"claim.{name}", clean(name, NAME_LIMIT))
        return self.tr.t_or(f"check.{check_key(check)}", clean(check, NAME_LIMIT))

    def field_label(self, check: str, field: str | None) -> str:
        label = self.tr.t_or(f"field.{check_key(check)}.{field or 'value'}", clean(field or check, NAME_LIMIT))
        if check.startswith("claim."):
            return f"{self.check_label(check)} — {label}"
        return label

    def detail(self, d: Detail) -> str:
        """One reason a criterion lost points, in a sentence: where, what was measured, what was expected."""
        tr = self.tr
        # Provider-level checks name the provider, claims their evidence page: neither says where.
        target = d.target if d.target and d.target != self.provider_id and "://" not in d.target else None
        if d.summary_key == "predicate":
            text = tr.t("detail.predicate", label=self.field_label(d.check, d.field),
                        observed=self.value(d.check, d.field, d.observed), expected=self.expected(d))
        elif d.summary_key == "missing":
            text = tr.t("detail.missing", label=self.field_label(d.check, d.field))
        elif d.summary_key == "unknown":
            text = tr.t("detail.unknown", check=self.check_label(d.check))
        elif d.summary_key == "error":
            text = tr.t("detail.error", check=self.check_label(d.check))
        else:
            text = tr.t("detail.no_finding", check=self.check_label(d.check))
        return tr.t("detail.at", target=target, text=text) if target else text

    def criterion_short(self, cid: str) -> str:
        info = self.ctx.criteria.get(cid)
        return clean(info.short_in(self.ctx.lang, cid) if info else cid, NAME_LIMIT)

    # --- uses -----------------------------------------------------------------------------------------
    def use_reason(self, r: UseReason) -> str:
        tr = self.tr
        if r.code in ("blocker", "not_verified"):
            return tr.t(f"use_reason.{r.code}", criterion=self.criterion_short(r.criterion or ""))
        if r.code in ("below_threshold", "near_threshold"):
            return tr.t(f"use_reason.{r.code}", value=tr.number(r.value or 0), threshold=tr.number(r.threshold or 0))
        return tr.t("use_reason.outside_profile")

    # --- adequacy decisions ---------------------------------------------------------------------------
    def decision(self, d: Decision) -> str:
        """"décision d'adéquation 2000/518/CE du 26 juillet 2000" — the number in the language's form
        (EC → CE, (EU) → (UE) in French, as EUR-Lex writes them)."""
        tr = self.tr
        number = d.number
        if number and tr.lang == "fr":
            number = number.replace("/EC", "/CE").replace("/EU", "/UE").replace("(EU)", "(UE)")
        date = tr.day(d.date) if d.date else tr.t("common.unknown_date")
        return tr.t("decision.name", number=number, date=date) if number else tr.t("decision.no_number", date=date)

    def decision_notes(self, d: Decision) -> list[str]:
        tr = self.tr
        notes = []
        if d.condition == "dpf_certified":
            notes.append(tr.t("decision.dpf"))
        scope = d.scope.get(tr.lang) or d.scope.get("en")
        if scope:
            notes.append(tr.t("decision.scope", scope=scope))
        if d.valid_until:
            notes.append(tr.t("decision.valid_until", date=tr.day(d.valid_until)))
        notes.append(tr.t("decision.certain" if d.certain else "decision.uncertain"))
        return notes

    # --- company, hosting -----------------------------------------------------------------------------
    def role(self, c: Company | None) -> str:
        return self.tr.t(f"role.{c.role}" if c and c.role else "role.unknown")

    def hosting(self, h: Hosting) -> list[str]:
        """`réception du courrier (MX) : Allemagne` per data-carrying role."""
        return [self.tr.t("hosting.role_line", role=self.tr.t_or(f"host_role.{role}", clean(role, 40)),
                          countries=self.countries(countries))
                for role, countries in h.roles.items()]

    def via(self, via: list[str]) -> str:
        return ", ".join(self.tr.t_or(f"via.{v}", clean(v, 40)) for v in via)

    def operator(self, o: Operator) -> str:
        """`Amazon.com, Inc. (AS16509, États-Unis)`: the registrant, its network, its country of registration."""
        name = o.org or (f"AS{o.asn}" if o.asn is not None else self.tr.t("common.unknown"))
        details = ([f"AS{o.asn}"] if o.org and o.asn is not None else []) + \
            ([self.tr.country(o.country)] if o.country else [])
        return f"{name} ({', '.join(details)})" if details else name

    def operators(self, found: Iterable[Operator]) -> str:
        return ", ".join(self.operator(o) for o in found)
