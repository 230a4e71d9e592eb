"""The provider catalog: load `providers.yaml` into frozen, validated models.

Every problem in the file becomes one `CatalogError` whose text is `FILE:LINE: what is wrong (how to fix)`.
Lines come from the YAML node marks (yaml.compose), so pydantic error locations are mapped back to the key
or list item that caused them. The file is untrusted input: its size, nesting and YAML features are capped
(no anchors/aliases, no custom tags, no duplicate keys).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from auditor.errors import CatalogError

__all__ = [
    "MAX_BYTES", "ROLES", "SCHEMA", "Attestation", "Catalog", "Claim", "Company", "Contradiction", "DataRole",
    "Endpoint", "MtaStsPolicy", "MxRecord", "Observation", "Parent", "Provider", "Site", "endpoints_from_roles",
    "load_catalog", "normalize_hostname", "parse_catalog", "split_host_port",
]

SCHEMA = "auditor.providers/1"
MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 16  # the format nests 6 deep; anything deeper is garbage or an attack
DEFAULT_PORT = 443
ENDPOINT_KEYS = ("host", "port", "tls", "protocol")  # an endpoint written as a mapping
ROLES = ("webmail", "api", "chat", "web", "directory", "media", "relay")
Role = Literal["webmail", "api", "chat", "web", "directory", "media", "relay"]

_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CLAIM_RE = re.compile(r"[a-z0-9_]{1,64}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------------------
# Pure value checks, shared by the models (and usable by other modules)
# ---------------------------------------------------------------------------------------------------------

def _show(value: Any, limit: int = 60) -> str:
    """A short, safe rendering of a hostile value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def normalize_hostname(name: str) -> str:
    """A DNS host name in lower-case A-label form; ValueError (with the reason) if it is not one."""
    if not isinstance(name, str) or not name:
        raise ValueError("expected a host name such as mail.example.org")
    if len(name) > 1024:
        raise ValueError("host name too long (at most 253 characters)")
    text = name[:-1] if name.endswith(".") else name
    if not text.isascii():
        try:  # IDNA: a U-label name is accepted and stored as its A-labels
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{_show(name)} is not a valid internationalised host name") from None
    text = text.lower()
    if len(text) > 253:
        raise ValueError(f"{_show(name)} is too long for a host name (at most 253 characters)")
    labels = text.split(".")
    if len(labels) < 2:
        raise ValueError(f"{_show(name)} is not a fully qualified host name (e.g. mail.example.org)")
    for label in labels:
        if not _LABEL_RE.fullmatch(label):
            raise ValueError(
                f"{_show(name)} is not a valid host name: label {_show(label)} must be 1-63 letters, "
                "digits or hyphens, not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        raise ValueError(f"{_show(name)} looks like an IP address; give the host name instead")
    return text


def split_host_port(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int | str]:
    """`host[:port]` -> (host, port). A malformed port is returned as text for the model to reject."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if port.isdigit() and len(port) <= 5:
        return host, int(port)
    return host, port


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError(
            f"{_show(value)} is not a valid id: use lower-case letters, digits and hyphens, "
            "starting with a letter or digit (e.g. mailbox-org)"
        )
    return value


def _check_country(value: str | None) -> str | None:
    if value is None:
        return None
    if not _COUNTRY_RE.fullmatch(value):
        hint = f" (did you mean {value.upper()}?)" if _COUNTRY_RE.fullmatch(value.upper()) else ""
        raise ValueError(
            f"{_show(value)} is not a country code{hint}: use two upper-case letters "
            "(ISO 3166-1 alpha-2, e.g. DE) or unknown"
        )
    return value


def _check_url(value: str) -> str:
    if len(value) > 2048:
        raise ValueError("URL too long (at most 2048 characters)")
    if any(ch.isspace() for ch in value) or _CONTROL_RE.search(value):
        raise ValueError(f"{_show(value)} is not a URL: it contains spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError(f"{_show(value)} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{_show(value)} is not an http(s) URL; write the full address, e.g. https://…")
    if not host:
        raise ValueError(f"{_show(value)} has no host; write the full address, e.g. https://example.org/page")
    return value


def _check_date(value: str) -> str:
    match = _DATE_RE.fullmatch(value)
    month = int(match.group(2) or 1) if match else 0
    day = int(match.group(3) or 1) if match else 0
    if not match or not 1 <= month <= 12 or not 1 <= day <= 31:
        raise ValueError(f"{_show(value)} is not a date: use YYYY, YYYY-MM or YYYY-MM-DD")
    return value


def _text(max_len: int) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if len(value) > max_len:
            raise ValueError(f"too long ({len(value)} characters, at most {max_len})")
        if _CONTROL_RE.search(value):
            raise ValueError("contains control characters")
        return value

    return AfterValidator(check)


def _unknown_to_none(value: Any) -> Any:
    """The YAML word `unknown` is how the catalog says "not known": None in the models."""
    return None if isinstance(value, str) and value.strip().lower() == "unknown" else value


NOT_APPLICABLE = "not_applicable"
_WORDS: dict[str, Any] = {"true": True, "false": False, "unknown": None, "not_applicable": NOT_APPLICABLE}


def _word(value: Any, allowed: tuple[str, ...]) -> Any:
    """A YAML boolean or one of the `allowed` words; YAML's yes/no/on/off are ambiguous: refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in allowed:
        return _WORDS[value.strip().lower()]
    raise ValueError(f"{_show(value)} is not allowed: write {', '.join(allowed[:-1])} or {allowed[-1]}")


def _tristate(value: Any) -> Any:
    """true | false | unknown."""
    return None if value is None else _word(value, ("true", "false", "unknown"))


def _strict_bool(value: Any) -> Any:
    """true | false only."""
    return _word(value, ("true", "false"))



def _dpf(value: Any) -> Any:
    """true | false | unknown | not_applicable (the EU–US DPF lists US organisations only)."""
    return None if value is None else _word(value, ("true", "false", "unknown", NOT_APPLICABLE))


Hostname = Annotated[str, AfterValidator(normalize_hostname)]
Url = Annotated[str, AfterValidator(_check_url)]
Country = Annotated[str | None, BeforeValidator(_unknown_to_none), AfterValidator(_check_country)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
TriState = Annotated[bool | None, BeforeValidator(_tristate)]
Flag = Annotated[bool, BeforeValidator(_strict_bool)]
Dpf = Annotated[bool | Literal["not_applicable"] | None, BeforeValidator(_dpf)]
Name = Annotated[str, _text(200)]
OptName = Annotated[str | None, BeforeValidator(_unknown_to_none), _text(200)]
OptText = Annotated[str | None, BeforeValidator(_unknown_to_none), _text(2000)]
OptUrl = Annotated[Url | None, BeforeValidator(_unknown_to_none)]
OptDate = Annotated[str | None, BeforeValidator(_unknown_to_none), AfterValidator(
    lambda v: None if v is None else _check_date(v))]


# ---------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------

class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Organisation(_Frozen):
    """A company or its parent: where it is established, and whether it is on the EU–US DPF list.

    The Data Privacy Framework certifies US organisations only, so an organisation known to be elsewhere is
    `not_applicable` whether or not the file says so, and `not_applicable` for a US organisation is refused.
    """

    country: Country = None
    dpf_certified: Dpf = None

    @model_validator(mode="before")
    @classmethod
    def _outside_us(cls, data: Any) -> Any:
        if isinstance(data, dict) and _unknown_to_none(data.get("dpf_certified")) is None:
            country = _unknown_to_none(data.get("country"))
            if isinstance(country, str) and country and country != "US":
                return {**data, "dpf_certified": NOT_APPLICABLE}
        return data

    @property
    def on_dpf_list(self) -> bool | None:
        """True, False or None (unknown): `not_applicable` is False, as no such organisation is on the list."""
        return False if isinstance(self.dpf_certified, str) else self.dpf_certified

    @model_validator(mode="after")
    def _dpf_scope(self) -> _Organisation:
        if self.country == "US" and self.dpf_certified == NOT_APPLICABLE:
            raise ValueError("a US organisation is on the EU–US Data Privacy Framework list or not: "
                             "dpf_certified must be true, false or unknown")
        if self.country not in (None, "US") and self.dpf_certified != NOT_APPLICABLE:
            raise ValueError(f"not a US organisation ({self.country}): the EU–US Data Privacy Framework lists "
                             "US organisations only; write dpf_certified: not_applicable")
        return self


class Parent(_Organisation):
    name: Name


class Company(_Organisation):
    legal_name: OptName
    country: Country
    parent: Annotated[Parent | None, BeforeValidator(_unknown_to_none)] = None
    # `parent: unknown` in the file: not known whether there is a parent (`parent` is then None, as for
    # `parent: null`, which says there is none).
    _parent_unknown: bool = PrivateAttr(default=False)
    # Other countries where the company or its group is established (subsidiary, branch, office): a
    # foreign authority may reach data through an establishment on its soil, whatever the servers.
    presence: list[CountryCode] = Field(default_factory=list, max_length=50)
    source: OptUrl = None

    @model_validator(mode="wrap")
    @classmethod
    def _note_unknown_parent(cls, data: Any, handler: Any) -> Any:
        company = handler(data)
        raw = data.get("parent") if isinstance(data, dict) else None
        if isinstance(company, Company) and isinstance(raw, str) and raw.strip().lower() == "unknown":
            company._parent_unknown = True
        return company

    @property
    def parent_unknown(self) -> bool:
        return self._parent_unknown


class DataRole(_Frozen):
    """The provider's GDPR role towards a customer's data: processor (Art. 28) or controller (Art. 4(7))."""

    value: Literal["processor", "controller"] | None = None
    basis: OptText = None  # what the role rests on, e.g. "offers an Art. 28 data processing agreement"
    basis_fr: OptText = None  # the same in French: the French report shows it, never the English `basis`
    source: OptUrl = None

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Any:
        return _unknown_to_none(value)


class Site(_Frozen):
    """A place where the provider itself publishes: a host (and its subdomains), optionally a path prefix."""

    host: Hostname
    path: Annotated[str, _text(300)] = "/"

    def covers(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        host = (parts.hostname or "").rstrip(".").lower()
        if host != self.host and not host.endswith("." + self.host):
            return False
        prefix = self.path.rstrip("/") + "/"
        return (parts.path.rstrip("/") + "/").startswith(prefix)


def _site(value: Any) -> Any:
    """`"host[/path]"` as written in the catalog -> {host, path}."""
    if isinstance(value, str):
        host, slash, path = value.partition("/")
        return {"host": host, "path": "/" + path if slash else "/"}
    return value


class Endpoint(_Frozen):
    host: Hostname
    port: int
    role: Role
    # false: the port speaks the provider's own protocol (e.g. Threema's NaCl-based chat), so it is located
    # but not TLS-scanned; `protocol` says what it speaks, for the reports
    tls: Flag = True
    protocol: Annotated[str | None, _text(200)] = None

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> Any:
        if isinstance(value, str) and value.isdigit() and len(value) <= 5:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ValueError(f"{_show(value)} is not a number from 1 to 65535")
        return value

    @model_validator(mode="after")
    def _protocol_when_not_tls(self) -> Endpoint:
        if not self.tls and not self.protocol:
            raise ValueError("tls: false needs `protocol:`, a short description of what the port speaks instead "
                             "(e.g. protocol: \"Threema chat protocol (NaCl), not TLS\")")
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Attestation(_Frozen):
    """An independent body's statement that backs a claim: a certificate, an audit, a qualification."""

    body: Name  # who attests (e.g. the certification body)
    scope: OptText = None  # what is covered (e.g. HDS activities 1° to 6°, the service audited)
    referential: OptName = None  # the standard and its version (e.g. "HDS v2 (2024)")
    valid_from: OptDate = None
    valid_until: OptDate = None  # after this date the attestation is expired and backs nothing


class Contradiction(_Frozen):
    """A credible source that says the claim does not hold (e.g. keys the provider can access)."""

    url: Url
    note: Annotated[str, _text(2000)]
    date: OptDate = None


class MxRecord(_Frozen):
    host: Hostname
    pref: int | None = Field(default=None, ge=0, le=65535)  # None: the source names the host, not its preference


def _mx_pattern(value: str) -> str:
    """An MTA-STS `mx:` pattern (RFC 8461 §4.1): a host name, or `*.` and a host name."""
    wildcard = value.startswith("*.")
    return ("*." if wildcard else "") + normalize_hostname(value[2:] if wildcard else value)


class MtaStsPolicy(_Frozen):
    mode: Literal["enforce", "testing", "none"]
    mx: list[Annotated[str, AfterValidator(_mx_pattern)]] = Field(default_factory=list, max_length=50)
    max_age: int | None = Field(default=None, ge=0, le=31_557_600)


class Observation(_Frozen):
    """Mail facts an outside observer saw for one domain (DNS, MTA-STS policy), with the source and its date.

    These are what a DPO can compare a scan with: the lab models them too, and a test keeps both in step.
    """

    domain: Hostname
    observed: OptDate = None  # when the source saw it (not when we read the source)
    source: Url
    mx: list[MxRecord] | None = Field(default=None, max_length=20)
    mta_sts: MtaStsPolicy | None = None
    dane: TriState = None  # TLSA records published for the MX hosts
    dnssec: TriState = None  # the domain's zone is signed and validates
    dmarc: Literal["none", "quarantine", "reject"] | None = None  # the policy (p=) of the DMARC record
    note: OptText = None

    @model_validator(mode="after")
    def _says_something(self) -> Observation:
        if (self.mx, self.mta_sts, self.dane, self.dnssec, self.dmarc) == (None, None, None, None, None):
            raise ValueError("an observation needs at least one fact: mx, mta_sts, dane, dnssec or dmarc")
        return self


class Claim(_Frozen):
    name: str
    claimed: TriState
    detail: OptText = None
    evidence_url: OptUrl = None
    evidence_text: OptName = None  # what the evidence page must contain to back the claim
    source_date: OptDate = None
    checked: OptDate = None  # when a person last checked the claim against its evidence
    attestation: Attestation | None = None
    contradicted_by: Contradiction | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CLAIM_RE.fullmatch(value):
            raise ValueError(
                f"{_show(value)} is not a valid claim name: use lower-case letters, digits and _ (e.g. 2fa, e2ee)"
            )
        return value

    @model_validator(mode="after")
    def _text_needs_url(self) -> Claim:
        if self.evidence_text and not self.evidence_url:
            raise ValueError("evidence_text is set but evidence_url is not: add the page that contains it")
        return self


def _endpoint_item(item: Any, role: str) -> dict[str, Any]:
    """One list item: `"host[:port]"`, or `{host, port, tls, protocol}` (the Endpoint model checks values)."""
    if isinstance(item, str):
        host, port = split_host_port(item)
        return {"host": host, "port": port, "role": role}
    if isinstance(item, Mapping):
        unknown = [key for key in item if key not in ENDPOINT_KEYS]
        if unknown:  # `role` included: the list's key gives it
            where = f" in endpoint {item['host']!r}" if isinstance(item.get("host"), str) else ""
            raise ValueError(f"unknown key {_show(unknown[0])}{where}; allowed keys: {', '.join(ENDPOINT_KEYS)} "
                             "(check the spelling; the role is the list's key)")
        return {"port": DEFAULT_PORT, **item, "role": role}
    raise ValueError(f"endpoint {_show(item)} must be a \"host[:port]\" string or a mapping "
                     f"{{{', '.join(ENDPOINT_KEYS)}}}")


def endpoints_from_roles(roles: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The catalog's `role -> ["host[:port]" | {host: …, port: …, tls: …, protocol: …}, …]`, flattened in
    file order."""
    flat: list[dict[str, Any]] = []
    for role, items in roles.items():
        if role not in ROLES:
            raise ValueError(f"unknown endpoint role {_show(role)}; use one of {', '.join(ROLES)}")
        if items is None:
            continue
        if not isinstance(items, list):
            raise ValueError(f"endpoints.{role} must be a list of \"host[:port]\" strings or {{host: …}} mappings")
        flat += [_endpoint_item(item, role) for item in items]
    return flat


class Provider(_Frozen):
    id: Annotated[str, AfterValidator(_check_id)]
    name: Name
    kind: Literal["mail", "chat"]
    verified: OptDate = None  # when a person last checked this entry against its sources
    role: DataRole = Field(default_factory=DataRole)
    company: Company
    # Where the provider itself publishes (its mail domains count too): evidence found there is "stated by the
    # provider"; anywhere else it is a third party's word.
    sites: list[Annotated[Site, BeforeValidator(_site)]] = Field(default_factory=list, max_length=50)
    mail_domains: list[Hostname] = Field(default_factory=list, max_length=100, validate_default=True)
    endpoints: list[Endpoint] = Field(default_factory=list, max_length=200)
    published: list[Observation] = Field(default_factory=list, max_length=100)
    claims: list[Claim] = Field(default_factory=list, max_length=100)
    sources: list[Url] = Field(default_factory=list, max_length=100)
    notes: OptText = None

    @model_validator(mode="before")
    @classmethod
    def _roles(cls, data: Any) -> Any:
        # programmatic callers may pass the file's role mapping; the loader flattens it itself (for lines)
        if isinstance(data, dict) and isinstance(data.get("endpoints"), Mapping):
            data = {**data, "endpoints": endpoints_from_roles(data["endpoints"])}
        return data

    @field_validator("mail_domains")
    @classmethod
    def _domains(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("kind") == "mail" and not value:
            raise ValueError("a mail provider needs at least one mail domain: add `mail_domains: [example.org]`")
        dups = sorted({d for d in value if value.count(d) > 1})
        if dups:
            raise ValueError(f"mail domain {dups[0]!r} is listed twice")
        return value

    def publishes(self, url: str) -> bool:
        """True when `url` is on one of the provider's own sites or mail domains."""
        own = [*self.sites, *(Site(host=d) for d in self.mail_domains)]
        return any(site.covers(url) for site in own)

    @field_validator("claims")
    @classmethod
    def _unique_claims(cls, value: list[Claim]) -> list[Claim]:
        names = [c.name for c in value]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"claim {dups[0]!r} appears twice; merge the two entries")
        return value


class Catalog(_Frozen):
    providers: list[Provider] = Field(max_length=10_000)
    _path: str = PrivateAttr(default="providers.yaml")

    @field_validator("providers")
    @classmethod
    def _unique_ids(cls, value: list[Provider]) -> list[Provider]:
        ids = [p.id for p in value]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            raise ValueError(f"provider id {dups[0]!r} is used twice; ids must be unique")
        return value

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.providers]

    def get(self, provider_id: str) -> Provider:
        """The provider with this id; CatalogError (naming the known ids) if there is none."""
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise CatalogError(
            self._path, None, f"unknown provider {_show(provider_id)}; known: {', '.join(self.ids)}"
        )

    def select(self, ids: Sequence[str]) -> list[Provider]:
        """The providers with these ids, in the order given (duplicates dropped); all of them when empty."""
        if not ids:
            return list(self.providers)
        chosen: list[Provider] = []
        for provider_id in dict.fromkeys(ids):
            chosen.append(self.get(provider_id))
        return chosen


# ---------------------------------------------------------------------------------------------------------
# Loading: bytes -> YAML nodes (with lines) -> plain data -> models, every error with its line
# ---------------------------------------------------------------------------------------------------------

Loc = tuple[str | int, ...]
_YAML = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_YAML + t for t in ("str", "null", "bool", "int", "float", "timestamp")}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Composer:
    """Turns the node tree into plain data and records the line of every key and list item.

    Scalars stay text (so `country: NO` is Norway and `2014-11` a date string); only a plain null is None.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self._seen: set[int] = set()

    def fail(self, node: yaml.Node, message: str) -> CatalogError:
        return CatalogError(self.path, _line(node), message)

    def convert(self, node: yaml.Node, loc: Loc = ()) -> Any:
        if id(node) in self._seen:  # composed aliases are shared nodes
            raise self.fail(node, "anchors and aliases (&name / *name) are not supported; write the value out")
        self._seen.add(id(node))
        if len(loc) > MAX_DEPTH:
            raise self.fail(node, f"nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _PLAIN_TAGS:
                raise self.fail(node, f"YAML tag {_show(node.tag)} is not supported; write a plain value")
            return None if node.tag == _YAML + "null" and node.style is None else str(node.value)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _YAML + "seq":
                raise self.fail(node, f"YAML tag {_show(node.tag)} is not supported")
            items = []
            for index, child in enumerate(node.value):
                self.lines[(*loc, index)] = _line(child)
                items.append(self.convert(child, (*loc, index)))
            return items
        if isinstance(node, yaml.MappingNode):
            if node.tag != _YAML + "map":
                raise self.fail(node, f"YAML tag {_show(node.tag)} is not supported")
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                    raise self.fail(key_node, "keys must be plain words (e.g. name:)")
                key = str(key_node.value)
                if key in result:
                    raise self.fail(key_node, f"key {_show(key)} appears twice in the same mapping; keep one")
                self.lines[(*loc, key)] = _line(key_node)
                result[key] = self.convert(value_node, (*loc, key))
            return result
        raise self.fail(node, "unsupported YAML node")  # pragma: no cover - the composer makes only three kinds


def _compose(text: str, path: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark else None
        problem = " ".join(f"{exc.context or ''} {exc.problem or ''}".split()) or "invalid YAML"
        raise CatalogError(path, line, f"not valid YAML: {problem}; check indentation, colons and quotes") from None
    except yaml.YAMLError as exc:  # e.g. a character YAML refuses, without a mark
        raise CatalogError(path, None, f"not valid YAML: {_show(str(exc), 200)}") from None
    except RecursionError:
        raise CatalogError(path, None, "not valid here: nested too deeply") from None


def _flatten_endpoints(data: dict[str, Any], lines: dict[Loc, int], path: str) -> None:
    """Replace each provider's role mapping by the flat endpoint list, keeping each item's line."""
    providers = data.get("providers")
    if not isinstance(providers, list):
        return
    for index, provider in enumerate(providers):
        if not isinstance(provider, dict) or "endpoints" not in provider:
            continue
        roles = provider["endpoints"]
        base: Loc = ("providers", index, "endpoints")
        if roles is None:
            provider["endpoints"] = []
            continue
        if not isinstance(roles, dict):
            raise CatalogError(path, lines.get(base), "endpoints must map a role to a list of \"host[:port]\" "
                               f"(roles: {', '.join(ROLES)})")
        flat: list[dict[str, Any]] = []
        for role, items in roles.items():
            # the role itself first (line of the role key), then each item (line of the item)
            checks = [((*base, role), items if not isinstance(items, list) else [])]
            checks += [((*base, role, i), [item]) for i, item in enumerate(items if isinstance(items, list) else [])]
            for loc, value in checks:
                try:
                    entries = endpoints_from_roles({role: value})
                except ValueError as exc:
                    raise CatalogError(path, lines.get(loc), str(exc)) from None
                for entry in entries:
                    lines[(*base, len(flat))] = lines[loc]
                    for key in entry:  # a mapping item: each key's own line, for errors about its value
                        if (*loc, key) in lines:
                            lines[(*base, len(flat), key)] = lines[(*loc, key)]
                    flat.append(entry)
        provider["endpoints"] = flat


def _check_duplicate_ids(data: dict[str, Any], lines: dict[Loc, int], path: str) -> None:
    """Duplicate ids, found before pydantic so the error names the line of the second one."""
    seen: dict[str, int] = {}
    for index, provider in enumerate(data.get("providers") or []):
        if not isinstance(provider, dict) or not isinstance(provider.get("id"), str):
            continue
        pid = provider["id"]
        line = lines.get(("providers", index, "id"))
        if pid in seen:
            raise CatalogError(path, line, f"provider id {pid!r} is already used on line {seen[pid]}; "
                                           "ids must be unique")
        seen[pid] = line or 0


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (to list its allowed keys)."""
    model: type[BaseModel] = Catalog
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        found = _find_model(field.annotation)
        if found is None:
            return None
        model = found
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


# list key -> (what an item is called in messages, the item key that names it)
_LIST_LABELS = {"providers": ("provider", "id"), "claims": ("claim", "name"), "endpoints": ("endpoint", "name"),
                "published": ("observation", "domain")}


def _where(loc: Loc, data: Any) -> str:
    """`provider 'posteo', claim '2fa': company.country` — a readable place for a pydantic location."""
    parts: list[str] = []
    keys: list[str] = []
    node = data
    i = 0
    while i < len(loc):
        part = loc[i]
        node = node.get(part) if isinstance(node, dict) and isinstance(part, str) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
        if isinstance(part, int) and i > 0 and loc[i - 1] in _LIST_LABELS:
            label, key = _LIST_LABELS[str(loc[i - 1])]
            keys.pop()
            ident = None
            if isinstance(node, dict):
                ident = node.get(key)
                if label == "endpoint" and isinstance(node.get("host"), str):
                    ident = f"{node['host']}:{node.get('port')}"
            parts.append(f"{label} {ident!r}" if isinstance(ident, str) else f"{label} #{part + 1}")
        elif isinstance(part, int):
            keys.append(f"[{part}]")
        else:
            keys.append(part)
        i += 1
    field = ".".join(keys).replace(".[", "[")
    return ", ".join(parts + ([field] if field else []))


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)


