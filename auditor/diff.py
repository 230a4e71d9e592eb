"""What changed between two audits, judged for a DPO: regressions, improvements, neutral changes. Pure.

Findings are matched by (provider, check id, subject, target); an audit from several vantage points is read
as one verdict per key (the worst among the vantages that could test it: `auditor.vantages.one_per_check`),
so it compares with a one-vantage audit and never reports a change twice. Each matched pair yields at most one
`Change`, whose kind is the worst of what its check-specific rules and its status transition say, and
whose message lists every reason. The rules:

- Status. `pass`/`warn`/`fail` are ordered: worse is a regression, better an improvement. Anything
  becoming `error` is a regression ("could not be verified": a fact we no longer know is not a pass).
  Leaving `error` is *neutral* ("verified again"), except `error -> fail`, a regression: the appearance of
  the error was already reported as a regression, and calling the recovery an improvement would let a
  flaky network read as a provider getting better. `info`/`skip` transitions are neutral.
  When either side is `error` its value is unknown, so only this status rule applies.
- `dns.mx`: hosts added or removed are neutral, unless a new MX lacks STARTTLS or its STARTTLS result is
  unknown (missing or `error`) in the new audit, or the domain now has a null MX: regression.
- `hosting.summary`: a new country outside the EU/EEA is a regression, a new EU/EEA country neutral; a
  country outside the EU/EEA no longer used is an improvement, an EU/EEA one neutral.
- `tls.protocols`: a legacy version (SSL, TLS 1.0, 1.1) gained or TLS 1.3 lost is a regression; the
  reverse an improvement; any other change neutral.
- `mta_sts`: mode ordered enforce > testing > none/unpublished; `valid` true -> false is a regression.
- `dane`: `valid` -> anything else, or anything -> `mismatch`, is a regression; -> `valid` an improvement.
- `dns.dnssec`: `secure` -> anything, or anything -> `bogus`, is a regression; -> `secure` an improvement.
- `smtp.starttls`: true -> false is a regression. `dmarc`: policy reject > quarantine > none > absent.
- `claim.*`: a changed `sha256` is neutral ("evidence page changed"); `verified` true -> false/unknown and
  `claimed` true -> false are regressions, `verified` -> true an improvement.
- Other value changes without a status change (a renewed certificate, a new SPF lookup count) are not
  reported: they are in the evidence, and reporting them would bury the changes that matter.
- Findings with no counterpart (a new host after an MX move) are summarised by `dns.mx` and
  `hosting.summary`; otherwise a new `fail`/`error` finding for a check the provider already had is a
  regression, one for a check new to the provider (a newer auditor) is neutral, and a check id the
  provider no longer has at all is neutral ("no longer checked").
- Providers added or removed are neutral (a scan with `--only` covers fewer providers).
- Score: grade down is a regression, up an improvement; a new blocking criterion a regression; a value
  move within the same grade neutral. Scores under different profiles are not compared.

`Change.before`/`after` hold `{"status", "value"}` for findings, `{"value", "grade", "blockers"}` for
scores, the provider name for added/removed providers. Messages come in English (`message`) and French
(`message_fr`) so that a stored diff renders in either language.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, computed_field

from auditor.findings import Audit, Finding, ProviderResult, Score, Status
from auditor.vantages import one_per_check

Kind = Literal["regression", "improvement", "neutral"]
_SEVERITY: dict[str, int] = {"regression": 2, "improvement": 1, "neutral": 0}

# Fallback when a hosting.summary lacks its own `outside_eu_eea` list: EU 27 + Iceland, Liechtenstein,
# Norway. The summary's list wins when present, since it is computed from the dated data files.
EU_EEA = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
        "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
    }
)


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Kind
    provider: str
    check: str  # a check id, or "provider" / "score"
    subject: str
    target: str | None = None
    before: Any = None
    after: Any = None
    message: str
    message_fr: str = ""  # empty: render_text falls back to `message`


class AuditDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    before_id: str
    after_id: str
    before_started_at: str
    after_started_at: str
    after_complete: bool = True
    changes: list[Change]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_regressions(self) -> bool:
        return any(c.kind == "regression" for c in self.changes)

    def of_kind(self, kind: Kind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


# -- messages ---------------------------------------------------------------------------------------


class Bi(NamedTuple):
    """A message parameter that reads differently in English and French."""

    en: str
    fr: str


_MESSAGES: dict[str, tuple[str, str]] = {
    "provider_added": ("provider added to the audit", "fournisseur ajouté à l'audit"),
    "provider_removed": ("provider no longer in the audit", "fournisseur absent de cet audit"),
    "unverifiable": ("could not be verified: {reason}", "n'a pas pu être vérifié : {reason}"),
    "verified_again": ("verified again: {status}", "de nouveau vérifié : {status}"),
    "status": ("status {before} → {after}", "statut {before} → {after}"),
    "no_longer_checked": ("no longer checked", "n'est plus vérifié"),
    "new_finding": ("new {where}: {summary}", "nouveau {where} : {summary}"),
    "new_check": ("new check: {summary}", "nouvelle vérification : {summary}"),
    "mx_added": ("new MX {hosts}", "nouveaux MX {hosts}"),
    "mx_removed": ("MX removed: {hosts}", "MX retirés : {hosts}"),
    "mx_no_starttls": ("new MX without STARTTLS: {hosts}", "nouveaux MX sans STARTTLS : {hosts}"),
    "mx_starttls_unknown": (
        "STARTTLS not verified on new MX: {hosts}",
        "STARTTLS non vérifié sur les nouveaux MX : {hosts}",
    ),
    "null_mx": ("the domain no longer accepts mail (null MX)", "le domaine n'accepte plus de courrier (MX nul)"),
    "country_new_outside": (
        "servers now in {countries}, outside the EU/EEA",
        "serveurs désormais en {countries}, hors UE/EEE",
    ),
    "country_new": ("servers now also in {countries}", "serveurs désormais aussi en {countries}"),
    "country_lost_outside": (
        "no more servers in {countries} (outside the EU/EEA)",
        "plus de serveurs en {countries} (hors UE/EEE)",
    ),
    "country_lost": ("no more servers in {countries}", "plus de serveurs en {countries}"),
    "tls_legacy_gained": ("legacy protocol now accepted: {versions}", "protocole obsolète accepté : {versions}"),
    "tls13_lost": ("TLS 1.3 no longer offered", "TLS 1.3 n'est plus proposé"),
    "tls_legacy_lost": ("legacy protocol dropped: {versions}", "protocole obsolète retiré : {versions}"),
    "tls13_gained": ("TLS 1.3 now offered", "TLS 1.3 désormais proposé"),
    "tls_other": ("protocols {before} → {after}", "protocoles {before} → {after}"),
    "mta_sts_mode": ("MTA-STS mode {before} → {after}", "mode MTA-STS {before} → {after}"),
    "mta_sts_invalid": ("MTA-STS policy no longer valid", "la politique MTA-STS n'est plus valide"),
    "dane": ("DANE {before} → {after}", "DANE {before} → {after}"),
    "dnssec": ("DNSSEC {before} → {after}", "DNSSEC {before} → {after}"),
    "starttls_lost": ("STARTTLS no longer offered", "STARTTLS n'est plus proposé"),
    "starttls_gained": ("STARTTLS now offered", "STARTTLS désormais proposé"),
    "dmarc": ("DMARC policy {before} → {after}", "politique DMARC {before} → {after}"),
    "dmarc_testing": ("DMARC now in test mode (t=y): not enforced",
                      "DMARC désormais en mode test (t=y) : non appliqué"),
    "dmarc_enforced": ("DMARC test mode ended", "fin du mode test DMARC"),
    "transfer": ("transfer basis {before} → {after}", "base du transfert {before} → {after}"),
    "claim_page": ("evidence page changed", "la page de preuve a changé"),
    "claim_unverified": ("claim no longer verified", "allégation plus vérifiée"),
    "claim_verified": ("claim now verified", "allégation désormais vérifiée"),
    "claim_withdrawn": ("no longer claimed by the provider", "le fournisseur ne l'affirme plus"),
    "claim_made": ("now claimed by the provider", "désormais affirmé par le fournisseur"),
    "grade": ("grade {before} → {after}", "note {before} → {after}"),
    "score": ("score {before} → {after}", "score {before} → {after}"),
    "blockers": ("new blocking criteria: {ids}", "nouveaux critères bloquants : {ids}"),
    "profile": (
        "scored under {before} then {after}: not compared",
        "notes selon {before} puis {after} : non comparées",
    ),
}

_STATUS_FR = {
    "pass": "conforme", "warn": "avertissement", "fail": "échec", "info": "info", "error": "erreur",
    "skip": "sans objet",
}


def _status_word(status: str) -> Bi:
    return Bi(status, _STATUS_FR.get(status, status))


def _none_word(value: object) -> str | Bi:
    return Bi("none", "aucun") if value is None else str(value)


@dataclass(frozen=True)
class _Judgment:
    kind: Kind
    en: str
    fr: str


def _say(kind: Kind, key: str, **params: object) -> _Judgment:
    en, fr = _MESSAGES[key]
    return _Judgment(
        kind,
        en.format(**{k: v.en if isinstance(v, Bi) else v for k, v in params.items()}),
        fr.format(**{k: v.fr if isinstance(v, Bi) else v for k, v in params.items()}),
    )


def _join(items: Iterable[object]) -> str:
    return ", ".join(str(i) for i in items)


# -- status rule ------------------------------------------------------------------------------------

_ORDERED_STATUS = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2}


def _status_judgment(before: Finding, after: Finding) -> _Judgment | None:
    b, a = before.status, after.status
    if b == a:
        return None
    if a == Status.ERROR:
        return _say("regression", "unverifiable", reason=after.summary)
    if b == Status.ERROR:
        if a == Status.FAIL:
            return _say("regression", "status", before=_status_word(b), after=_status_word(a))
        return _say("neutral", "verified_again", status=_status_word(a))
    kind: Kind = "neutral"
    if b in _ORDERED_STATUS and a in _ORDERED_STATUS:
        kind = "regression" if _ORDERED_STATUS[a] < _ORDERED_STATUS[b] else "improvement"
    return _say(kind, "status", before=_status_word(b), after=_status_word(a))


# -- check-specific rules ---------------------------------------------------------------------------


@dataclass
class _Context:
    """What a rule may look at beyond the pair: the provider's findings in the new audit."""

    after: ProviderResult
    covered_hosts: set[str] = field(default_factory=set)  # new MX hosts already judged by dns.mx


