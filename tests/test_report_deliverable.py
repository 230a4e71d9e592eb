"""The client report as a deliverable (issue 12): the 18-provider demo prints to at most 40 pages in headless
Chromium, the raw evidence goes to the annex, the French report has no English left and French typography,
and every criterion carries its advice in both languages."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from pathlib import Path

import pytest
from test_report_browser import needs_chromium, pdf_layout

from auditor.access_laws import load_access_laws
from auditor.catalog import load_catalog
from auditor.findings import Audit
from auditor.lab import Lab
from auditor.report import render_audit_html, render_audit_markdown
from auditor.report.i18n import LANGS
from auditor.report.i18n import load_catalog as load_locale
from auditor.report.pdf import print_to_pdf
from auditor.report.phrases import check_key
from auditor.scan import run_scan
from auditor.scoring import load_criteria, score_audit
from auditor.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
MAX_PAGES = 40

# English that must not reach a French reader: words of the tool's English summaries and reasons, and the
# English names of French-language notions. Protocol keywords (enforce, none, reject, -all) are not prose.
ENGLISH = re.compile(r"\b(the|is|are|and|with|without|not|expected|found|claimed|accepts|offered|could|missing|"
                     r"servers?|should|must|only|from|this|that|which|provider|encryption|EDPB|GDPR|"
                     r"certificate|policy|record)\b")
FRENCH_BANNED = re.compile(r"\b(conforme|non conforme|Audit de conformité)\b")
STRAIGHT_APOSTROPHE = re.compile(r"(?<=[A-Za-zÀ-ÿ])'(?=[A-Za-zÀ-ÿ])")
TIGHT_SEMICOLON = re.compile(r"(?<=[\w)]);")  # French sets a space before « ; »


@pytest.fixture(scope="module")
def demo(lab: Lab) -> Audit:
    """The demo's audit: every provider of providers.yaml, scanned in the lab (as `auditor demo` does)."""
    settings = load_settings({**lab.overrides(), "timeout": 3.0}, environ={})
    providers = list(load_catalog(ROOT / "providers.yaml").providers)
    assert len(providers) == 18
    return asyncio.run(run_scan(providers, settings))


def visible_prose(page: str) -> str:
    """The text a reader sees, without code, links' targets, styles or URLs written out."""
    page = re.sub(r"(?s)<(style|code|title)[^>]*>.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    page = html_lib.unescape(page)
    page = re.sub(r"https?://\S+", " ", page)
    return re.sub(r"\b[\w-]+(?:\.[\w-]+)+(?::\d+)?", " ", page)  # host names are scanned data, not prose


@needs_chromium
def test_demo_client_pdf_is_at_most_40_pages_and_the_annex_holds_the_evidence(demo: Audit, tmp_path: Path) -> None:
    audit = score_audit(demo, "sante")
    report, annex = tmp_path / "report.html", tmp_path / "annex.html"
    report.write_text(render_audit_html(audit, "fr"), encoding="utf-8")
    annex.write_text(render_audit_html(audit, "fr", document="annex"), encoding="utf-8")
    pages, where = pdf_layout(print_to_pdf(report, tmp_path / "report.pdf"))
    annex_pages, _ = pdf_layout(print_to_pdf(annex, tmp_path / "annex.pdf"))
    assert pages <= MAX_PAGES, pages
    assert annex_pages > pages  # the raw evidence went somewhere: to the annex
    # One sheet per provider, each starting its own page, in order.
    starts = [where[f"p-{i}"] for i in range(1, 19)]
    assert starts == sorted(set(starts))
    text = report.read_text(encoding="utf-8")
    assert "chain_pem" not in text and "BEGIN CERTIFICATE" not in text
    assert "Évaluation de la protection des données de santé" in text


@pytest.mark.parametrize("profile", ["sante", "rgpd"])
def test_french_report_has_no_english_and_french_typography(demo: Audit, profile: str) -> None:
    audit = score_audit(demo, profile)
    for document in ("report",):
        prose = visible_prose(render_audit_html(audit, "fr", document=document))
        english = sorted({m.group(0) for m in ENGLISH.finditer(prose)})
        assert english == [], [prose[max(0, m.start() - 60):m.end() + 60] for m in ENGLISH.finditer(prose)][:5]
        assert not FRENCH_BANNED.search(prose), FRENCH_BANNED.search(prose)
        straight = [prose[max(0, m.start() - 40):m.end() + 40] for m in STRAIGHT_APOSTROPHE.finditer(prose)]
        assert straight == []
        tight = [prose[max(0, m.start() - 40):m.end() + 40] for m in TIGHT_SEMICOLON.finditer(prose)]
        assert tight == []  # review 2026-12-02: the summary's and the uses table's "Mailfence; avec réserves"
        assert "CEPD" in prose and "EDPB" not in prose
        assert not re.search(r"\d\.\d", re.sub(r"\b(?:v?\d+\.\d+(?:\.\d+)*|L\.\d+(?:-\d+)?|R\.\d+-\d+)\b", "",
                                                   prose)), "a decimal point in French"
    md = render_audit_markdown(audit, "fr")
    assert not ENGLISH.search(visible_prose(re.sub(r"\]\(<[^>]*>\)", "]", md)))
    assert not TIGHT_SEMICOLON.search(visible_prose(re.sub(r"\]\(<[^>]*>\)", "]", md)))


def test_the_role_basis_is_in_the_reports_language(demo: Audit) -> None:
    """The catalog's `role.basis` in the English report, its `basis_fr` in the French one (never the English)."""
    audit = score_audit(demo, "rgpd")
    roles = {p.id: p.role for p in load_catalog(ROOT / "providers.yaml").providers}
    fr, en = (html_lib.unescape(render_audit_html(audit, lang)) for lang in ("fr", "en"))
    for pid in ("proton", "olvid", "whatsapp"):
        role = roles[pid]
        assert role.basis and role.basis_fr, pid
        assert role.basis_fr in fr and role.basis not in fr, pid
        assert role.basis in en and role.basis_fr not in en, pid


def sheet_text(page: str, name: str) -> str:
    """The visible text of one provider's sheet in a rendered client report."""
    [section] = [s for s in page.split('<section class="major sheet"')[1:] if f"<h2>{name} <span" in s]
    return squash(html_lib.unescape(re.sub(r"<[^>]+>", " ", section.split("</section>")[0])))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)  # no-break spaces included


