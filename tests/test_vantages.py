"""Several vantage points: merging per-vantage results of one provider, what scoring and comparisons read, and
where the vantages disagree — from real lab scans (auditor/vantages.py, docs/vantage.md)."""

from __future__ import annotations

import asyncio

import pytest

from auditor.catalog import Provider, load_catalog
from auditor.findings import ProviderResult, Status, Vantage
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG
from auditor.net.vantage import characterise
from auditor.scan import run_unit
from auditor.settings import Settings, load_settings
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
