"""The DPO's register file: which providers the organisation uses, and for what (what only the DPO knows).

YAML, validated like the catalog: any problem is one line `FILE:LINE: what is wrong` (exit 2). Example:
`examples/register.yaml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from auditor.catalog import _compose, _Composer, _line, _line_for, _message
from auditor.errors import CatalogError

MAX_BYTES = 1024 * 1024
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Items = Annotated[list[Text], Field(min_length=1, max_length=50)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Strict):
    """Art. 30(1)(a): the controller, its representative, its DPO."""

    name: Text
    address: Text | None = None
    controller: Text | None = None  # the person responsible (e.g. the practice's doctor)
    representative: Text | None = None  # when the controller is not established in the EU
    dpo: Text | None = None  # name and contact of the data protection officer


class Use(_Strict):
    """One processing activity carried by one provider of the audit."""

    provider: Text  # a provider id of the catalog and the audit
    activity: Text  # the processing activity, e.g. "Messagerie avec les patients"
    purpose: Text  # Art. 30(1)(b)
    data_subjects: Items  # Art. 30(1)(c)
    data_categories: Items  # Art. 30(1)(c)
    retention: Text  # Art. 30(1)(f)
    joint_controller: Text | None = None  # Art. 30(1)(a)
    health_data: bool = False  # Art. 9 data (e.g. patients' health): the worksheet says so
    notes: Text | None = None


class RegisterFile(_Strict):
    organisation: Organisation
    uses: list[Use] = Field(min_length=1, max_length=500)


def load_uses(path: Path) -> tuple[RegisterFile, dict[int, int]]:
    """The register file, and the line of each use (for errors found later, e.g. a provider not audited)."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CatalogError(name, None, "file not found; pass the register file with --uses FILE "
                                       "(an example: examples/register.yaml)") from None
    except OSError as exc:
        raise CatalogError(name, None, f"cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise CatalogError(name, None, f"file larger than {MAX_BYTES // 1024} KiB; this is not a register file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(name, raw.count(b"\n", 0, exc.start) + 1, "not UTF-8 text; save it as UTF-8") from None
    root = _compose(text, name)
    if root is None:
        raise CatalogError(name, None, "the file is empty; it needs `organisation:` and `uses:`")
    composer = _Composer(name)
    data = composer.convert(root)
    lines = {**composer.lines, (): _line(root)}
    for values in _booleans(data):
        values["health_data"] = str(values["health_data"]).lower() in ("true", "yes", "oui")
    try:
        parsed = RegisterFile.model_validate(data)
    except ValidationError as exc:
        first = min(exc.errors(), key=lambda e: _line_for(tuple(e["loc"]), lines) or 0)
        raise CatalogError(name, _line_for(tuple(first["loc"]), lines), _message(first, data)) from None
    return parsed, {i: lines.get(("uses", i), 0) for i in range(len(parsed.uses))}


def _booleans(data: object) -> list[dict[str, object]]:
    """The uses whose `health_data` is written as text (the composer keeps every scalar as text)."""
    uses = data.get("uses") if isinstance(data, dict) else None
    return [u for u in uses or [] if isinstance(u, dict) and isinstance(u.get("health_data"), str)
            and str(u["health_data"]).lower() in ("true", "false", "yes", "no", "oui", "non")]
