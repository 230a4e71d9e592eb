"""Register rows and transfer impact assessment worksheets from an audit, the catalog and the DPO's file: pure.

One row per use the DPO declares. What the audit and the catalog know is filled in (recipient and role,
countries of the data-carrying servers, transfers and their basis, the Art. 32 measures observed, the audit
as evidence); what only the DPO knows comes from the DPO's file, and what nobody has answered yet is marked
"to be completed by the DPO", never guessed. Labels and references: auditor/data/register.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from auditor.catalog import Catalog, Provider
from auditor.errors import CatalogError
from auditor.findings import Audit, Finding, ProviderResult, Status
from auditor.regions import decision_for
from auditor.register.uses import RegisterFile, Use
from auditor.vantages import one_per_check

DATA = Path(__file__).resolve().parent.parent / "data" / "register.yaml"
TIA_MECHANISMS = ("safeguards", "unknown")  # no worksheet for none / adequacy (CNIL AITD guide: not needed)

PHRASES: dict[str, dict[str, str]] = {
    "processor": {"fr": "sous-traitant (art. 28)", "en": "processor (Art. 28)"},
    "controller": {"fr": "responsable de traitement distinct", "en": "separate controller"},
    "role_unknown": {"fr": "rôle non établi", "en": "role not established"},
    "mech_none": {"fr": "Aucun transfert : importateur et serveurs portant les données dans l’UE/EEE",
                  "en": "No transfer: importer and data-carrying servers in the EU/EEA"},
    "mech_adequacy": {"fr": "Décision d’adéquation : {decisions}", "en": "Adequacy decision: {decisions}"},
    "dpf": {"fr": "cadre UE–États-Unis (DPF) : organisation certifiée", "en": "EU–US DPF: certified organisation"},
    "mech_safeguards": {"fr": "Aucune adéquation ne couvre {countries} : CCT requises (art. 46(2)(c), décision (UE) "
                                "2021/914) et une AITD (voir la feuille)",
                        "en": "No adequacy decision covers {countries}: SCC required (Art. 46(2)(c), Decision (EU) "
                              "2021/914) and a transfer impact assessment (see its sheet)"},
    # the mechanism's name in step 2 of the worksheet: the audit's code in English, words in French
    "mechanism_none": {"fr": "aucun transfert", "en": "none"},
    "mechanism_adequacy": {"fr": "décision d’adéquation", "en": "adequacy"},
    "mechanism_safeguards": {"fr": "garanties appropriées (art. 46)", "en": "safeguards"},
    "mechanism_unknown": {"fr": "non établi", "en": "unknown"},
    "mech_unknown": {"fr": "Non établi par l’audit : à vérifier par le DPO", "en": "Not established by the audit: "
                                                                              "for the DPO to check"},
    "importer": {"fr": "importateur {name} ({country})", "en": "importer {name} ({country})"},
    "servers": {"fr": "serveurs en {countries} ({roles})", "en": "servers in {countries} ({roles})"},
    "group": {"fr": "établissements du groupe : {countries} (accès à distance possible)",
              "en": "group establishments: {countries} (remote access possible)"},
    "starttls": {"fr": "STARTTLS sur {ok}/{all} MX", "en": "STARTTLS on {ok}/{all} MX"},
    "tls_modern": {"fr": "TLS 1.2+ uniquement sur {ok}/{all} points d’accès", "en": "TLS 1.2+ only on {ok}/{all} "
                                                                                  "endpoints"},
    "dane": {"fr": "DANE valide sur {ok}/{all} MX", "en": "DANE valid on {ok}/{all} MX"},
    "mta_sts": {"fr": "MTA-STS : {mode}", "en": "MTA-STS: {mode}"},
    "claim": {"fr": "{name} : {state}", "en": "{name}: {state}"},
    "not_claimed": {"fr": "non revendiqué", "en": "not claimed"},
    "claim_unknown": {"fr": "non établi dans les sources consultées", "en": "not established in the sources read"},
    "claim_unverified": {"fr": "revendiqué, preuve non vérifiée", "en": "claimed, evidence not verified"},
    "level": {"fr": "revendiqué, preuve : {level}", "en": "claimed, evidence: {level}"},
    "evidence": {"fr": "audit {audit} du {date}", "en": "audit {audit} of {date}"},
    "lab": {"fr": " (simulation de laboratoire)", "en": " (lab simulation)"},
    "tia_1": {"fr": "{importer} ; {servers} ; données : {data} ; finalité : {purpose}",
              "en": "{importer}; {servers}; data: {data}; purpose: {purpose}"},
    "tia_2": {"fr": "Mécanisme établi par l’audit : {mechanism}. {basis}", "en": "Mechanism per the audit: "
                                                                               "{mechanism}. {basis}"},
    "tia_3": {"fr": "Lois d’accès connues du catalogue : {laws}", "en": "Access laws known to the catalog: {laws}"},
    "tia_4": {"fr": "Mesures observées, candidates : {measures}", "en": "Measures observed, candidates: {measures}"},
    "tia_6": {"fr": "Audit de référence : {evidence}. Relancer `auditor scan` puis `auditor register` pour "
                    "réévaluer.", "en": "Baseline audit: {evidence}. Run `auditor scan` then `auditor register` "
                                        "again to re-evaluate."},
    "absent": {"fr": "absent", "en": "absent"},
    "invalid": {"fr": "invalide", "en": "invalid"},
    "level_attested": {"fr": "attestée par un tiers indépendant", "en": "attested by an independent body"},
    "level_stated": {"fr": "déclarée par le prestataire", "en": "stated by the provider"},
    "level_third_party": {"fr": "page d’un tiers seulement", "en": "a third party's page only"},
    "level_not_found": {"fr": "introuvable", "en": "not found"},
    "level_contradicted": {"fr": "contredite", "en": "contradicted"},
    "level_expired": {"fr": "expirée", "en": "expired"},
    "health": {"fr": "données de santé (art. 9)", "en": "health data (Art. 9)"},
    # the observations: what the audit found about foreign access, from the findings' data (not their English notes)
    "law": {"fr": "{law} : atteint le prestataire par {via} ({country}) ; {effect}",
            "en": "{law}: reaches the provider through {via} ({country}); {effect}"},
    "via_company": {"fr": "sa société", "en": "its company"},
    "via_parent": {"fr": "sa société mère", "en": "its parent company"},
    "via_presence": {"fr": "une implantation de son groupe", "en": "an establishment of its group"},
    "law_scored": {"fr": "pris en compte dans le score", "en": "counted in the score"},
    "law_risk": {"fr": "signalé comme risque, sans effet sur le score", "en": "shown as a risk, not scored"},
    "parent_unknown": {"fr": "société mère non connue", "en": "parent company not known"},
    "unassessed": {"fr": "établi en {countries} : aucune loi d’accès recensée, non évalué",
                   "en": "established in {countries}: no access law on record, not assessed"},
    "not_dpf": {"fr": "non connu comme certifié au titre du cadre UE–États-Unis (DPF)",
                "en": "not known to be certified under the EU–US Data Privacy Framework"},
    "operator": {"fr": "réseau d’hébergement exploité par {org} ({country}) : {law} peut l’atteindre (exposition de "
                       "l’opérateur, non un constat d’accès)",
                 "en": "hosting network operated by {org} ({country}): {law} may reach it (an exposure of the "
                       "operator, not a finding of access)"},
}


@cache
def texts() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return data


def say(key: str, lang: str, **values: object) -> str:
    return PHRASES[key][lang].format(**values)


def label(key: str, lang: str, **values: object) -> str:
    return str(texts()["labels"][key][lang]).format(**values)


def reference(key: str, lang: str) -> str:
    """A reference of register.yaml in the register's language (`text_fr` in French)."""
    ref = texts()["references"][key]
    return str(ref.get(f"text_{lang}") or ref["text"])