Rule = Callable[[Finding, Finding, _Context], list[_Judgment]]


def _host(name: object) -> str:
    return str(name).strip().rstrip(".").lower()


def _as_dict(value: object) -> dict[str, Any]:
    # Values come from stored JSON: a rule must not crash on a malformed one, just find nothing in it.
    return value if isinstance(value, dict) else {}


def _as_strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _mx_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    if not isinstance(before.value, list) or not isinstance(after.value, list):
        return []
    old = {_host(h) for h in before.value}
    new = {_host(h) for h in after.value}
    if old == new:
        return []  # a preference reordering does not change where mail goes
    if not new:
        return [_say("regression", "null_mx")]
    added, removed = sorted(new - old), sorted(old - new)
    ctx.covered_hosts.update(added)
    starttls: dict[str, list[Finding]] = defaultdict(list)
    for f in ctx.after.checks:
        if f.id == "smtp.starttls":
            starttls[_host(f.target or f.subject)].append(f)
    lacking = [h for h in added if any(f.status != Status.ERROR and f.value is False for f in starttls[h])]
    unknown = [
        h for h in added
        if h not in lacking and not any(f.status != Status.ERROR and f.value is True for f in starttls[h])
    ]
    out: list[_Judgment] = []
    if added:
        out.append(_say("neutral", "mx_added", hosts=_join(added)))
    if removed:
        out.append(_say("neutral", "mx_removed", hosts=_join(removed)))
    if lacking:
        out.append(_say("regression", "mx_no_starttls", hosts=_join(lacking)))
    if unknown:
        out.append(_say("regression", "mx_starttls_unknown", hosts=_join(unknown)))
    return out