def _message(err: Mapping[str, Any], data: Any) -> str:
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    where = _where(loc, data)
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(f.alias or n for n, f in model.model_fields.items()) if model else ""
        place = _where(loc[:-1], data)
        return (f"unknown key {key!r}" + (f" in {place}" if place else "")
                + (f"; allowed keys: {allowed}" if allowed else "") + " (check the spelling)")
    if kind == "missing":
        place = _where(loc[:-1], data)
        return f"missing required key {key!r}" + (f" in {place}" if place else "") + f"; add `{key}: …`"
    if kind == "value_error":
        return f"{where}: {err['ctx']['error']}"
    if kind == "literal_error":
        return f"{where}: {_show(err['input'])} is not allowed; use one of {err['ctx']['expected']}"
    if kind in ("string_type", "bool_type", "int_type"):
        return f"{where}: expected a single value, got {_kind_of(err['input'])}"
    if kind == "list_type":
        return f"{where}: expected a list (e.g. [a, b] or one `- item` per line), got {_kind_of(err['input'])}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{where}: expected a mapping of keys, got {_kind_of(err['input'])}"
    if kind == "too_long":
        return f"{where}: too many entries (at most {err['ctx'].get('max_length')})"
    return f"{where}: {err['msg']}"


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for size in range(len(loc), -1, -1):
        if loc[:size] in lines:
            return lines[loc[:size]]
    return None