@dataclass(frozen=True)
class Sheet:
    name: str  # the tab's name (at most 31 characters: the xlsx limit)
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisterDoc:
    title: str
    meta: list[tuple[str, str]]  # label, value: the organisation (Art. 30(1)(a)) and the audit
    sheets: list[Sheet]
    lang: str


def _findings(result: ProviderResult, check: str) -> list[Finding]:
    # One verdict per check, subject and target: several vantage points do not count an MX twice.
    return [f for f in one_per_check(result.checks) if f.id == check]


def _value(result: ProviderResult, check: str) -> dict[str, Any]:
    found = _findings(result, check)
    return found[0].value if found and isinstance(found[0].value, dict) else {}


def _ratio(findings: list[Finding]) -> tuple[int, int]:
    counted = [f for f in findings if f.status != Status.SKIP]
    return sum(f.status == Status.PASS for f in counted), len(counted)


def security(result: ProviderResult, lang: str) -> list[str]:
    """The Art. 32 measures the audit observed, one phrase each."""
    measures: list[str] = []
    for check, key in (("smtp.starttls", "starttls"), ("tls.protocols", "tls_modern")):
        ok, total = _ratio(_findings(result, check))
        if total:
            measures.append(say(key, lang, ok=ok, all=total))
    dane = [f for f in _findings(result, "dane") if f.status != Status.SKIP]
    if dane:
        measures.append(say("dane", lang, ok=sum(f.value == "valid" for f in dane), all=len(dane)))
    modes = sorted({_sts_mode(f.value, lang) for f in _findings(result, "mta_sts") if isinstance(f.value, dict)})
    if modes:
        measures.append(say("mta_sts", lang, mode=", ".join(modes)))
    for name in ("e2ee", "zero_access", "2fa", "hds"):
        value = _value(result, f"claim.{name}")
        if not value:
            continue
        level = value.get("level")
        shown = say(f"level_{level}", lang) if f"level_{level}" in PHRASES else str(level)
        claimed = value.get("claimed")
        if claimed and level:
            state = say("level", lang, level=shown)
        elif claimed is False:
            state = say("not_claimed", lang)
        else:  # unknown is not "not claimed"; a claim whose page could not be read is not verified
            state = say("claim_unknown" if claimed is None else "claim_unverified", lang)
        if name == "hds" and value.get("valid_until") and level == "attested":
            state += f" ({value['valid_until']})"
        measures.append(say("claim", lang, name=name.upper() if name != "zero_access" else "zero-access", state=state))
    return measures


