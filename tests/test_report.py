"""Report renderers: escaping of hostile scanned data, self-containment, translations, CSV safety."""

from __future__ import annotations

import csv
import io
import re
import string
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from auditor.errors import ConfigError
from auditor.findings import Audit, CriterionResult, Finding, ProviderResult, Score, Status, Vantage
from auditor.report import (
    CSP,
    Branding,
    ChangeInfo,
    CriterionInfo,
    MissingTranslation,
    ReportContext,
    Translator,
    changes_info,
    criteria_info,
    render_audit_html,
    render_audit_markdown,
    render_csv,
    render_html,
    render_markdown,
)
from auditor.report import html as html_mod
from auditor.report.context import CHANGE_KINDS
from auditor.report.html import GLOSSARY_TERMS, LIMIT_ITEMS, METHOD_ITEMS, css_string
from auditor.report.i18n import LANGS, keys_used_in, load_catalog
from auditor.report.text import csv_cell, md
from auditor.report.view import CRITERION_SYMBOLS, REGIONS, VERDICT_SYMBOLS, build_view, clean, safe_url
from auditor.scoring import rank_within_kinds

DATA = Path(__file__).parent / "data" / "report"
REPORT_DIR = Path(html_mod.__file__).parent

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT}{IMG}"
GENERATED = datetime(2026, 12, 1, 8, 5, tzinfo=UTC)


# --- building audits -----------------------------------------------------------------------------------

def f(check: str, subject: str, status: Status = Status.PASS, value: Any = None, summary: str = "ok",
      target: str | None = None, **evidence: Any) -> Finding:
    return Finding(id=check, subject=subject, target=target, status=status, value=value, summary=summary,
                   evidence=evidence)


def location(host: str, ip: str, country: str | None, region: str, org: str = "Hoster GmbH",
             status: Status = Status.INFO) -> Finding:
    value = {"ip": ip, "country": country, "region": region, "asn": 64500, "org": org, "sources": ["lab"]}
    return f("hosting.location", host, status, value, f"{ip} in {country}", target=ip)


def claim(name: str, url: str | None, verified: bool | None = True) -> Finding:
    value = {"claimed": True, "evidence_url": url, "verified": verified, "checked_at": "2026-11-28T10:00:00Z",
             "sha256": "ab" * 32}
    return f(f"claim.{name}", "provider", Status.PASS if verified else Status.WARN, value, f"{name} claimed")


def criteria_results(statuses: dict[str, str]) -> list[CriterionResult]:
    checks = {
        "transport_encryption": ["smtp.starttls", "tls.protocols"],
        "downgrade_protection": ["mta_sts", "dane"],
        "hosting_location": ["hosting.location", "hosting.summary"],
        "claims_2fa": ["claim.2fa"],
    }
    points = {"met": 10.0, "partial": 5.0, "not_met": 0.0, "not_verified": 0.0, "not_applicable": 0.0}
    return [CriterionResult(id=cid, points=points[st], max=10, status=st,
                            reason=None if st == "met" else f"{cid} is {st}", checks=checks[cid])
            for cid, st in statuses.items()]


def mail_checks(domain: str, mx: str, ip: str, country: str, region: str) -> list[Finding]:
    return [
        f("dns.mx", domain, Status.PASS, [mx], f"1 MX for {domain}"),
        f("smtp.starttls", domain, Status.PASS, True, "STARTTLS offered", target=mx, banner="220 ESMTP"),
        f("tls.protocols", f"{mx}:25", Status.PASS, ["TLSv1.2", "TLSv1.3"], "TLS 1.2 and 1.3 only"),
        f("mta_sts", domain, Status.WARN, {"published": True, "mode": "testing", "valid": True},
          "MTA-STS in testing mode"),
        f("dane", domain, Status.FAIL, "none", "no TLSA record", target=mx),
        location(mx, ip, country, region),
        f("hosting.summary", domain, Status.INFO, {"countries": [country]}, f"servers in {country}"),
    ]


