"""Several vantage points: merging per-vantage results of one provider, what scoring and comparisons read, and
where the vantages disagree — from real lab scans (auditor/vantages.py, docs/vantage.md)."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from pathlib import Path

import pytest
from test_report_deliverable import ENGLISH, STRAIGHT_APOSTROPHE, visible_prose

from auditor.catalog import Provider, load_catalog
from auditor.diff import diff_audits
from auditor.evidence.bundle import export
from auditor.evidence.verify import verify_bundle
from auditor.findings import Audit, Finding, ProviderResult, Status, Vantage
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.net.vantage import characterise
from auditor.pipeline import execute, execute_vantages
from auditor.register.entries import security
from auditor.report import render_audit_html, render_audit_markdown, render_csv
from auditor.scan import run_scan, run_unit
from auditor.schema import audit_document, validate_document
from auditor.settings import Settings, load_settings
from auditor.store import Store
from auditor.vantages import merge_vantage_results, one_per_check, scored_findings, vantage_disagreements


def _settings(lab: Lab, resolver: str) -> Settings:
    return load_settings({**lab.overrides(), "resolver": resolver, "timeout": 3.0}, environ={})


def _unit(provider: Provider, settings: Settings, name: str) -> ProviderResult:
    vantage: Vantage = asyncio.run(characterise(settings)).model_copy(update={"name": name})
    return run_unit(provider, settings, vantage)


@pytest.fixture(scope="module")
def exemplary(lab: Lab) -> Provider:
    return load_catalog(LAB_CATALOG).select(["exemplary"])[0]


@pytest.fixture(scope="module")
def strip_vs_validating(lab: Lab, exemplary: Provider) -> dict[str, ProviderResult]:
    """One provider measured through a validating resolver ("eu") and one that strips DNSSEC ("us")."""
    return {"eu": _unit(exemplary, _settings(lab, lab.resolver()), "eu"),
            "us": _unit(exemplary, _settings(lab, lab.resolver("strip")), "us")}


def test_measured_findings_are_tagged_and_catalog_ones_appear_once(
        strip_vs_validating: dict[str, ProviderResult], exemplary: Provider) -> None:
    merged = merge_vantage_results(strip_vs_validating, exemplary)
    eu, us = strip_vs_validating["eu"], strip_vs_validating["us"]
    once = [f for f in merged.checks if f.vantage is None]
    assert [f.id for f in once] == ["jurisdiction.company", "hosting.summary", "transfer"]
    tagged = [f for f in merged.checks if f.vantage is not None]
    measured = {"eu": [f for f in eu.checks if f.id not in {c.id for c in once}],
                "us": [f for f in us.checks if f.id not in {c.id for c in once}]}
    assert len(tagged) == len(measured["eu"]) + len(measured["us"])
    assert [f.model_copy(update={"vantage": None}) for f in tagged if f.vantage == "us"] == measured["us"]
    # Both resolvers give the same addresses: located twice, counted once (as from one vantage).
    summary = next(f for f in merged.checks if f.id == "hosting.summary")
    alone = next(f for f in eu.checks if f.id == "hosting.summary")
    assert (summary.status, summary.value, summary.evidence) == (alone.status, alone.value, alone.evidence)
    assert alone.evidence["addresses"] > 0
    with pytest.raises(ValueError, match="no vantage result"):
        merge_vantage_results({}, exemplary)


def test_a_vantage_that_cannot_test_does_not_hide_another_ones_result(
        strip_vs_validating: dict[str, ProviderResult], exemplary: Provider) -> None:
    merged = merge_vantage_results(strip_vs_validating, exemplary)
    dnssec = [f for f in merged.checks if f.id == "dns.dnssec" and f.target is None]
    assert {(f.vantage, f.status) for f in dnssec} == {("eu", Status.PASS), ("us", Status.ERROR)}
    scored = scored_findings(merged.checks)
    assert [(f.vantage, f.status) for f in scored if f.id == "dns.dnssec" and f.target is None] == [("eu", Status.PASS)]
    single = one_per_check(merged.checks)
    assert len({(f.id, f.subject, f.target) for f in single}) == len(single)
    # A failure from one vantage is kept over a pass from another (worst-of among those that could test).
    fail = dnssec[0].model_copy(update={"status": Status.FAIL, "vantage": "us"})
    assert [f.status for f in one_per_check([dnssec[0], fail])] == [Status.FAIL]
    # One vantage: nothing changes.
    assert scored_findings(strip_vs_validating["us"].checks) == strip_vs_validating["us"].checks


def test_disagreements_name_what_each_vantage_saw(
        strip_vs_validating: dict[str, ProviderResult], exemplary: Provider) -> None:
    merged = merge_vantage_results(strip_vs_validating, exemplary)
    found = vantage_disagreements(merged)
    dnssec = [d for d in found if d.check == "dns.dnssec" and d.target is None]
    assert len(dnssec) == 1 and dnssec[0].kind == "status"
    assert [(o.vantage, o.status) for o in dnssec[0].seen] == [("eu", Status.PASS), ("us", Status.ERROR)]
    assert not [d for d in found if d.kind in ("mx", "country", "addresses")]  # same data behind both resolvers
    assert vantage_disagreements(strip_vs_validating["eu"]) == []


# --- a two-vantage audit of the lab's geo-DNS provider, in-process (auditor.pipeline.execute_vantages) -------
@pytest.fixture(scope="module")
def geo(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Audit, Settings]:
    """`geodns` and `exemplary` seen from the lab's "eu" and "us" DNS views (auditor/lab/world.yaml `views`):
    geodns's MX answers with a Frankfurt address in one and a US address (still accepting TLS 1.0) in the other."""
    db = tmp_path_factory.mktemp("vantages") / "audits.sqlite"
    settings = load_settings({**lab.overrides(), "timeout": 3.0, "db": db}, environ={})
    providers = load_catalog(LAB_CATALOG).select(["geodns", "exemplary"])
    audit = execute_vantages(settings, providers, {v: lab.view_resolver(v) for v in ("eu", "us")})
    return audit, settings