def _sts_mode(value: dict[str, Any], lang: str) -> str:
    if not value.get("published"):
        return say("absent", lang)
    return str(value.get("mode")) if value.get("valid") and value.get("mode") else say("invalid", lang)


def _cited(decision: dict[str, Any], lang: str) -> str:
    """A decision as the audit recorded it; in French, as a French document cites it (regions.yaml `reference_fr`,
    which carries the date), when the data file still knows the decision the audit relied on."""
    if lang == "fr":
        known = decision_for(str(decision.get("id") or ""))
        if known and known.reference_fr and known.reference == decision.get("reference"):
            return known.reference_fr
    return f"{decision['reference']} ({decision.get('date')})"


def _decisions(transfer: dict[str, Any], lang: str) -> list[str]:
    seen: dict[str, str] = {}
    for place in [transfer.get("importer") or {}, *(transfer.get("destinations") or [])]:
        decision = place.get("decision") or {}
        if decision.get("reference"):
            seen.setdefault(decision["id"], _cited(decision, lang))
    return list(seen.values())


def transfer_basis(provider: Provider, transfer: dict[str, Any], lang: str) -> str:
    mechanism = transfer.get("mechanism") or "unknown"
    if mechanism == "none":
        return say("mech_none", lang)
    if mechanism == "adequacy":
        text = say("mech_adequacy", lang, decisions="; ".join(_decisions(transfer, lang)) or "—")
        if provider.company.on_dpf_list and "US" in _outside(transfer):
            text += "; " + say("dpf", lang)
        return text
    if mechanism == "safeguards":
        return say("mech_safeguards", lang, countries=", ".join(transfer.get("outside_adequacy") or _outside(transfer)))
    return say("mech_unknown", lang)


def _outside(transfer: dict[str, Any]) -> list[str]:
    countries = list(transfer.get("outside_eu_eea") or [])
    importer = transfer.get("importer") or {}
    if importer.get("region") not in ("EU", "EEA", None) and importer.get("country") not in countries:
        countries.insert(0, importer["country"])
    return countries


def _group(transfer: dict[str, Any], listed: list[str], lang: str) -> str | None:
    """The group's establishments abroad not already `listed` (Proton: its parent is in CH, where the data
    already go): each country is said once."""
    group = [c for c in dict.fromkeys(transfer.get("group_abroad") or []) if c not in listed]
    return say("group", lang, countries=", ".join(group)) if group else None