def scored_audit(lab: bool = True) -> Audit:
    posteo = ProviderResult(
        id="posteo", name="Posteo", kind="mail",
        score=Score(profile="rgpd", value=87.5, grade="A", criteria=criteria_results({
            "transport_encryption": "met", "downgrade_protection": "partial",
            "hosting_location": "met", "claims_2fa": "met"})),
        checks=[*mail_checks("posteo.de", "mx01.posteo.de", "185.67.36.1", "DE", "EU"),
                claim("2fa", "https://posteo.de/en/help/two-factor-authentication")],
    )
    signal = ProviderResult(
        id="signal", name="Signal", kind="chat",
        score=Score(profile="rgpd", value=61, grade="C", blockers=["hosting_location"],
                    criteria=criteria_results({"hosting_location": "not_met", "claims_2fa": "not_verified"})),
        checks=[location("chat.signal.org", "13.248.212.111", "US", "third_country", org="Amazon.com"),
                f("https.hsts", "chat.signal.org", Status.ERROR, None, "timed out after 10 s"),
                claim("e2ee", "https://signal.org/docs/", verified=None)],
    )
    evil = ProviderResult(
        id="evil", name=f"Evil {HOSTILE} Mail", kind="mail",
        score=Score(profile="rgpd", value=72, grade="B", blockers=[HOSTILE],
                    criteria=[CriterionResult(id="transport_encryption", points=7, max=10, status="partial",
                                              reason=f"reason {HOSTILE}",
                                              checks=["smtp.starttls", "spf"])]),
        checks=[
            f("smtp.starttls", f"evil{SCRIPT}.example", Status.FAIL, f"value {HOSTILE}", f"summary {HOSTILE}",
              target=f"mx.{IMG}", banner=f"220 {HOSTILE}", txt=[HOSTILE] * 3),
            f("spf", "evil.example", Status.WARN, {"record": f"v=spf1 {HOSTILE} ~all"}, "=cmd|' /C calc'!A0",
              record=HOSTILE),
            location(f"mx.{SCRIPT}", "192.0.2.66", f"<b>{SCRIPT}</b>", "<i>EU</i>", org=IMG),
            f(f"claim.{'zero_access'}", "evil", Status.PASS,
              {"claimed": True, "evidence_url": "javascript:alert(1)", "verified": True,
               "checked_at": SCRIPT, "sha256": IMG}, f"claim {HOSTILE}"),
            f("dns.mx", "evil.example", Status.PASS, [f"mx.\u202eevil{SCRIPT}"], "-2+3 bidi \u202etxt.exe"),
        ],
    )
    unscored = ProviderResult(
        id="mss", name="Opérateur MSSanté", kind="mssante",
        checks=mail_checks("mssante.fr", "mx.mssante.fr", "192.0.2.10", "FR", "EU"),
    )
    return Audit(audit_id="2026-11-29T0400Z-abcd", started_at="2026-11-29T04:00:00Z",
                 finished_at="2026-11-29T04:12:00Z", complete=True, tool_version="0.1.0", profile="rgpd",
                 vantage=Vantage(resolver="127.0.0.1:5353", host="lab-host", lab=lab),
                 providers=rank_within_kinds([signal, evil, posteo, unscored]))


def unscored_audit() -> Audit:
    audit = scored_audit(lab=False)
    providers = [p.model_copy(update={"score": None}) for p in audit.providers]
    return audit.model_copy(update={"providers": providers, "complete": False})


def criteria() -> dict[str, CriterionInfo]:
    raw = yaml.safe_load((DATA / "criteria.yaml").read_text(encoding="utf-8"))
    return {cid: CriterionInfo.model_validate(info) for cid, info in raw.items()}


def context(lang: str = "fr", **kw: Any) -> ReportContext:
    from auditor.report import profile_info
    from auditor.scoring import load_profile

    profile, uses = profile_info(load_profile("rgpd"))
    base: dict[str, Any] = {
        "lang": lang, "generated_at": GENERATED, "criteria": criteria(), "profile": profile, "uses": uses,
        "branding": Branding(firm="Cabinet Dupont & Associés", client="Clinique <Saint-Jean>",
                             logo=(DATA / "logo.png").read_bytes()),
        "previous_audit_id": "2026-10-29T0400Z-0001",
        "changes": [
            ChangeInfo(kind="regression", provider="posteo", check="dane", message="DANE record removed"),
            ChangeInfo(kind="improvement", provider="signal", check=None, message="grade C → B"),
            ChangeInfo(kind="odd_kind", provider="evil", check="spf", message=f"spf now {HOSTILE}"),
        ],
    }
    base.update(kw)
    return ReportContext(**base)