def _find(audit: Audit, pid: str, check: str) -> list[Finding]:
    return [f for p in audit.providers if p.id == pid for f in p.checks if f.id == check]


def test_the_lab_views_answer_the_same_name_with_addresses_in_two_countries(geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    assert [v.name for v in audit.vantages] == ["eu", "us"] and audit.vantage == audit.vantages[0]
    seen = {(f.vantage, f.subject, f.value["country"]) for f in _find(audit, "geodns", "hosting.location")}
    assert seen == {("eu", "mx.geodns.example", "DE"), ("us", "mx.geodns.example", "US")}
    # The zone is signed: the re-signed view validates as the default one does.
    assert {(f.vantage, f.status) for f in _find(audit, "geodns", "dns.dnssec")} == {
        ("eu", Status.PASS), ("us", Status.PASS)}
    # exemplary has no view of its own: both vantages see the same addresses.
    assert vantage_disagreements(next(p for p in audit.providers if p.id == "exemplary")) == []


def test_hosting_and_transfer_are_judged_on_every_address_any_vantage_was_sent_to(
        geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    summary, = _find(audit, "geodns", "hosting.summary")
    assert summary.status == Status.FAIL and summary.value["outside_adequacy"] == ["US"]
    assert summary.value["countries"] == ["DE", "US"]
    transfer, = _find(audit, "geodns", "transfer")
    assert transfer.value["mechanism"] == "safeguards"
    score = next(p for p in audit.providers if p.id == "geodns").score
    assert score is not None
    rows = {c.id: c for c in score.criteria}
    assert rows["hosting_eu_eea"].status == "not_met"
    # TLS 1.0 accepted by the server the US vantage reached: the criterion fails, and says from where.
    assert rows["tls_modern_only"].status == "not_met" and "(from us)" in (rows["tls_modern_only"].reason or "")


def test_disagreements_of_the_geo_dns_provider(geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    found = vantage_disagreements(next(p for p in audit.providers if p.id == "geodns"))
    assert [(d.kind, d.check, d.subject, d.target) for d in found] == [
        ("country", "hosting.location", "mx.geodns.example", None),
        ("status", "tls.protocols", "geodns.example", "mx.geodns.example:25")]
    country, protocols = found
    assert [(o.vantage, o.countries) for o in country.seen] == [("eu", ["DE"]), ("us", ["US"])]
    assert [(o.vantage, o.status) for o in protocols.seen] == [("eu", Status.PASS), ("us", Status.WARN)]


def test_the_stored_audit_loads_validates_compares_and_exports(geo: tuple[Audit, Settings], tmp_path: Path) -> None:
    audit, settings = geo
    with Store.open(settings.db) as store:
        back = store.load_audit(audit.audit_id)
        assert back == audit
        validate_document(audit_document(back))
        # Compared with itself: nothing changed, each check once.
        assert diff_audits(back, back).changes == []
        exported = export(store, audit.audit_id, tmp_path / "bundle.zip", settings)
    verdict = verify_bundle(exported.path)
    assert verdict.intact, verdict.problems
    # Compared with a one-vantage audit of the same providers: only what the US view adds.
    one = execute(settings, load_catalog(LAB_CATALOG).select(["geodns", "exemplary"]), quiet=True)
    changes = diff_audits(one, back).changes
    assert {(c.provider, c.check) for c in changes if c.kind == "regression"} >= {
        ("geodns", "hosting.summary"), ("geodns", "tls.protocols")}
    assert all(c.provider == "geodns" for c in changes)
    keys = [(c.provider, c.check, c.subject, c.target) for c in changes]
    assert len(keys) == len(set(keys))


# --- the client report ---------------------------------------------------------------------------------------
def _section(page: str, heading: str) -> str:
    start = page.index(heading)
    return page[start:page.index("</section>", start)]


def test_the_report_says_where_the_vantages_disagree_in_french_and_english(geo: tuple[Audit, Settings],
                                                                            lab: Lab) -> None:
    audit, _ = geo
    eu, us = lab.address("mx.geodns.example"), lab.address("mx-us.geodns.example")
    fr = _section(render_audit_html(audit, "fr"), "Divergences entre points de mesure")
    assert "Geo Mail (lab)" in fr and "adresses de mx.geodns.example" in fr
    assert f"depuis «\u00a0eu\u00a0»\u00a0: {eu} (Allemagne)" in html.unescape(fr)
    assert f"depuis «\u00a0us\u00a0»\u00a0: {us} (États-Unis)" in html.unescape(fr)
    assert "versions TLS de mx.geodns.example:25" in fr and "avertissement (TLSv1, TLSv1.1" in fr
    assert "Exemplary" not in fr  # no disagreement for the provider without a view
    prose = visible_prose(fr)
    assert not ENGLISH.search(prose), ENGLISH.search(prose)
    assert not STRAIGHT_APOSTROPHE.search(prose)
    assert not re.search(r"\d\.\d", prose)
    en = _section(render_audit_html(audit, "en"), "Where vantage points disagree")
    assert f"from “us”: {us} (United States)" in html.unescape(en)
    md = render_audit_markdown(audit, "fr")
    assert "## Divergences entre points de mesure" in md and f"{us} (États-Unis)" in md
    # The annex names the vantage of each finding; the section is the report's, not the annex's.
    annex = render_audit_html(audit, "fr", document="annex")
    assert "mesuré depuis «\u00a0us\u00a0»" in html.unescape(annex) and "Divergences entre points" not in annex


def _cover(page: str) -> str:
    return html.unescape(_section(page, '<section class="cover"'))


def test_the_cover_lists_every_vantage_point(geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    eu, us = audit.vantages
    assert eu.resolver != us.resolver  # the lab's two DNS views
    for lang, heading, value, line in (
            ("fr", "Points de mesure", "hôte {host}, résolveur DNS {resolver}", "Ce qu’il pouvait atteindre"),
            ("en", "Measured from several vantage points", "host {host}, DNS resolver {resolver}",
             "What it could reach")):
        cover = _cover(render_audit_html(audit, lang))
        assert f"<dt>{heading}</dt>" in cover
        md = render_audit_markdown(audit, lang)
        md_cover = md[:md.index("\n## ")]
        assert f"- **{heading}**" in md_cover
        for v in (eu, us):
            shown = value.format(host=v.host, resolver=v.resolver)
            assert f"<strong>{v.name}</strong>" in cover and shown in cover, (lang, v.name)
            assert re.search(rf"^  - \*\*{v.name}\*\*\s?:\s{re.escape(shown)} — {line}\b.*$", md_cover,
                             re.MULTILINE), (lang, v.name)  # one list item per line
        # each vantage's own line of what it could test, not the first one's twice
        assert cover.count(line) == 2 and md_cover.count(line) == 2, lang
    prose = visible_prose(render_audit_html(audit, "fr")[:render_audit_html(audit, "fr").index("</section>")])
    assert not STRAIGHT_APOSTROPHE.search(prose) and not ENGLISH.search(prose), ENGLISH.search(prose)
    # A limit of the second vantage point is on the cover too, naming the vantage it is of.
    blocked = audit.model_copy(update={"vantages": [eu, us.model_copy(update={"port25": False})]})
    cover = _cover(render_audit_html(blocked, "fr"))
    assert "Limites de ces points de mesure" in cover
    assert "Depuis «\u00a0us\u00a0»\u00a0: Le port 25 sortant (SMTP) est bloqué ici" in cover, cover
    assert "Depuis «\u00a0eu" not in cover
    assert "From “us”: Outbound port 25" in _cover(render_audit_html(blocked, "en"))


def test_no_section_for_an_audit_from_one_vantage_point(lab: Lab) -> None:
    settings = load_settings({**lab.overrides(), "timeout": 3.0}, environ={})
    one = asyncio.run(run_scan(load_catalog(LAB_CATALOG).select(["geodns"]), settings))
    for lang, heading in (("fr", "Divergences entre points de mesure"), ("en", "Where vantage points disagree")):
        assert heading not in render_audit_html(one, lang) and heading not in render_audit_markdown(one, lang)
    # The cover names its one vantage point as it always has.
    cover = _cover(render_audit_html(one, "fr"))
    assert (f"<dt>Point de mesure</dt><dd>hôte {one.vantage.host}, résolveur DNS {one.vantage.resolver}</dd>"
            in cover) and "Points de mesure" not in cover
    assert "mesuré depuis" not in render_audit_html(one, "fr", document="annex")


def test_the_csv_export_says_which_vantage_measured_each_finding(geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    rows = list(csv.DictReader(io.StringIO(render_csv(audit))))
    assert len(rows) == sum(len(p.checks) for p in audit.providers)
    assert [(r["vantage"] or None) for r in rows] == [f.vantage for p in audit.providers for f in p.checks]
    dnssec = [r for r in rows if r["provider"] == "geodns" and r["check"] == "dns.dnssec" and not r["target"]]
    assert sorted(r["vantage"] for r in dnssec) == ["eu", "us"]
    # The TLS versions of the US-side server differ: the two rows are told apart by their vantage only.
    tls = {r["vantage"]: r["status"] for r in rows if r["provider"] == "geodns" and r["check"] == "tls.protocols"
           and r["target"] == "mx.geodns.example:25"}
    assert tls == {"eu": "pass", "us": "warn"}
    # Drawn from the catalog or computed over every vantage: no vantage.
    assert {r["vantage"] for r in rows if r["check"] in ("jurisdiction.company", "hosting.summary", "transfer")} == {""}


def test_a_different_mx_set_is_a_disagreement(geo: tuple[Audit, Settings]) -> None:
    """Pure: the geo-DNS result with the US view's MX answer changed, as a provider steering regions to other MX."""
    audit, _ = geo
    result = next(p for p in audit.providers if p.id == "geodns")
    moved = [f.model_copy(update={"value": ["mx-us.geodns.example"]}) if f.id == "dns.mx" and f.vantage == "us"
             else f for f in result.checks]
    found = vantage_disagreements(result.model_copy(update={"checks": moved}))
    mx = [d for d in found if d.kind == "mx"]
    assert [(d.subject, [(o.vantage, o.hosts) for o in d.seen]) for d in mx] == [
        ("geodns.example", [("eu", ["mx.geodns.example"]), ("us", ["mx-us.geodns.example"])])]
    with pytest.raises(ValueError, match="without a name"):
        merge_vantage_results({"": result}, load_catalog(LAB_CATALOG).select(["geodns"])[0])


def test_the_register_counts_each_mx_once(geo: tuple[Audit, Settings]) -> None:
    audit, _ = geo
    result = next(p for p in audit.providers if p.id == "geodns")
    measures = security(result, "en")
    # One MX measured from two vantage points: counted once, with the worse verdict (TLS 1.0 seen from "us").
    assert "STARTTLS on 1/1 MX" in measures and "TLS 1.2+ only on 0/1 endpoints" in measures, measures