def transfers(transfer: dict[str, Any], lang: str) -> str:
    outside = list(dict.fromkeys(_outside(transfer)))
    group = _group(transfer, outside, lang)
    return "; ".join([", ".join(outside) or label("none", lang), *([group] if group else [])])


def _role(provider: Provider, lang: str) -> str:
    role = provider.role.value
    text = say(role, lang) if role else say("role_unknown", lang)
    # The French text when there is one; else the catalog's English words, rather than nothing in a working file
    basis = (provider.role.basis_fr if lang == "fr" else None) or provider.role.basis
    return f"{text} — {basis}" if basis else text


def _recipient(provider: Provider) -> str:
    company = provider.company
    return f"{provider.name} — {company.legal_name or provider.name} ({company.country or '?'})"


def _evidence(audit: Audit, lang: str) -> str:
    text = say("evidence", lang, audit=audit.audit_id, date=(audit.finished_at or audit.started_at)[:10])
    return text + (say("lab", lang) if audit.vantage.lab else "")


def _law_title(law: dict[str, Any], lang: str) -> str:
    """A law's title in the register's language: the client report's translation, else the data file's."""
    from auditor.report.i18n import load_catalog

    translated = load_catalog("fr" if lang == "fr" else "en").get(f"access_law.{law.get('id')}")
    return translated or str(law.get("title") or law.get("id") or "?")


def access_remarks(result: ProviderResult, lang: str) -> list[str]:
    """Foreign access, in the register's language: the laws that reach the provider (`jurisdiction.company`), an
    unknown parent, countries not assessed, the DPF status of a US company, and the operators of its hosting
    networks that a law may reach (`hosting.summary`)."""
    found = _findings(result, "jurisdiction.company")
    value = _value(result, "jurisdiction.company")
    evidence = found[0].evidence if found else {}
    remarks = []
    for law in evidence.get("access_laws") or []:
        if isinstance(law, dict):
            via = ", ".join(say(f"via_{v}", lang) for v in law.get("via") or [] if f"via_{v}" in PHRASES)
            remarks.append(say("law", lang, law=_law_title(law, lang), via=via, country=law.get("country"),
                               effect=say("law_scored" if law.get("scored") else "law_risk", lang)))
    if value.get("parent_known") is False:
        remarks.append(say("parent_unknown", lang))
    if value.get("unassessed"):
        remarks.append(say("unassessed", lang, countries=", ".join(value["unassessed"])))
    if value.get("country") == "US" and evidence.get("dpf_certified") is not True:
        remarks.append(say("not_dpf", lang))
    summary = _findings(result, "hosting.summary")
    for o in (summary[0].evidence.get("foreign_operators") or []) if summary else []:
        if isinstance(o, dict):
            laws = [law for law in o.get("laws") or [] if isinstance(law, dict)] or [{"title": o.get("law")}]
            remarks.append(say("operator", lang, org=o.get("org") or f"AS{o.get('asn')}", country=o.get("country"),
                               law=", ".join(_law_title(law, lang) for law in laws)))
    return remarks


def register_row(use: Use, provider: Provider, result: ProviderResult, audit: Audit, lang: str) -> list[str]:
    transfer = _value(result, "transfer")
    summary = _value(result, "hosting.summary")
    categories = list(use.data_categories) + ([say("health", lang)] if use.health_data else [])
    return [use.activity, use.joint_controller or "", use.purpose, "; ".join(use.data_subjects),
            "; ".join(dict.fromkeys(categories)), _recipient(provider), _role(provider, lang),
            ", ".join(summary.get("countries") or []) or label("unknown", lang), transfers(transfer, lang),
            transfer_basis(provider, transfer, lang), use.retention, "; ".join(security(result, lang)),
            "; ".join(access_remarks(result, lang)), _evidence(audit, lang)]


def _mechanism_key(transfer: dict[str, Any]) -> str:
    key = f"mechanism_{transfer.get('mechanism') or 'unknown'}"
    return key if key in PHRASES else "mechanism_unknown"