def _outside(summary: dict[str, Any], country: str) -> bool:
    listed = summary.get("outside_eu_eea")
    if isinstance(listed, list):
        return country in listed
    return country.upper() not in EU_EEA


def _hosting_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    old_v, new_v = _as_dict(before.value), _as_dict(after.value)
    old, new = set(_as_strings(old_v.get("countries"))), set(_as_strings(new_v.get("countries")))
    gained, lost = sorted(new - old), sorted(old - new)
    out: list[_Judgment] = []
    if outside := [c for c in gained if _outside(new_v, c)]:
        out.append(_say("regression", "country_new_outside", countries=_join(outside)))
    if inside := [c for c in gained if c not in outside]:
        out.append(_say("neutral", "country_new", countries=_join(inside)))
    if outside := [c for c in lost if _outside(old_v, c)]:
        out.append(_say("improvement", "country_lost_outside", countries=_join(outside)))
    if inside := [c for c in lost if c not in outside]:
        out.append(_say("neutral", "country_lost", countries=_join(inside)))
    return out


_LEGACY_TLS = {"sslv2", "sslv3", "tlsv1", "tlsv1.0", "tlsv1.1"}


def _tls_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    if not isinstance(before.value, list) or not isinstance(after.value, list):
        return []
    old, new = set(_as_strings(before.value)), set(_as_strings(after.value))
    if old == new:
        return []

    def norm(versions: set[str]) -> set[str]:
        return {v.replace(" ", "").lower() for v in versions}

    out: list[_Judgment] = []
    if gained := sorted(v for v in new - old if norm({v}) <= _LEGACY_TLS):
        out.append(_say("regression", "tls_legacy_gained", versions=_join(gained)))
    if "tlsv1.3" in norm(old) and "tlsv1.3" not in norm(new):
        out.append(_say("regression", "tls13_lost"))
    if lost := sorted(v for v in old - new if norm({v}) <= _LEGACY_TLS):
        out.append(_say("improvement", "tls_legacy_lost", versions=_join(lost)))
    if "tlsv1.3" in norm(new) and "tlsv1.3" not in norm(old):
        out.append(_say("improvement", "tls13_gained"))
    if not out:
        out.append(_say("neutral", "tls_other", before=_join(sorted(old)), after=_join(sorted(new))))
    return out


