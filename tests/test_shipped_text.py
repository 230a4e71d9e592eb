"""What ships is read by DPOs and their clients: sources and dates, no working notes, no machine paths."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.report.i18n import load_catalog as load_locale

ROOT = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".txt", ".html", ".j2", ".css", ".js", ".toml", ".zone"}
# A working note or a path on the machine the package was written on, never a source a reader can open.
NOTES = re.compile("|".join([
    r"(?<![\w.-])/(?:work|home|root|Users)/[\w.-]",  # absolute machine paths (not a URL's path segment)
    r"\.\./shared\b", r"\bshared/research\b", r"\bresearch/\w+\.md\b",
    r"\bINFERENCE\b", r"\bre-?verify\b", r"\bverify before use\b",
    r"\bas read by the research\b", r"\bthe research\b", r"\bresearch notes\b", r"\bcompiled \S+ from\b",
]), re.IGNORECASE)


def shipped_files() -> list[Path]:
    files = [p for p in (ROOT / "auditor").rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]
    return [ROOT / "providers.yaml", *sorted(files)]


def test_no_working_notes_or_machine_paths_in_shipped_files() -> None:
    found = []
    for path in shipped_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            match = NOTES.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    assert found == []


def test_the_pattern_finds_what_it_must_and_spares_urls() -> None:
    for note in ("compiled 2026-11 from shared research", "see /work/shared/research/providers.md",
                 "(INFERENCE, verify)", "re-verify before use", "address as read by the research"):
        assert NOTES.search(note), note
    for fine in ("https://threema.ch/fr/work/dpa/annex-2", "verify=ssl_context(bundle)", "cannot verify",
                 "researchers at ETH Zurich"):
        assert not NOTES.search(fine), fine


def test_a_third_country_is_any_country_outside_the_eea() -> None:
    """GDPR Art. 44-45: a country with an adequacy decision is still a third country (Art. 45(1): "a transfer ...
    to a third country ... where the Commission has decided that the third country ... ensures an adequate level
    of protection"). The glossary said "a country outside the EEA without an adequacy decision", and the company
    line opposed "(Adequacy decision)" to "(Third country)" (review, checked against the GDPR text 2026-12-02)."""
    for lang, term in (("fr", "pays tiers"), ("en", "third country")):
        catalog = load_locale(lang)  # type: ignore[arg-type]
        definition = catalog["glossary.third_country.definition"]
        assert "45" in definition
        assert not re.match(r"^(Pays hors EEE sans|A country outside the EEA without)", definition)
        assert term in catalog["region.adequacy"].lower() and term in catalog["region.third_country"].lower()


def test_a_profile_named_in_a_reason_is_one_the_reader_can_pick() -> None:
    """The rgpd profile sent the reader to « santé », a profile that does not exist (`--profile sante`)."""
    profiles = {p.stem for p in (ROOT / "auditor" / "scoring" / "profiles").glob("*.yaml")}
    for path in (ROOT / "auditor" / "scoring" / "profiles").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for named in re.findall(r"(?:profil|profile) [«“]\s*([^»”]+?)\s*[»”]", text):
            assert named in profiles, (path.name, named)


FRENCH_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                 "novembre", "décembre")


def test_every_adequacy_decision_has_a_french_reference_in_french_typography() -> None:
    """The French register cites each decision as a French text does (regions.yaml `reference_fr`): the French
    abbreviations (CE, UE), the date in French words that matches the decision's date, no straight apostrophe."""
    from auditor.regions import load_regions

    for decision in load_regions().adequacy:
        french = decision.reference_fr or ""
        assert french.startswith("Décision "), (decision.id, french)
        assert decision.reference_fr_source, decision.id
        assert "'" not in french and "Decision" not in french, (decision.id, french)
        assert not re.search(r"\b\d{4}/\d+/E[CU]\b|\(EU\)", french), (decision.id, french)
        year, month, day = (int(part) for part in decision.date.split("-"))
        day_text = "1er" if day == 1 else str(day)
        assert f" du {day_text} {FRENCH_MONTHS[month - 1]} {year}" in french, (decision.id, french, decision.date)
        number = re.search(r"\b(\d{4}/\d+)/(EC|EU)\b|\(EU\) (\d{4}/\d+)", decision.reference)
        if number:  # the same act: its number survives the translation
            assert (number.group(1) or number.group(3)) in french, (decision.id, french)
