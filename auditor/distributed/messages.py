"""What travels through the broker, and how each message is signed and checked (docs/distributed.md).

Pure: no broker, no network. Two kinds of message, both JSON, both carrying an HMAC-SHA256 over their
canonical form (sorted keys, no spaces, UTF-8) with the key every configured coordinator and worker shares:

- a *unit* (coordinator → worker): one provider, for one vantage queue, of one campaign;
- a *report* (worker → coordinator): `started`, `result` (the findings and the worker's vantage point) or
  `failure` (why the unit could not run), naming the campaign, the unit and the vantage it answers for.

Each kind signs with its own label, so a unit's MAC can never pass for a report's. Whoever can write to the
broker can still drop or delay messages; what it cannot do without the key is make a worker probe a target
of its choosing or make the coordinator store findings of its making.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor.errors import ConfigError
from auditor.store.evidence import canonical_json

UNIT_LABEL = b"auditor/unit/1\n"
REPORT_LABEL = b"auditor/report/1\n"
# A unit's provider, a result's findings: bounded, as anything read from the broker (a provider with every
# check and its evidence is well under 1 MB; the lab's largest is about 200 kB).
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MIN_KEY_CHARS = 32
KEY_ENV = "AUDITOR_BROKER_KEY"
VANTAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SHARED_QUEUE = "auditor.units"
ANY_VANTAGE = "*"  # the unit id's vantage part when any worker may take it


class BadMessage(ValueError):
    """A message from the broker that is not ours to trust: unreadable, too large, unsigned or mis-signed."""


def check_vantage_name(name: str) -> str:
    if not VANTAGE_NAME.match(name):
        raise ConfigError(f"invalid vantage name {name[:80]!r}: lower-case letters, digits, '.', '_' or '-', "
                          "at most 63 characters (e.g. eu-paris)")
    return name


def unit_queue(vantage: str | None) -> str:
    """The queue a vantage's workers consume; the shared one (any worker) without a name."""
    return f"{SHARED_QUEUE}.{vantage}" if vantage else SHARED_QUEUE


def reply_queue(campaign: str) -> str:
    return f"auditor.results.{campaign}"


def unit_id(provider_id: str, vantage: str | None) -> str:
    return f"{provider_id}@{vantage or ANY_VANTAGE}"


def canonical(body: dict[str, Any]) -> bytes:
    return canonical_json(body).encode()


def _mac(key: bytes, label: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, label + canonical(body), hashlib.sha256).hexdigest()


def sign(key: bytes, label: bytes, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with its `mac`; `body` must not hold one already."""
    return {**body, "mac": _mac(key, label, body)}


def verify(key: bytes, label: bytes, message: Any) -> dict[str, Any]:
    """The message without its `mac`, when the MAC is right; else BadMessage saying why."""
    if not isinstance(message, dict):
        raise BadMessage(f"not a JSON object ({type(message).__name__})")
    body = {k: v for k, v in message.items() if k != "mac"}
    mac = message.get("mac")
    if not isinstance(mac, str):
        raise BadMessage("no HMAC")
    try:
        size = len(canonical(body))
    except (TypeError, ValueError) as exc:
        raise BadMessage(f"not canonical JSON ({exc})") from exc
    if size > MAX_MESSAGE_BYTES:
        raise BadMessage(f"{size} bytes, more than the {MAX_MESSAGE_BYTES} allowed")
    if not hmac.compare_digest(mac, _mac(key, label, body)):
        raise BadMessage("HMAC mismatch: not signed with this campaign's shared key")
    return body


class Unit(BaseModel):
    """One provider for one vantage queue; `provider` is the catalog entry as JSON (auditor.catalog.Provider)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1  # the message format's version
    campaign: str = Field(pattern=CAMPAIGN_ID.pattern)
    unit: str = Field(max_length=200)
    attempt: int = Field(ge=1, le=100)
    vantage: str | None = Field(default=None, pattern=VANTAGE_NAME.pattern)
    provider: dict[str, Any]


class Report(BaseModel):
    """A worker's word on one unit. `vantage` and `result` come with `result`; `reason` with `failure`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1  # the message format's version
    kind: Literal["started", "result", "failure"]
    campaign: str = Field(pattern=CAMPAIGN_ID.pattern)
    unit: str = Field(max_length=200)
    attempt: int = Field(ge=1, le=100)
    vantage_name: str | None = Field(default=None, pattern=VANTAGE_NAME.pattern)
    worker: str = Field(max_length=200)
    redelivered: bool = False
    vantage: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=2000)


def signed_unit(key: bytes, unit: Unit) -> dict[str, Any]:
    return sign(key, UNIT_LABEL, unit.model_dump(mode="json"))


def signed_report(key: bytes, report: Report) -> dict[str, Any]:
    return sign(key, REPORT_LABEL, report.model_dump(mode="json"))


def _model(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise BadMessage(f"{where}: {first['msg']}") from exc


def open_unit(key: bytes, message: Any) -> Unit:
    unit: Unit = _model(Unit, verify(key, UNIT_LABEL, message))
    return unit


def open_report(key: bytes, message: Any) -> Report:
    report: Report = _model(Report, verify(key, REPORT_LABEL, message))
    return report


def load_key(key_file: Path | None, environ: dict[str, str] | None = None) -> bytes:
    """The shared key: from `key_file` (mode 0600 or stricter, like an SSH key), else $AUDITOR_BROKER_KEY."""
    environ = dict(os.environ) if environ is None else environ
    if key_file is not None:
        try:
            mode = key_file.stat().st_mode
            text = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read the broker key ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{key_file}: the broker key must be text (e.g. openssl rand -hex 32)") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{key_file}: the broker key is readable by others (mode {stat.S_IMODE(mode):o}); "
                              f"chmod 600 {key_file}")
        where = str(key_file)
    elif environ.get(KEY_ENV):
        text, where = environ[KEY_ENV].strip(), KEY_ENV
    else:
        raise ConfigError(f"no broker key: pass --key-file FILE (mode 0600) or set {KEY_ENV}; the same key on the "
                          "coordinator and every worker (e.g. openssl rand -hex 32)")
    if len(text) < MIN_KEY_CHARS:
        raise ConfigError(f"{where}: the broker key is too short ({len(text)} characters, at least "
                          f"{MIN_KEY_CHARS}: e.g. openssl rand -hex 32)")
    return text.encode()