def _ranked(
    key: str, order: Sequence[object], before: object, after: object, *, lowest: int = 0
) -> list[_Judgment]:
    """A change along an ordered scale (best last); values not on the scale rank `lowest`."""
    if before == after:
        return []
    rank_b = order.index(before) if before in order else lowest
    rank_a = order.index(after) if after in order else lowest
    kind: Kind = "neutral" if rank_a == rank_b else "regression" if rank_a < rank_b else "improvement"
    return [_say(kind, key, before=_none_word(before), after=_none_word(after))]


def _mta_sts_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    old, new = _as_dict(before.value), _as_dict(after.value)
    out = _ranked("mta_sts_mode", ["none", "testing", "enforce"], old.get("mode"), new.get("mode"))
    if old.get("valid") is True and new.get("valid") is not True:
        out.append(_say("regression", "mta_sts_invalid"))
    return out


def _state_rule(best: str, worst: str, message: str) -> Rule:
    """For checks whose value is a state: leaving `best` or reaching `worst` is a regression, reaching
    `best` an improvement, any other move neutral."""

    def rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
        b, a = before.value, after.value
        if b == a:
            return []
        kind: Kind = "neutral"
        if b == best or a == worst:
            kind = "regression"
        elif a == best:
            kind = "improvement"
        return [_say(kind, message, before=_none_word(b), after=_none_word(a))]

    return rule


