"""What a report needs besides the audit: language, branding, criteria texts, changes since last time.

These are plain data so that the scoring package (criteria titles, explanations, legal references) and the
diff module (change records) can feed the renderers without the renderers importing them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from auditor.errors import ConfigError
from auditor.report.i18n import Lang

MAX_LOGO_BYTES = 512 * 1024  # a logo is decoration; a bigger file is a mistake, and bloats every report

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def logo_data_uri(logo: bytes) -> str:
    """The logo as a `data:` URI, accepting only PNG or JPEG by their magic bytes.

    SVG is refused on purpose: it is a document that can carry scripts and external references, and the
    report promises no active content. Raises ConfigError for anything else.
    """
    if len(logo) > MAX_LOGO_BYTES:
        raise ConfigError(f"logo is {len(logo)} bytes; the limit is {MAX_LOGO_BYTES}")
    if logo.startswith(_PNG_MAGIC):
        mime = "image/png"
    elif logo.startswith(_JPEG_MAGIC):
        mime = "image/jpeg"
    else:
        raise ConfigError("logo must be a PNG or JPEG image (SVG and other formats are refused)")
    return f"data:{mime};base64,{base64.b64encode(logo).decode('ascii')}"


class Branding(BaseModel):
    """Who the report is from (the DPO's firm, its author) and for (the client), its version, who signs it and
    who may receive it (the `[report]` table of the config file, or `auditor report` flags).

    Distribution is the controller's decision, not the DPO's: `controller` names who authorised it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    firm: str | None = None
    client: str | None = None
    logo: bytes | None = None
    author: str | None = None
    version: str | None = None  # the report's own version ("1.0", "2026-12 rev. 2")
    controller: str | None = None  # who authorised the distribution (the controller, or its representative)
    distribution: tuple[str, ...] = ()  # the recipients the controller authorised
    signature: tuple[str, ...] = ()  # lines of the signature block (name, function, firm)
    seal: str | None = None  # the audit's seal: its manifest SHA-256 and signing-key fingerprint (docs/evidence.md)

    @field_validator("logo")
    @classmethod
    def _check_logo(cls, v: bytes | None) -> bytes | None:
        if v is not None:
            logo_data_uri(v)  # validate early, where the caller can still fix the input
        return v

    def logo_uri(self) -> str | None:
        return logo_data_uri(self.logo) if self.logo is not None else None


class RefInfo(BaseModel):
    """A legal or technical reference: its label per language, the URL read, and when it was checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    label_fr: str | None = None
    url: str = ""
    checked: str | None = None

    def label_in(self, lang: str) -> str:
        return self.label_fr if lang == "fr" and self.label_fr else self.label


def ref_infos(refs: Iterable[Any]) -> list[RefInfo]:
    """References from the scoring package ({label, label_fr?, url, checked?}) or (label, url) pairs."""
    out = []
    for r in refs:
        if isinstance(r, RefInfo):
            out.append(r)
        elif isinstance(r, list | tuple):
            out.append(RefInfo(label=str(r[0]), url=str(r[1])))
        else:
            data = _plain(r)
            out.append(RefInfo(label=str(data.get("label") or ""), label_fr=data.get("label_fr"),
                               url=str(data.get("url") or ""), checked=data.get("checked")))
    return out


def _in(texts: Mapping[str, str], lang: str) -> str:
    """The text in `lang`, else in French (the reference language), else empty."""
    return texts.get(lang) or texts.get("fr") or ""


class CriterionInfo(BaseModel):
    """Texts for one scoring criterion: titles, explanation and advice per language, legal references."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: dict[str, str]
    short: dict[str, str] = Field(default_factory=dict)
    explanation: dict[str, str] = Field(default_factory=dict)
    meaning: dict[str, str] = Field(default_factory=dict)  # what a criterion not met means for the client
    action: dict[str, str] = Field(default_factory=dict)  # what to ask the provider, or do
    references: list[RefInfo] = Field(default_factory=list)
    version: int | None = None
    reviewed: str | None = None

    @field_validator("references", mode="before")
    @classmethod
    def _references(cls, v: Any) -> Any:
        return ref_infos(v) if isinstance(v, list | tuple) else v

    def title_in(self, lang: str, fallback: str) -> str:
        """The title in `lang`, else in French (the reference language), else any, else `fallback`."""
        return self.title.get(lang) or self.title.get("fr") or next(iter(self.title.values()), "") or fallback

    def short_in(self, lang: str, fallback: str) -> str:
        return _in(self.short, lang) or self.title_in(lang, fallback)

    def explanation_in(self, lang: str) -> str:
        return _in(self.explanation, lang)

    def meaning_in(self, lang: str) -> str:
        return _in(self.meaning, lang)

    def action_in(self, lang: str) -> str:
        return _in(self.action, lang)


class UseInfo(BaseModel):
    """One use of the scoring profile (its `uses:` list): title per language, and the rule's numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: dict[str, str]
    assessed: bool = True
    threshold: float | None = None
    margin: float = 0
    reason: dict[str, str] = Field(default_factory=dict)  # why the profile does not assess it

    def title_in(self, lang: str, fallback: str) -> str:
        return self.title.get(lang) or self.title.get("fr") or fallback


class ProfileInfo(BaseModel):
    """The scoring profile the report's scores were computed under, as its file describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: dict[str, str]
    version: int
    reviewed: str
    criteria_version: int | None = None
    criteria_reviewed: str | None = None
    references: list[RefInfo] = Field(default_factory=list)
    blockers: dict[str, str] = Field(default_factory=dict)  # criterion id -> the grade it caps at
    points: dict[str, float] = Field(default_factory=dict)  # criterion id -> its weight in the profile


def profile_info(profile: Any, criteria: Any = None) -> tuple[ProfileInfo, dict[str, UseInfo]]:
    """ProfileInfo and the uses from the scoring package's Profile (and Criteria), without importing it."""
    data = _plain(profile)
    crit = _plain(criteria) if criteria is not None else {}
    required_cap = data.get("required_cap")
    caps, points = {}, {}
    for item in data.get("criteria") or ():
        c = _plain(item)
        points[str(c["id"])] = float(c.get("points") or 0)
        cap = c.get("blocker") or (required_cap if c.get("required") else None)
        if cap:
            caps[str(c["id"])] = str(cap)
    info = ProfileInfo(id=str(data["id"]), title=_plain(data["title"]), version=int(data["version"]),
                       reviewed=str(data["reviewed"]), criteria_version=crit.get("version"),
                       criteria_reviewed=crit.get("reviewed"), references=ref_infos(data.get("references") or ()),
                       blockers=caps, points=points)
    uses: dict[str, UseInfo] = {}
    for item in data.get("uses") or ():
        use = _plain(item)
        uses[str(use["id"])] = UseInfo(title=_plain(use["title"]), assessed=bool(use.get("assessed", True)),
                                       threshold=use.get("threshold"), margin=float(use.get("margin") or 0),
                                       reason=_plain(use["reason"]) if use.get("reason") else {})
    return info, uses


class ChangeInfo(BaseModel):
    """One difference since the previous audit, as the diff module reports it.

    `kind` is one of CHANGE_KINDS when the diff module uses the shared vocabulary; any other value is
    shown as is rather than dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    provider: str
    check: str | None = None
    message: str
    subject: str | None = None  # the domain, host or endpoint the change is about, when there is one


CHANGE_KINDS = ("regression", "improvement", "neutral", "added", "removed", "changed")


def _plain(obj: Any) -> dict[str, Any]:
    """A mapping from a pydantic model, a mapping, or any object with attributes."""
    if hasattr(obj, "model_dump"):
        dumped = obj.model_dump()
        return dumped if isinstance(dumped, dict) else {}
    if isinstance(obj, Mapping):
        return dict(obj)
    return {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_")}


def criteria_info(criteria: Iterable[Any]) -> dict[str, CriterionInfo]:
    """Criterion texts from the scoring package's criteria (models or mappings with `id`, `title`,
    `explanation`, `references`), keyed by id, without importing that package."""
    infos: dict[str, CriterionInfo] = {}
    for item in criteria:
        data = _plain(item)
        advice = _plain(data["advice"]) if data.get("advice") else {}
        infos[str(data["id"])] = CriterionInfo(
            title=dict(data.get("title") or {}), short=dict(data.get("short") or {}),
            explanation=dict(data.get("explanation") or {}), meaning=dict(advice.get("meaning") or {}),
            action=dict(advice.get("action") or {}), references=ref_infos(data.get("references") or []),
            version=data.get("version"), reviewed=data.get("reviewed"),
        )
    return infos


def changes_info(changes: Iterable[Any], lang: str) -> list[ChangeInfo]:
    """Change records from the diff module (models or mappings with `kind`, `provider`, `check`,
    `subject`, `message` and optionally `message_fr`), with the message in `lang`."""
    records: list[ChangeInfo] = []
    for item in changes:
        data = _plain(item)
        message = (data.get("message_fr") if lang == "fr" else None) or data.get("message") or ""
        check = data.get("check")
        records.append(ChangeInfo(
            kind=str(data.get("kind") or "changed"), provider=str(data.get("provider") or ""),
            check=str(check) if check else None, message=str(message),
            # Score and provider changes name the provider again as their subject: say it once.
            subject=str(data["subject"]) if data.get("subject") and data["subject"] != data.get("provider")
            else None,
        ))
    return records


def _now() -> datetime:
    return datetime.now(UTC)


class ReportContext(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lang: Lang = "fr"
    branding: Branding = Field(default_factory=Branding)
    criteria: dict[str, CriterionInfo] = Field(default_factory=dict)
    profile: ProfileInfo | None = None  # None: the audit's profile could not be loaded (texts fall back to ids)
    uses: dict[str, UseInfo] = Field(default_factory=dict)  # in the profile's order
    changes: list[ChangeInfo] | None = None  # None: no comparison was made (the section is left out)
    previous_audit_id: str | None = None
    generated_at: datetime = Field(default_factory=_now)

    def use_title(self, use: str) -> str:
        info = self.uses.get(use)
        return info.title_in(self.lang, use) if info else use
