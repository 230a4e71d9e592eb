"""Foreign access laws as data (`auditor/data/access_laws.yaml`): which law reaches a provider, and how.

Pure look-ups, no network. See the data file for why some laws count in the score and others are shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from auditor.datafile import read_data

LAWS_FILE = Path(__file__).parent / "data" / "access_laws.yaml"

Via = Literal["company", "parent", "presence"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Law(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    country: str = Field(pattern=r"^[A-Z]{2}$")
    title: str
    reaches: tuple[Via, ...] = Field(min_length=1)
    scored: bool
    summary: dict[Literal["fr", "en"], str]
    abroad: dict[Literal["fr", "en"], str] | None = None  # what its text says of data stored abroad (see the file)
    date: str | None = None
    url: str = Field(pattern=r"^https://")
    checked_against: str = Field(pattern=r"^https://")
    checked: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class AccessLaws(_Frozen):
    reviewed: str
    laws: tuple[Law, ...]


@cache
def load_access_laws(path: Path = LAWS_FILE) -> AccessLaws:
    return read_data(path, AccessLaws, "access-law data")


def laws_reaching(establishments: Iterable[tuple[Via, str | None]]) -> list[tuple[Law, list[Via]]]:
    """The laws that reach a provider established as given ((via, country) pairs), with the ways they do."""
    reached: dict[str, tuple[Law, list[Via]]] = {}
    for law in load_access_laws().laws:
        for via, country in establishments:
            if country == law.country and via in law.reaches:
                entry = reached.setdefault(law.id, (law, []))
                if via not in entry[1]:
                    entry[1].append(via)
    return list(reached.values())


def law_record(law: Law) -> dict[str, Any]:
    """A law as findings carry it in their evidence (the report phrases it from there, not from this file)."""
    return {"id": law.id, "country": law.country, "title": law.title, "scored": law.scored, "summary": law.summary,
            "abroad": law.abroad, "url": law.url, "checked": law.checked}


def countries_with_laws() -> frozenset[str]:
    return frozenset(law.country for law in load_access_laws().laws)