def _starttls_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    if before.value is True and after.value is False:
        return [_say("regression", "starttls_lost")]
    if before.value is False and after.value is True:
        return [_say("improvement", "starttls_gained")]
    return []


def _dmarc_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    old, new = _as_dict(before.value), _as_dict(after.value)
    out = _ranked("dmarc", [None, "none", "quarantine", "reject"], old.get("policy"), new.get("policy"))
    if old.get("testing") is False and new.get("testing") is True:  # RFC 9989 t=y: not enforcement
        out.append(_say("regression", "dmarc_testing"))
    elif old.get("testing") is True and new.get("testing") is False:
        out.append(_say("improvement", "dmarc_enforced"))
    return out


def _transfer_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    """Chapter V: a transfer that now needs safeguards (or can no longer be established) is a regression."""
    old, new = _as_dict(before.value).get("mechanism"), _as_dict(after.value).get("mechanism")
    return _ranked("transfer", ["safeguards", "unknown", "adequacy", "none"], old, new)


def _claim_rule(before: Finding, after: Finding, ctx: _Context) -> list[_Judgment]:
    old, new = _as_dict(before.value), _as_dict(after.value)
    out: list[_Judgment] = []
    if old.get("claimed") is True and new.get("claimed") is False:
        out.append(_say("regression", "claim_withdrawn"))
    elif old.get("claimed") is False and new.get("claimed") is True:
        out.append(_say("neutral", "claim_made"))
    if old.get("verified") is True and new.get("verified") is not True:
        out.append(_say("regression", "claim_unverified"))
    elif old.get("verified") is not True and new.get("verified") is True:
        out.append(_say("improvement", "claim_verified"))
    if old.get("sha256") and new.get("sha256") and old.get("sha256") != new.get("sha256"):
        out.append(_say("neutral", "claim_page"))
    return out


_RULES: dict[str, Rule] = {
    "dns.mx": _mx_rule,
    "hosting.summary": _hosting_rule,
    "tls.protocols": _tls_rule,
    "mta_sts": _mta_sts_rule,
    "dane": _state_rule("valid", "mismatch", "dane"),
    "dns.dnssec": _state_rule("secure", "bogus", "dnssec"),
    "smtp.starttls": _starttls_rule,
    "dmarc": _dmarc_rule,
    "transfer": _transfer_rule,
}


def _rule_for(check_id: str) -> Rule | None:
    if check_id.startswith("claim."):
        return _claim_rule
    return _RULES.get(check_id)


# -- assembling changes -----------------------------------------------------------------------------

Key = tuple[str, str, str | None, int]  # check id, subject, target, occurrence (duplicates pair in order)


def _keyed(checks: Iterable[Finding]) -> dict[Key, Finding]:
    seen: dict[tuple[str, str, str | None], int] = defaultdict(int)
    out: dict[Key, Finding] = {}
    for f in checks:
        base = (f.id, f.subject, f.target)
        out[(*base, seen[base])] = f
        seen[base] += 1
    return out


def _finding_state(f: Finding) -> dict[str, Any]:
    return {"status": f.status.value, "value": f.value}


def _combine(provider: str, f: Finding, before: Any, after: Any, judgments: list[_Judgment]) -> Change:
    kind = max((j.kind for j in judgments), key=_SEVERITY.__getitem__)
    return Change(
        kind=kind, provider=provider, check=f.id, subject=f.subject, target=f.target, before=before,
        after=after, message="; ".join(j.en for j in judgments), message_fr="; ".join(j.fr for j in judgments),
    )