def test_a_sheet_names_the_foreign_operator_of_its_hosting_network_and_the_law_that_reaches_it(demo: Audit) -> None:
    """Olvid's servers are in France on a network registered (RDAP) to Amazon.com, Inc. in the US: its sheet says
    so, with the CLOUD Act from access_laws.yaml, its source, and what its text says of data stored abroad, as an
    exposure of the hosting operator. Proton (its own network, in CH) gets none of it."""
    audit = score_audit(demo, "rgpd")
    law = next(x for x in load_access_laws().laws if x.id == "us_cloud_act")
    assert law.abroad
    pages = {lang: render_audit_html(audit, lang) for lang in LANGS}
    exposure = {"fr": "Une exposition de l’opérateur d’hébergement, non un constat d’accès aux données",
                "en": "An exposure of the hosting operator, not a finding that data were accessed"}
    operator = {"fr": "Amazon.com, Inc. (AS16509, États-Unis)", "en": "Amazon.com, Inc. (AS16509, United States)"}
    for lang, page in pages.items():
        olvid = sheet_text(page, "Olvid")
        assert f"{law.title.split(' — ')[0]} — 18 U.S.C. § 2713" in olvid
        assert operator[lang] in olvid and exposure[lang] in olvid and squash(law.abroad[lang]) in olvid, lang
        assert ("aucune loi d’accès étrangère recensée n’atteint la société elle-même" if lang == "fr"
                else "no recorded foreign access law reaches the company itself") in olvid
        assert 'href="https://www.law.cornell.edu/uscode/text/18/2713"' in page.split("<h2>Olvid <span")[1]
        proton = sheet_text(page, "Proton Mail")
        assert "Amazon" not in proton and exposure[lang] not in proton and "CLOUD Act" not in proton
        # its parent is in CH, where the data already go: no second mention of CH as a group establishment
        assert ("Implantations du groupe" if lang == "fr" else "Group establishments") not in proton
        # WhatsApp (Ireland, its parent in the US, no server there): the US is said, as a group establishment
        assert ("Implantations du groupe hors UE/EEE : États-Unis" if lang == "fr" else
                "Group establishments outside the EU/EEA: United States") in sheet_text(page, "WhatsApp")
        # Signal's servers are in the US on two US networks: the law is said once for both operators, and
        # nothing about servers in the EU/EEA
        signal = sheet_text(page, "Signal")
        assert signal.count(exposure[lang]) == 1 and squash(law.abroad[lang]) not in signal
        assert operator[lang] in signal and "Google LLC (AS15169" in signal
    assert ("peut atteindre Amazon.com, Inc. (AS16509, États-Unis), qui exploite le réseau hébergeant ses serveurs "
            "de données") in sheet_text(pages["fr"], "Olvid")


def test_the_english_check_would_catch_an_english_summary(demo: Audit) -> None:
    """The word list finds what the old report printed: the English finding summaries and reasons."""
    audit = score_audit(demo, "sante")
    summaries = " ".join(f.summary for p in audit.providers for f in p.checks)
    reasons = " ".join(c.reason or "" for p in audit.providers for c in (p.score.criteria if p.score else []))
    assert ENGLISH.search(summaries) and ENGLISH.search(reasons)
    annex = visible_prose(render_audit_html(audit, "fr", document="annex"))
    assert ENGLISH.search(annex)  # the technical record keeps the English summaries


def test_every_criterion_has_advice_and_every_field_it_reads_a_label() -> None:
    criteria = load_criteria()
    for c in criteria.criteria:
        assert c.short is not None and c.advice is not None, c.id
        for text in (c.short, c.advice.meaning, c.advice.action):
            assert text.fr and text.en and not STRAIGHT_APOSTROPHE.search(text.fr), c.id
    for lang in LANGS:
        catalog = load_locale(lang)
        for c in criteria.criteria:
            for rule in c.reads:
                for expect in rule.expect:
                    key = f"field.{check_key(rule.check)}.{expect.field or 'value'}"
                    assert key in catalog, (lang, c.id, key)
