"""Translations and locale-aware formatting for the reports.

Every visible string comes from `locales/<lang>.yaml` (nested YAML, addressed with dotted keys). A missing
key raises `MissingTranslation` instead of printing the key: a client-facing report with a raw key in it is
a bug, and the tests render both languages to catch it. Lookups driven by data (a country code, a claim
name, an unknown status some future scorer emits) go through `t_or`, which falls back to the raw value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from babel import Locale

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")
LOCALES_DIR = Path(__file__).parent / "locales"


class MissingTranslation(KeyError):
    """A key the templates or code asked for is absent from a catalogue."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            # YAML 1.1 reads unquoted yes/no/NO/on as booleans: quote such keys in the catalogue.
            raise ValueError(f"locale key {prefix}{key!r}: not a string (quote it in the YAML file)")
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        elif isinstance(value, str):
            flat[full] = value
        else:
            # Numbers or booleans in a catalogue are almost always a YAML surprise (`no:` → False).
            raise ValueError(f"locale key {full!r}: expected a string, got {type(value).__name__}")
    return flat


@cache
def load_catalog(lang: Lang) -> dict[str, str]:
    """The flattened catalogue for `lang` (dotted keys → strings); cached, read once per process."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGS)}")
    path = LOCALES_DIR / f"{lang}.yaml"
    with path.open(encoding="utf-8") as fh:
        tree = yaml.safe_load(fh)
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return _flatten(tree)


_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}
# French typography: a narrow no-break space groups thousands; the decimal mark is a comma.
_NNBSP = "\u202f"


def parse_timestamp(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the audit document, or None when absent or unparseable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cache
def _territories(lang: Lang) -> dict[str, str]:
    return dict(Locale.parse(lang).territories)


def country_name(code: str, lang: Lang) -> str:
    """The country's name in `lang` from CLDR (Babel): the one spelling every report uses for it. An unknown
    or malformed code is returned as given (uppercased two letters only come from our probes and catalog)."""
    return _territories(lang).get(code.upper(), code) if code else code


def parse_day(text: str | None) -> datetime | None:
    """A `YYYY-MM-DD` (or `YYYY-MM`) date from the data files or the audit, or None."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        try:
            return datetime.strptime(text[:7], "%Y-%m")
        except ValueError:
            return None


class Translator:
    """`t(key, **params)` plus number and date formatting for one language."""

    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang
        self.catalog = load_catalog(lang)

    def t(self, key: str, /, **params: Any) -> str:
        try:
            text = self.catalog[key]
        except KeyError:
            raise MissingTranslation(f"no {self.lang!r} translation for {key!r}") from None
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self.catalog

    def t_or(self, key: str, fallback: str, /, **params: Any) -> str:
        """For keys built from data: the translation when one exists, else the raw value."""
        return self.t(key, **params) if key in self.catalog else fallback

    def tn(self, key: str, count: float, /, **params: Any) -> str:
        """Plural choice: `<key>.one` or `<key>.other`. French is singular below 2 (0, 1, 1,5), English at 1."""
        one = 0 <= count < 2 if self.lang == "fr" else count == 1
        return self.t(f"{key}.{'one' if one else 'other'}", count=self.number(count), **params)

    def number(self, value: float, digits: int = 1) -> str:
        """87.5 → « 87,5 » in French, "87.5" in English; integers lose their decimals."""
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{digits}f}"
        if self.lang == "fr":
            return text.replace(",", _NNBSP).replace(".", ",")
        return text

    def ordinal(self, n: int) -> str:
        """1er, 2e … in French; 1st, 2nd, 3rd, 4th … in English."""
        if self.lang == "fr":
            return "1er" if n == 1 else f"{n}e"
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    def date(self, moment: datetime | None) -> str:
        if moment is None:
            return self.t("common.unknown_date")
        month = _MONTHS[self.lang][moment.month - 1]
        day = "1er" if self.lang == "fr" and moment.day == 1 else str(moment.day)
        return f"{day} {month} {moment.year}"

    def datetime(self, moment: datetime | None) -> str:
        """Date and time in UTC: reports travel between time zones, and UTC is what the evidence uses."""
        if moment is None:
            return self.t("common.unknown_date")
        utc = moment.astimezone(UTC)
        return self.t("common.datetime", date=self.date(utc), time=f"{utc:%H:%M}")

    def timestamp(self, text: str | None) -> str:
        """A timestamp string from scanned data: formatted when it parses, else shown as is."""
        moment = parse_timestamp(text)
        if moment is not None:
            return self.datetime(moment)
        return text if text else self.t("common.unknown_date")

    def day(self, text: str | None) -> str:
        """A date written `YYYY-MM-DD` in the data, in words ("2 décembre 2026"); kept as is when it does not
        parse, and the "unknown date" word when absent."""
        moment = parse_day(text)
        if moment is None or text is None:
            return text or self.t("common.unknown_date")
        if len(text.strip()) == 7:  # a month: "mars 2020"
            return f"{_MONTHS[self.lang][moment.month - 1]} {moment.year}"
        return self.date(moment)

    def country(self, code: str) -> str:
        return country_name(code, self.lang)

    def quote(self, text: str) -> str:
        """« text » in French (with no-break spaces), “text” in English."""
        return f"«\u00a0{text}\u00a0»" if self.lang == "fr" else f"“{text}”"


_KEY_CALL = re.compile(r"""\b(?:t|tn)\(\s*["']([a-z0-9_.]+)["']""")


def keys_used_in(text: str) -> set[str]:
    """Literal keys passed to t()/tn() in a template or module; used by the tests to find gaps."""
    return set(_KEY_CALL.findall(text))