def _provider_changes(before: ProviderResult, after: ProviderResult) -> list[Change]:
    before = before.model_copy(update={"checks": one_per_check(before.checks)})
    after = after.model_copy(update={"checks": one_per_check(after.checks)})
    ctx = _Context(after=after)
    old, new = _keyed(before.checks), _keyed(after.checks)
    changes: list[Change] = []
    # dns.mx first: it records which new hosts it judged, so their findings are not reported again.
    matched = sorted((k for k in new if k in old), key=lambda k: k[0] != "dns.mx")
    for key in matched:
        b, a = old[key], new[key]
        judgments: list[_Judgment] = []
        rule = _rule_for(a.id)
        if rule is not None and Status.ERROR not in (b.status, a.status):
            judgments.extend(rule(b, a, ctx))
        if (status := _status_judgment(b, a)) is not None:
            judgments.append(status)
        if judgments:
            changes.append(_combine(after.id, a, _finding_state(b), _finding_state(a), judgments))
    old_ids = {f.id for f in before.checks}
    for key in (k for k in new if k not in old):
        a = new[key]
        judged_by_mx = a.id == "smtp.starttls" and _host(a.target or a.subject) in ctx.covered_hosts
        if a.id == "hosting.location" or judged_by_mx:
            continue  # summarised by hosting.summary / dns.mx
        if a.status not in (Status.FAIL, Status.ERROR):
            continue
        if a.id in old_ids:
            where = f"{a.subject} → {a.target}" if a.target else a.subject
            judgment = (
                _say("regression", "unverifiable", reason=a.summary)
                if a.status == Status.ERROR
                else _say("regression", "new_finding", where=where, summary=a.summary)
            )
        else:
            judgment = _say("neutral", "new_check", summary=a.summary)
        changes.append(_combine(after.id, a, None, _finding_state(a), [judgment]))
    new_ids = {f.id for f in after.checks}
    for check_id in sorted(old_ids - new_ids):
        changes.append(
            Change(
                kind="neutral", provider=after.id, check=check_id, subject=after.id,
                message=_MESSAGES["no_longer_checked"][0], message_fr=_MESSAGES["no_longer_checked"][1],
            )
        )
    if (score := _score_change(after.id, before.score, after.score)) is not None:
        changes.append(score)
    return changes


_GRADES = ["F", "E", "D", "C", "B", "A", "A+"]


def _score_state(score: Score) -> dict[str, Any]:
    return {"value": score.value, "grade": score.grade, "blockers": list(score.blockers)}


def _score_change(provider: str, before: Score | None, after: Score | None) -> Change | None:
    if before is None or after is None:
        return None  # an unscored side: nothing to compare, and the findings already tell
    judgments: list[_Judgment] = []
    if before.profile != after.profile:
        judgments.append(_say("neutral", "profile", before=before.profile, after=after.profile))
    else:
        rank_b, rank_a = _GRADES.index(before.grade), _GRADES.index(after.grade)
        if rank_a != rank_b:
            kind: Kind = "regression" if rank_a < rank_b else "improvement"
            judgments.append(_say(kind, "grade", before=before.grade, after=after.grade))
        if round(before.value, 1) != round(after.value, 1):
            judgments.append(_say("neutral", "score", before=f"{before.value:.1f}", after=f"{after.value:.1f}"))
        if gained := sorted(set(after.blockers) - set(before.blockers)):
            judgments.append(_say("regression", "blockers", ids=_join(gained)))
    if not judgments:
        return None
    kind = max((j.kind for j in judgments), key=_SEVERITY.__getitem__)
    return Change(
        kind=kind, provider=provider, check="score", subject=provider, before=_score_state(before),
        after=_score_state(after), message="; ".join(j.en for j in judgments),
        message_fr="; ".join(j.fr for j in judgments),
    )


def _order(change: Change) -> tuple[int, str, str, str]:
    return (-_SEVERITY[change.kind], change.check, change.subject, change.target or "")


def provider_diff(before: ProviderResult | None, after: ProviderResult) -> list[Change]:
    """The changes of one provider of the newer audit (`before`: the same provider in the older one, None when
    it was not there), regressions first."""
    if before is None:
        return [Change(kind="neutral", provider=after.id, check="provider", subject=after.id, after=after.name,
                       message=_MESSAGES["provider_added"][0], message_fr=_MESSAGES["provider_added"][1])]
    return sorted(_provider_changes(before, after), key=_order)