@pytest.fixture(scope="module")
def reports() -> dict[str, str]:
    audit = scored_audit()
    return {lang: render_html(audit, context(lang)) for lang in LANGS}


# --- translations --------------------------------------------------------------------------------------

def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    fr, en = load_catalog("fr"), load_catalog("en")
    assert set(fr) == set(en), f"only fr: {set(fr) - set(en)}; only en: {set(en) - set(fr)}"
    fields = string.Formatter()
    for key in fr:
        assert fr[key].strip() and en[key].strip(), key
        names = {n for _, n, _, _ in fields.parse(fr[key]) if n}
        assert names == {n for _, n, _, _ in fields.parse(en[key]) if n}, key


def test_every_literal_key_in_templates_and_code_exists() -> None:
    sources = [*REPORT_DIR.glob("templates/*.j2"), *REPORT_DIR.glob("*.py")]
    used = set().union(*(keys_used_in(p.read_text(encoding="utf-8")) for p in sources))
    assert len(used) > 50
    for lang in LANGS:
        catalog = load_catalog(lang)
        # A key ending in "." is a prefix completed from data (`"status." ~ code`): some key must extend it.
        missing = {k for k in used if k not in catalog and f"{k}.one" not in catalog
                   and not (k.endswith(".") and any(c.startswith(k) for c in catalog))}
        assert not missing, f"{lang}: {sorted(missing)}"


def test_keys_built_from_data_exist() -> None:
    # Keys the templates assemble at render time ("status." ~ code): one per value of each vocabulary.
    vocabularies = {
        "status": [str(s) for s in Status], "status_help": [str(s) for s in Status],
        "criterion_status": list(CRITERION_SYMBOLS), "verdict": list(VERDICT_SYMBOLS),
        "region": list(REGIONS), "change_kind": list(CHANGE_KINDS), "method.measured": list(METHOD_ITEMS),
        "limits": list(LIMIT_ITEMS), "kind": ["mail", "chat", "mssante"],
    }
    keys = [f"{prefix}.{v}" for prefix, values in vocabularies.items() for v in values]
    keys += [f"glossary.{g}.{part}" for g in GLOSSARY_TERMS for part in ("term", "definition")]
    for lang in LANGS:
        catalog = load_catalog(lang)
        assert not [k for k in keys if k not in catalog], lang


def test_missing_key_fails_loudly() -> None:
    with pytest.raises(MissingTranslation):
        Translator("fr").t("no.such.key")


def test_french_formats() -> None:
    fr, en = Translator("fr"), Translator("en")
    assert fr.number(87.5) == "87,5" and en.number(87.5) == "87.5"
    assert fr.number(12345) == "12\u202f345" and en.number(12345) == "12,345"
    assert fr.date(GENERATED) == "1er décembre 2026" and en.date(GENERATED) == "1 December 2026"
    assert fr.datetime(GENERATED) == "1er décembre 2026 à 08:05 UTC"
    assert fr.tn("cover.providers", 1) == "1 prestataire" and fr.tn("cover.providers", 0) == "0 prestataire"
    assert en.tn("cover.providers", 0) == "0 providers"
    assert fr.quote("x") == "«\u00a0x\u00a0»"
    assert fr.timestamp("not a date") == "not a date"
    assert "\u00a0:" in fr.t("common.colon")


@pytest.mark.parametrize("make", [scored_audit, unscored_audit])
@pytest.mark.parametrize("lang", LANGS)
def test_renders_in_both_languages_without_missing_keys(make: Any, lang: str) -> None:
    # MissingTranslation or a jinja2 UndefinedError would raise here.
    out = render_html(make(), context(lang))
    assert f'<html lang="{lang}">' in out
    assert render_markdown(make(), context(lang))
    # Minimal contexts too: no branding, no criteria, no comparison.
    assert render_html(make(), ReportContext(lang=lang))  # type: ignore[arg-type]


