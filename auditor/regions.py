"""Where a country stands under GDPR Chapter V: EU, EEA, adequacy decision, third country, or unknown.

The facts live in `auditor/data/regions.yaml` (with the legal reference, date and URL of every adequacy
decision), so a new decision is a data change, not a code change. Pure look-ups: no network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from auditor.datafile import read_data

REGIONS_FILE = Path(__file__).parent / "data" / "regions.yaml"

Region = Literal["EU", "EEA", "adequacy", "third_country", "unknown"]
Lang = Literal["fr", "en"]

# StrictStr: a bare `NO` in YAML is the boolean false; refuse it rather than lose Norway.
Code = StrictStr


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fr: str
    en: str


class AdequacyDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    country: Code | None  # None for an international organisation
    organisation: bool = False
    name: Text
    reference: str
    reference_fr: str | None = None  # as a French document cites it: "Décision 2000/518/CE de la Commission du …"
    reference_fr_source: str | None = None  # read on EUR-Lex's French title, or derived from `reference`
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    url: str = Field(pattern=r"^https://")
    original_date: str | None = None
    valid_until: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")  # the decision expires then
    condition: Literal["dpf_certified"] | None = None  # adequacy holds only for certified organisations
    scope: Text | None = None  # whom the decision covers, when not the whole country
    scope_source: str | None = None  # where the scope statement was checked
    certain: bool  # False: reference or date not checked against the Official Journal
    source: str | None = None

    def record(self) -> dict[str, object]:
        """What a finding carries about the decision, so a report can show it with its limits."""
        return {"id": self.id, "reference": self.reference, "date": self.date, "valid_until": self.valid_until,
                "url": self.url, "condition": self.condition, "scope": self.scope.model_dump() if self.scope else None,
                "scope_source": self.scope_source, "certain": self.certain, "source": self.source}

    @model_validator(mode="after")
    def _country_or_organisation(self) -> AdequacyDecision:
        if (self.country is None) != self.organisation:
            raise ValueError("a decision is either for a country (country: XX) or an organisation")
        if self.reference_fr and not self.reference_fr_source:
            raise ValueError("a French reference must say where it comes from (reference_fr_source)")
        if not self.certain and not self.source:
            raise ValueError("an uncertain decision must name its source")
        return self


class Regions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reviewed: str
    sources: list[str]
    eu: frozenset[Code]
    eu_territories: frozenset[Code]
    eea_only: frozenset[Code]
    not_countries: frozenset[Code]
    aliases: dict[Code, Code]
    adequacy: list[AdequacyDecision]
    names: dict[Code, Text]

    @model_validator(mode="after")
    def _consistent(self) -> Regions:
        codes = self.eu | self.eu_territories | self.eea_only | set(self.names)
        codes |= {d.country for d in self.adequacy if d.country}
        bad = sorted(c for c in codes if len(c) != 2 or not c.isalpha() or not c.isupper())
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {bad}")
        if len(self.eu) != 27:
            raise ValueError(f"the EU has 27 members, the file lists {len(self.eu)}")
        overlap = self.eu & self.eea_only
        if overlap:
            raise ValueError(f"in both eu and eea_only: {sorted(overlap)}")
        ids = [d.id for d in self.adequacy]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate adequacy decision id")
        return self

    def canonical(self, code: str | None) -> str | None:
        """Upper-case ISO code, with the EU's own abbreviations (UK, EL) mapped; None if not a country."""
        if not code:
            return None
        code = code.strip().upper()
        code = self.aliases.get(code, code)
        if len(code) != 2 or not code.isalpha() or code in self.not_countries:
            return None
        return code


@cache
def load_regions(path: Path = REGIONS_FILE) -> Regions:
    """The region data, parsed and validated once per process."""
    return read_data(path, Regions, "region data")


def _decisions_by_key(regions: Regions) -> dict[str, AdequacyDecision]:
    return {(d.country or d.id).upper(): d for d in regions.adequacy} | {d.id.upper(): d for d in regions.adequacy}


def region_of(country: str | None, *, dpf_certified: bool | None = None) -> Region:
    """The Chapter V standing of an ISO country code.

    The United States (and any decision with a `condition`) is "adequacy" only when the organisation is
    known to be certified (`dpf_certified=True`); unknown certification is not read as certified.
    """
    regions = load_regions()
    code = regions.canonical(country)
    if code is None:
        return "unknown"
    if code in regions.eu or code in regions.eu_territories:
        return "EU"
    if code in regions.eea_only:
        return "EEA"
    decision = next((d for d in regions.adequacy if d.country == code), None)
    if decision is None:
        return "third_country"
    if decision.condition == "dpf_certified" and dpf_certified is not True:
        return "third_country"
    return "adequacy"


def decision_for(country: str | None) -> AdequacyDecision | None:
    """The adequacy decision for a country code (or an organisation id such as "EPO"), if any."""
    if not country:
        return None
    regions = load_regions()
    key = country.strip().upper()
    key = regions.aliases.get(key, key)
    return _decisions_by_key(regions).get(key)


def country_name(code: str | None, lang: Lang = "en") -> str:
    """A display name in French or English; the code itself when we have no name for it."""
    if not code:
        return "?"
    regions = load_regions()
    key = code.strip().upper()
    key = regions.aliases.get(key, key)
    text = regions.names.get(key)
    if text is None:
        decision = _decisions_by_key(regions).get(key)
        text = decision.name if decision else None
    if text is None:
        return key
    return text.fr if lang == "fr" else text.en


def eu_eea_codes() -> frozenset[str]:
    """Every code inside the EU/EEA (members, EU territories with their own code, EEA EFTA states)."""
    regions = load_regions()
    return regions.eu | regions.eu_territories | regions.eea_only