def provider_removed(provider_id: str, name: str) -> Change:
    return Change(kind="neutral", provider=provider_id, check="provider", subject=provider_id, before=name,
                  message=_MESSAGES["provider_removed"][0], message_fr=_MESSAGES["provider_removed"][1])


def assemble(before: Audit, after: Audit, changes: list[Change]) -> AuditDiff:
    """The diff of two audits (their headers are enough) from its changes, in order."""
    return AuditDiff(
        before_id=before.audit_id, after_id=after.audit_id, before_started_at=before.started_at,
        after_started_at=after.started_at, after_complete=after.complete, changes=changes,
    )


def diff_audits(before: Audit, after: Audit) -> AuditDiff:
    """Every change that matters from `before` to `after`: by provider (in `after`'s order, removed
    providers last), regressions first within a provider."""
    old = {p.id: p for p in before.providers}
    new = {p.id: p for p in after.providers}
    changes = [c for pid, provider in new.items() for c in provider_diff(old.get(pid), provider)]
    changes += [provider_removed(pid, provider.name) for pid, provider in old.items() if pid not in new]
    return assemble(before, after, changes)


# -- rendering --------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_TEXT = {
    "en": {
        "header": "Changes from audit {before} ({before_at}) to {after} ({after_at}): "
        "{regression} regression(s), {improvement} improvement(s), {neutral} other",
        "none": "No changes.",
        "incomplete": "Warning: the newer audit is incomplete; missing providers show as removed.",
        "regression": "REGRESSION", "improvement": "improved", "neutral": "changed", "colon": ": ",
    },
    "fr": {
        "header": "Changements de l'audit {before} ({before_at}) à {after} ({after_at}) : "
        "{regression} régression(s), {improvement} amélioration(s), {neutral} autre(s)",
        "none": "Aucun changement.",
        "incomplete": "Attention : l'audit le plus récent est incomplet ; les fournisseurs manquants "
        "apparaissent comme retirés.",
        "regression": "RÉGRESSION", "improvement": "amélioré", "neutral": "modifié", "colon": " : ",
    },
}


def _clean(text: str) -> str:
    # Host names, summaries and claim texts come from strangers: no terminal escapes, no bidi tricks,
    # no line breaks that would forge extra report lines.
    return _CONTROL.sub("?", text)


def render_text(diff: AuditDiff, lang: str = "en") -> str:
    """A short plain-text summary: one block per provider, providers with regressions first."""
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {', '.join(_TEXT)}, got {lang!r}")
    t = _TEXT[lang]
    counts = {kind: sum(c.kind == kind for c in diff.changes) for kind in ("regression", "improvement", "neutral")}
    lines = [
        t["header"].format(
            before=diff.before_id, before_at=diff.before_started_at, after=diff.after_id,
            after_at=diff.after_started_at, **counts,
        )
    ]
    if not diff.after_complete:
        lines.append(t["incomplete"])
    if not diff.changes:
        lines.append(t["none"])
        return _clean_lines(lines)
    by_provider: dict[str, list[Change]] = defaultdict(list)
    for change in diff.changes:
        by_provider[change.provider].append(change)
    ordered = sorted(by_provider.items(), key=lambda item: not any(c.kind == "regression" for c in item[1]))
    width = max(len(t[k]) for k in ("regression", "improvement", "neutral"))
    for provider, changes in ordered:
        lines.append("")
        lines.append(provider)
        for c in sorted(changes, key=lambda c: -_SEVERITY[c.kind]):
            where = c.subject if c.target is None else f"{c.subject} ({c.target})"
            text = c.message if lang == "en" else (c.message_fr or c.message)
            lines.append(f"  {t[c.kind]:<{width}}  {c.check} {where}{t['colon']}{text}")
    return _clean_lines(lines)


def _clean_lines(lines: list[str]) -> str:
    return "\n".join(_clean(line) for line in lines) + "\n"