def parse_catalog(text: str, path: str) -> Catalog:
    """Validate the catalog text; `path` is only used in error messages (`path:line: …`)."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise CatalogError(path, None, f"file larger than {MAX_BYTES // (1024 * 1024)} MB; "
                                       "this is not a provider catalog")
    root = _compose(text, path)
    if root is None:
        raise CatalogError(path, None, f"the file is empty; start it with `schema: {SCHEMA}` and `providers:`")
    composer = _Composer(path)
    data = composer.convert(root)
    lines = composer.lines
    lines[()] = _line(root)
    if not isinstance(data, dict):
        raise CatalogError(path, _line(root), f"expected a mapping with `schema: {SCHEMA}` and `providers:`")
    schema = data.pop("schema", None)
    if schema != SCHEMA:
        found = "is missing" if schema is None else f"is {_show(schema)}"
        raise CatalogError(path, lines.get(("schema",), 1),
                           f"schema {found}; this auditor reads `schema: {SCHEMA}` (add or fix that first line)")
    _flatten_endpoints(data, lines, path)
    _check_duplicate_ids(data, lines, path)
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = min(errors, key=lambda e: _line_for(tuple(e["loc"]), lines) or 0)
        raise CatalogError(path, _line_for(tuple(first["loc"]), lines), _message(first, data)) from None
    catalog._path = path
    return catalog


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file (at most 5 MB, UTF-8)."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # bounded read: also safe on pipes and devices
    except FileNotFoundError:
        raise CatalogError(name, None, "file not found; pass the catalog with --providers FILE") from None
    except IsADirectoryError:
        raise CatalogError(name, None, "is a directory, not a catalog file") from None
    except OSError as exc:
        raise CatalogError(name, None, f"cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise CatalogError(name, None, f"file larger than {MAX_BYTES // (1024 * 1024)} MB; "
                                       "this is not a provider catalog")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CatalogError(name, line, "not UTF-8 text; save the file as UTF-8") from None
    return parse_catalog(text, name)
