"""Regions as data: EU, EEA, adequacy decisions (with their references), the US only under the DPF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.regions import (
    country_name,
    decision_for,
    eu_eea_codes,
    load_regions,
    region_of,
)
from auditor.report.sheet import decision as sheet_decision

EU27 = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
        "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]

# The references we are sure of (Official Journal numbers); the test pins them against typos in the data.
KNOWN_DECISIONS = {
    "AD": ("2010/625/EU", "2010-10-19"),
    "AR": ("2003/490/EC", "2003-06-30"),
    "CA": ("2002/2/EC", "2001-12-20"),
    "FO": ("2010/146/EU", "2010-03-05"),
    "GG": ("2003/821/EC", "2003-11-21"),
    "IL": ("2011/61/EU", "2011-01-31"),
    "IM": ("2004/411/EC", "2004-04-28"),
    "JP": ("(EU) 2019/419", "2019-01-23"),
    "JE": ("2008/393/EC", "2008-05-08"),
    "NZ": ("2013/65/EU", "2012-12-19"),
    "KR": ("(EU) 2022/254", "2021-12-17"),
    "CH": ("2000/518/EC", "2000-07-26"),
    "UY": ("2012/484/EU", "2012-08-21"),
    "US": ("(EU) 2023/1795", "2023-07-10"),
    "BR": ("(EU) 2026/179", "2026-01-26"),
    "GB": ("of 19 December 2025 renewing", "2025-12-19"),  # the renewal's own number is not in our sources
}


@pytest.mark.parametrize("code", EU27)
def test_eu_members(code: str) -> None:
    assert region_of(code) == "EU"
    assert region_of(code.lower()) == "EU"


def test_eu_has_27_members_and_the_data_agrees() -> None:
    assert load_regions().eu == frozenset(EU27)


@pytest.mark.parametrize("code", ["IS", "LI", "NO"])
def test_eea_efta_states(code: str) -> None:
    # NO must survive YAML 1.1, where a bare NO is the boolean false
    assert region_of(code) == "EEA"


@pytest.mark.parametrize("code", ["RE", "GP", "MQ", "GF", "YT", "MF", "AX"])
def test_eu_territories_with_their_own_code_are_eu(code: str) -> None:
    assert region_of(code) == "EU"


@pytest.mark.parametrize("code", ["AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB",
                                  "UY", "BR"])
def test_adequacy_countries(code: str) -> None:
    assert region_of(code) == "adequacy"
    assert region_of(code, dpf_certified=False) == "adequacy"  # the DPF flag matters only where conditioned


def test_eu_abbreviations_are_aliases() -> None:
    assert region_of("UK") == "adequacy"
    assert region_of("EL") == "EU"
    assert decision_for("UK") == decision_for("GB")


def test_us_is_adequate_only_for_dpf_certified_organisations() -> None:
    assert region_of("US", dpf_certified=True) == "adequacy"
    assert region_of("US", dpf_certified=False) == "third_country"
    assert region_of("US") == "third_country"  # unknown certification is not read as certified


@pytest.mark.parametrize("code", ["CN", "RU", "AE", "VG", "SG", "IN", "AU", "TR"])
def test_third_countries(code: str) -> None:
    assert region_of(code) == "third_country"
    assert region_of(code, dpf_certified=True) == "third_country"


@pytest.mark.parametrize("code", [None, "", "  ", "XX", "ZZ", "EU", "AP", "A1", "A2", "O1", "T1", "FRA", "1", "EPO"])
def test_unknown(code: str | None) -> None:
    assert region_of(code) == "unknown"


@pytest.mark.parametrize(("code", "expected"), sorted(KNOWN_DECISIONS.items()))
def test_decision_references(code: str, expected: tuple[str, str]) -> None:
    number, date = expected
    decision = decision_for(code)
    assert decision is not None
    assert number in decision.reference
    assert decision.date == date
    assert decision.url.startswith("https://")


def test_every_decision_has_reference_date_url_and_uncertain_ones_name_a_source() -> None:
    for decision in load_regions().adequacy:
        assert decision.reference and decision.date and decision.url.startswith("https://")
        if not decision.certain:
            assert decision.source


def test_us_decision_is_conditional_on_dpf() -> None:
    us = decision_for("US")
    assert us is not None and us.condition == "dpf_certified"
    assert us.scope is not None and "Data Privacy Framework" in us.scope.en


def test_uk_renewal_and_original_decision() -> None:
    uk = decision_for("GB")
    assert uk is not None
    assert uk.date == "2025-12-19" and uk.original_date == "2021-06-28"
    assert uk.certain is False  # the renewal's own number is not in our sources


def test_a_decision_number_the_report_prints_belongs_to_its_date() -> None:
    """The report reads the number out of the reference and prints it with the date: "2021/1772 of 19 December
    2025" (the UK renewal carrying its predecessor's number) named a decision that does not exist. A decision
    is numbered in the year it is adopted or, published later, the next one (2002/2/EC of 20 December 2001)."""
    for d in load_regions().adequacy:
        shown = sheet_decision(d.record())
        assert shown is not None
        if shown.number:
            year = int(re.search(r"(\d{4})/", shown.number).group(1))  # type: ignore[union-attr]
            assert year - int(d.date[:4]) in (0, 1), (d.id, shown.number, d.date)


def test_epo_is_an_organisation_not_a_country() -> None:
    epo = decision_for("EPO")
    assert epo is not None and epo.organisation and epo.country is None
    assert epo.date == "2025-07-15"
    assert country_name("EPO", "en") == "European Patent Organisation"


def test_no_decision_for_eu_or_third_countries() -> None:
    assert decision_for("FR") is None
    assert decision_for("CN") is None
    assert decision_for(None) is None


def test_country_names() -> None:
    assert country_name("DE", "fr") == "Allemagne"
    assert country_name("DE", "en") == "Germany"
    assert country_name("ch", "fr") == "Suisse"
    assert country_name("UK", "fr") == "Royaume-Uni"
    assert country_name("NO", "fr") == "Norvège"
    assert country_name("US", "fr") == "États-Unis"
    assert country_name("KR", "en") == "Republic of Korea"
    assert country_name("QQ", "fr") == "QQ"  # no name: the code
    assert country_name(None, "en") == "?"


def test_every_eu_eea_and_adequacy_country_has_both_names() -> None:
    regions = load_regions()
    codes = set(eu_eea_codes()) | {d.country for d in regions.adequacy if d.country}
    for code in codes:
        assert country_name(code, "fr") != code, code
        assert country_name(code, "en") != code, code


def test_invalid_region_data_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "regions.yaml"
    bad.write_text("reviewed: x\nsources: []\neu: [FR]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"regions\.yaml"):
        load_regions(bad)


def test_a_scope_is_a_phrase_the_report_continues() -> None:
    """The report goes on after the scope ("portée : … ; référence vérifiée"): a final period printed ".;"."""
    for d in load_regions().adequacy:
        if d.scope:
            assert not d.scope.en.endswith(".") and not d.scope.fr.endswith("."), d.id