def tia_sheet(use: Use, provider: Provider, result: ProviderResult, audit: Audit, lang: str) -> Sheet:
    """The six steps of EDPB Recommendations 01/2020 for one provider, pre-filled with what the audit knows."""
    transfer = _value(result, "transfer")
    importer = transfer.get("importer") or {}
    destinations = transfer.get("destinations") or []
    countries = list(dict.fromkeys(d["country"] for d in destinations))
    servers = say("servers", lang, countries=", ".join(countries) or "—",
                  roles=", ".join(sorted({r for d in destinations for r in d.get("roles", [])})) or "—")
    group = _group(transfer, [str(importer.get("country")), *countries], lang)
    todo = label("to_complete", lang)
    answers = [
        say("tia_1", lang, importer=say("importer", lang, name=provider.company.legal_name or provider.name,
                                        country=importer.get("country") or "?"),
            servers=servers + (f"; {group}" if group else ""),
            data="; ".join(use.data_categories) + ("; " + say("health", lang) if use.health_data else ""),
            purpose=use.purpose),
        say("tia_2", lang, mechanism=say(_mechanism_key(transfer), lang),
            basis=transfer_basis(provider, transfer, lang)),
        say("tia_3", lang, laws="; ".join(access_remarks(result, lang)) or label("none", lang)),
        say("tia_4", lang, measures="; ".join(security(result, lang)) or label("none", lang)),
        "",
        say("tia_6", lang, evidence=_evidence(audit, lang)),
    ]
    steps = texts()["tia_steps"]
    columns = texts()["tia_columns"]
    rows = [[step["step"][lang], step["question"][lang], answer, todo] for step, answer in zip(steps, answers,
                                                                                                strict=True)]
    name = label("tia_sheet", lang, provider=provider.id)[:31]
    return Sheet(name, label("tia_title", lang, provider=provider.name),
                 [columns[k][lang] for k in ("step", "question", "audit", "dpo")], rows,
                 [reference(key, lang) for key in ("edpb_01_2020", "scc", "cnil_aitd")])


def build(audit: Audit, catalog: Catalog, uses: RegisterFile, lines: dict[int, int], path: str, lang: str,
          seal: str | None = None) -> RegisterDoc:
    """The register of `uses` from `audit`; a use naming a provider the audit or the catalog lacks is a
    `FILE:LINE` error."""
    results = {p.id: p for p in audit.providers}
    known = {p.id: p for p in catalog.providers}
    columns = texts()["columns"]
    rows: list[list[str]] = []
    sheets: list[Sheet] = []
    for index, use in enumerate(uses.uses):
        if use.provider not in results or use.provider not in known:
            where = "audit " + audit.audit_id if use.provider not in results else "catalog"
            raise CatalogError(path, lines.get(index), f"provider {use.provider!r} is not in the {where}; audited: "
                                                       f"{', '.join(results) or 'none'}")
        provider, result = known[use.provider], results[use.provider]
        rows.append(register_row(use, provider, result, audit, lang))
        if _value(result, "transfer").get("mechanism", "unknown") in TIA_MECHANISMS and not any(
                s.name == label("tia_sheet", lang, provider=provider.id)[:31] for s in sheets):
            sheets.append(tia_sheet(use, provider, result, audit, lang))
    org = uses.organisation
    meta = [(label(key, lang), getattr(org, key if key != "organisation" else "name") or "")
            for key in ("organisation", "address", "controller", "representative", "dpo")]
    if seal:
        meta.append((label("seal", lang), seal))
    notes = [label("draft", lang, audit=audit.audit_id, date=(audit.finished_at or audit.started_at)[:10])]
    if audit.vantage.lab:
        notes.insert(0, label("lab", lang))
    refs = texts()["references"]
    sources = [label("source_line", lang, column=c[lang], source=c.get(f"source_{lang}") or c["source"], art=c["art"])
               for c in columns.values()]
    sources += [f"{reference(key, lang)} — {r['url']}" for key, r in refs.items()]
    register = Sheet(label("register_sheet", lang), label("title", lang), [columns[k][lang] for k in columns],
                     rows, notes)
    return RegisterDoc(label("title", lang), meta, [register, *sheets,
                                                    Sheet(label("sources", lang), label("sources", lang),
                                                          [label("sources", lang)], [[s] for s in sources])], lang)