def test_french_report_reads_french(reports: dict[str, str]) -> None:
    fr = reports["fr"]
    for text in ("Synthèse", "Classements et usages", "Méthode, périmètre et limites",
                 "Ce qu’un audit externe ne peut pas voir", "Glossaire", "1er décembre 2026", "87,5",
                 "Données de santé",
                 "Chiffrement du transport", "régression", "Références", "Validation et diffusion"):
        assert text in fr, text
    assert "Executive summary" not in fr
    en = reports["en"]
    assert "Executive summary" in en and "Transport encryption" in en and "87.5" in en


# --- escaping and self-containment ---------------------------------------------------------------------

def test_hostile_text_is_escaped(reports: dict[str, str]) -> None:
    for out in reports.values():
        assert "<script" not in out.lower()
        assert "<img src=x" not in out and "onerror=alert(1)>" not in out.replace("&gt;", "")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in out
        assert "<b>" not in out and "<i>" not in out
        assert "javascript:" not in out.replace("javascript:alert(1)</span>", "")
        assert 'href="javascript' not in out
        assert "\u202e" not in out  # bidi override stripped
        assert "Clinique &lt;Saint-Jean&gt;" in out and "Dupont &amp; Associés" in out


class _Checker(HTMLParser):
    """Collects tags and attributes, and checks that non-void elements nest properly."""

    VOID: ClassVar[set[str]] = {"meta", "img", "br", "hr", "link", "input", "rect", "path", "line", "circle"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


def test_html_is_well_formed_self_contained_and_has_csp(reports: dict[str, str]) -> None:
    for out in reports.values():
        parser = _Checker()
        parser.feed(out)
        assert not parser.errors, parser.errors[:5]
        assert parser.stack == []
        metas = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        assert len(metas) == 1 and metas[0]["content"] == CSP
        assert "default-src 'none'" in CSP and "script-src" not in CSP
        tags = {t for t, _ in parser.tags}
        assert not tags & {"script", "link", "iframe", "object", "embed", "base", "form"}
        for tag, attrs in parser.tags:
            assert not any(k.startswith("on") for k in attrs), (tag, attrs)
            src = attrs.get("src")
            if src is not None:
                assert tag == "img" and src.startswith("data:image/png;base64,"), src
            href = attrs.get("href")
            if href is not None:
                # Navigation links (legal texts, claim evidence) only: never an asset, never a script.
                assert tag == "a" and re.match(r"^(#[a-z0-9-]+|https?://)", href), (tag, href)
                assert href.startswith("#") or "noopener" in (attrs.get("rel") or "")
        assert not re.search(r"url\(|@import|@font-face", out)


def test_hostile_audit_id_cannot_escape_the_page_stylesheet() -> None:
    audit = scored_audit().model_copy(update={"audit_id": f'x"; }} </style>{SCRIPT}\\'})
    out = render_html(audit, context("en"))
    assert "<script" not in out and out.count("</style>") == 2
    assert css_string('a"</style>') == '"a\\000022\\00003c\\00002fstyle\\00003e"'
    assert "@top-left { content: \"Audit x\\000022" in out


def test_simulation_banner_on_every_section() -> None:
    lab = render_html(scored_audit(lab=True), context("fr"))
    sections = lab.count('<section class="major')
    assert lab.count('class="sim-banner"') >= sections + 1  # the cover and every section
    assert 'class="sim-fixed"' in lab  # repeated on every printed page
    real = render_html(scored_audit(lab=False), context("fr"))
    assert "sim-banner" not in real.replace(".sim-banner", "") and "SIMULATION" not in real
    assert "SIMULATION" in render_markdown(scored_audit(lab=True), context("en"))


@pytest.mark.parametrize("lang", LANGS)
def test_the_cover_names_no_absent_client(lang: str) -> None:
    """Review 2026-12-02: without --client the cover said "prepared for the client named above", naming none."""
    audit = scored_audit(lab=False)
    above = {"fr": "nommé ci-dessus", "en": "named above"}[lang]
    assert above in render_html(audit, context(lang))
    anonymous = context(lang, branding=Branding(firm="Cabinet Dupont"))
    assert above not in render_html(audit, anonymous)
    assert above not in render_markdown(audit, anonymous)


def test_report_structure(reports: dict[str, str]) -> None:
    out = reports["en"]
    order = ['id="cover"', 'id="summary"', 'id="rankings"', 'id="p-1"', 'id="changes"', 'id="methodology"',
             'id="references"', 'id="glossary"', 'id="closing"']
    positions = [out.index(x) for x in order]
    assert positions == sorted(positions)
    # Ranking per kind: Signal (the only chat), then Posteo (87.5) first of the mail, the unscored last.
    assert out.index('id="p-2"') < out.index(">Posteo <") < out.index('id="p-3"')
    assert out.index('id="p-4"') < out.index("Opérateur MSSanté <span")
    # Symbols and words, never colour alone.
    assert "◐</span> partial" in out and "?</span> not verified" in out
    assert "fits" in out and "does not fit" in out and "not assessed" in out
    assert "Audit 2026-11-29T0400Z-abcd" in out
    assert "Compared with audit 2026-10-29T0400Z-0001." in out
    assert "DANE record removed" in out and "odd_kind" in out
    # References: deduplicated, and a javascript: URL shown as text but not linked.
    assert out.count("RGPD art. 32 / GDPR Art. 32") == 1
    assert "CNIL — transferts hors UE" in out
    # The raw evidence is in the annex, not in the client report.
    annex = render_html(scored_audit(), context("en"), "annex")
    assert "https://posteo.de/en/help/two-factor-authentication" in annex
    assert "28 November 2026, 10:00 UTC" in annex  # the date a claim was verified
    assert "timed out after 10 s" in annex and "timed out after 10 s" not in out


def test_without_scores_the_annex_lists_check_ids() -> None:
    out = render_html(unscored_audit(), context("en"))
    assert "not scored" in out and "Incomplete audit" in out
    annex = render_html(unscored_audit(), context("en"), "annex")
    assert "<code>smtp.starttls</code>" in annex and "<code>dns.mx</code>" in annex


def test_changes_section_only_when_compared() -> None:
    assert 'id="changes"' not in render_html(scored_audit(), context("en", changes=None))
    empty = render_html(scored_audit(), context("en", changes=[]))
    assert "No change since the previous audit." in empty


def test_logo_must_be_png_or_jpeg() -> None:
    Branding(logo=b"\xff\xd8\xff\xe0" + b"\0" * 16)
    with pytest.raises(ConfigError):
        Branding(logo=(DATA / "evil.svg").read_bytes())
    with pytest.raises(ConfigError):
        Branding(logo=b"GIF89a....")
    with pytest.raises(ConfigError):
        Branding(logo=b"\x89PNG\r\n\x1a\n" + b"\0" * 600_000)


# --- view rules ---------------------------------------------------------------------------------------

def test_view_cleans_and_groups() -> None:
    view = build_view(scored_audit(), context("en"))
    # each kind together (chat, mail, then the unscored kind), in rank order within it
    assert [p.id for p in view.providers] == ["signal", "posteo", "evil", "mss"]
    assert [(p.rank, p.rank_of) for p in view.providers] == [(1, 1), (1, 2), (2, 2), (None, None)]
    assert view.regions == {"EU": 2, "EEA": 0, "adequacy": 0, "third_country": 1, "unknown": 1}
    posteo = view.providers[1]
    assert posteo.grouped_by == "criteria" and posteo.countries == ["DE"]
    assert [g.key for g in posteo.groups][:2] == ["transport_encryption", "downgrade_protection"]
    mss = view.providers[3]
    assert mss.grouped_by == "checks" and all(g.key != "hosting.location" for g in mss.groups)
    assert safe_url("javascript:alert(1)") is None and safe_url("https://a.example/x") == "https://a.example/x"
    assert safe_url("https://a.example/\u202ex") is None
    assert clean("a\nb\u202ec" + "x" * 400).startswith("a b\ufffdc") and len(clean("x" * 400)) == 300


# --- Markdown and CSV ---------------------------------------------------------------------------------

def test_markdown_is_escaped_and_complete() -> None:
    for lang in LANGS:
        out = render_markdown(scored_audit(), context(lang))
        assert "<script" not in out and "<img" not in out
        assert "&lt;script&gt;" in out
        assert "](<javascript" not in out and "](javascript" not in out
        assert out.startswith("# ")
    en = render_markdown(scored_audit(), context("en"))
    for text in ("## Executive summary", "## Rankings and uses", "## Posteo (E-mail)", "## Changes since",
                 "## Method, scope and limits", "### What an external audit cannot see", "## References",
                 "## Glossary", "## Sign-off and distribution", "◐ partial"):
        assert text in en, text
    assert md("a|b*c") == "a\\|b\\*c"


def test_csv_one_row_per_finding_and_injection_safe() -> None:
    audit = scored_audit()
    out = render_csv(audit)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["provider", "check", "subject", "target", "status", "summary", "vantage"]
    assert len(rows) - 1 == sum(len(p.checks) for p in audit.providers)
    for row in rows[1:]:
        assert len(row) == 7 and row[6] == ""  # one vantage point: the column is empty
        assert not row[0:1] or all(not cell.startswith(("=", "+", "-", "@")) for cell in row), row
    cells = [c for r in rows for c in r]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'-2+3 bidi \ufffdtxt.exe" in cells
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("+1") == "'+1" and csv_cell("ok") == "ok"
    assert csv_cell(None) == ""


def test_plugs_into_the_scoring_and_diff_modules() -> None:
    scoring = pytest.importorskip("auditor.scoring")
    diff = pytest.importorskip("auditor.diff")
    before = scored_audit()
    after = scoring.score_audit(unscored_audit(), "rgpd")
    changes = diff.diff_audits(before, after).changes
    for lang in LANGS:
        ctx = ReportContext(lang=lang, criteria=criteria_info(scoring.load_criteria().criteria),
                            changes=changes_info(changes, lang), previous_audit_id=before.audit_id)
        assert ctx.criteria and ctx.changes
        out = render_html(after, ctx)
        assert "<script" not in out and 'id="changes"' in out
        render_markdown(after, ctx)
    fr = changes_info([{"kind": "neutral", "provider": "p", "check": "score", "subject": "p",
                        "message": "en", "message_fr": "fr"}], "fr")[0]
    assert fr.message == "fr" and fr.subject is None


def test_one_call_rendering_for_the_pipeline() -> None:
    pytest.importorskip("auditor.scoring")
    pytest.importorskip("auditor.diff")
    from auditor.report import render_audit_html, render_audit_markdown

    after = unscored_audit()
    out = render_audit_html(after, lang="en", previous=scored_audit())
    assert 'id="changes"' in out and "Sign-off and distribution" in out
    assert render_audit_markdown(after, lang="fr").startswith("# Évaluation de la protection des données")


def test_hosting_operators_from_evidence_stored_before_the_law_records() -> None:
    """An audit stored before `foreign_operators` carried law records (its law's title only) still names the
    operator and the law; hostile values are cleaned (autoescaping does the rest) or dropped."""
    from auditor.report.sheet import hosting

    evidence = {"foreign_operators": [{"asn": 16509, "org": "Amazon.com, Inc.\u202e\n", "country": "US",
                                       "law": "CLOUD Act — 18 U.S.C. § 2713"},
                                      {"asn": True, "org": None, "country": "not a code", "laws": "garbage"}, 7]}
    result = ProviderResult(id="x", name="X", kind="chat", checks=[
        Finding(id="hosting.summary", subject="x", status=Status.PASS, summary="ok", evidence=evidence,
                value={"countries": ["FR"], "outside_eu_eea": [], "outside_adequacy": []})])
    found = hosting(result)
    assert found is not None and found.in_eu
    first, second = found.operators
    assert first.asn == 16509 and first.country == "US" and first.org == "Amazon.com, Inc.\ufffd"
    assert [law.title for law in first.laws] == ["CLOUD Act — 18 U.S.C. § 2713"] and first.laws[0].url is None
    assert second.asn is None and second.country is None and second.laws == []
    assert [(e.law.title, len(e.operators)) for e in found.exposures] == [("CLOUD Act — 18 U.S.C. § 2713", 1)]


def test_the_seal_is_on_the_cover_in_html_and_markdown() -> None:
    seal = "e6c40047ac509b60 — SHA256:4a19 0fbd"
    audit = scored_audit()
    for lang in LANGS:
        html = render_audit_html(audit, lang, branding=Branding(seal=seal))
        assert f'<dd class="seal"><code>{seal}</code></dd>' in html
        markdown = render_audit_markdown(audit, lang, branding=Branding(seal=seal))
        assert f"`{seal}`" in markdown.split("\n## ")[0]  # on the cover, before the first section
        assert "seal" not in render_audit_markdown(audit, lang).split("\n## ")[0].lower()
