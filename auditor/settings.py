"""One Settings object, from (highest first) flags, AUDITOR_* environment variables, a config file, defaults.

The config file is TOML: `--config FILE`, else `$AUDITOR_CONFIG`, else `~/.config/auditor/config.toml` when
it exists. Keys are the field names below (e.g. `resolver = "192.0.2.53:53"`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor.errors import ConfigError
from auditor.net.dns import MAX_IN_FLIGHT

DATA_DIR = Path(__file__).parent / "data"
# Large mail services with stable MX hosts on IPv4 and IPv6 (docs/vantage.md): only connected to, never mailed.
REFERENCE_DOMAINS = ("gmail.com", "posteo.de", "outlook.com")
RESOLVER_CANDIDATES = ("9.9.9.9", "1.1.1.1")  # Quad9, Cloudflare: both validate and return DNSSEC records
DEFAULT_TRUST_ANCHOR = DATA_DIR / "root-anchors.zone"
# The catalog shipped in the package: in a checkout, a symlink to the top-level providers.yaml (the file
# people edit); in a wheel, a copy of it (setuptools follows the link).
PACKAGED_CATALOG = DATA_DIR / "providers.yaml"
CATALOG_NAME = "providers.yaml"
DEMO_DB_NAME = "demo.sqlite"
UNITS_IN_FLIGHT = 64  # `auditor demo` keeps its audits next to its reports, apart from real ones


def default_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "auditor" / "audits.sqlite"


def default_catalog() -> Path:
    """providers.yaml in the current directory when there is one (a DPO's own catalog), else the packaged one."""
    local = Path(CATALOG_NAME)
    return local if local.exists() else PACKAGED_CATALOG


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
        if not closed:
            host = ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected IP[:PORT], got {text!r}")
    return host, int(port)


def _pairs(text: str, form: str, valid: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    """`a=b,c=d` as pairs; an item that is not `a=b` or fails `valid` is a ValueError naming `form`."""
    pairs = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not valid(key, value):
            raise ValueError(f"expected {form}[,{form}…], got {item!r}")
        pairs.append((key, value))
    return pairs


def parse_pki_roots(text: str) -> dict[str, Path]:
    """`igc-sante=/path/roots.pem[,…]`: the roots to trust for a sector PKI instead of the shipped ones."""
    return {name: Path(path) for name, path in _pairs(text, "PKI=FILE", lambda k, v: bool(k and v))}


def parse_port_map(text: str) -> dict[int, int]:
    """`25=10025,443=10443`: where the lab listens instead of the well-known ports."""
    return {int(src): int(dst) for src, dst in _pairs(text, "PORT=PORT", lambda k, v: k.isdigit() and v.isdigit())}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resolver: str | None = None  # IP[:PORT]; None: the system's (/etc/resolv.conf)
    trust_anchor: Path = DEFAULT_TRUST_ANCHOR  # DS/DNSKEY records in zone-file format
    ca_bundle: Path | None = None  # None: certifi's bundle
    # Sector PKI roots (auditor/data/trust_spaces.yaml) replaced by a PEM file per PKI id: the lab's stand-in
    # IGC-Santé CA, or newer roots than the shipped ones.
    pki_roots: dict[str, Path] = Field(default_factory=dict)
    geoip_db: Path | None = None  # a MaxMind-format database (GeoLite2, DB-IP lite, the lab's)
    timeout: float = Field(default=10.0, gt=0, le=300)  # one network operation
    probe_deadline: float = Field(default=60.0, gt=0, le=3600)  # one probe, hard
    provider_deadline: float = Field(default=300.0, gt=0, le=86400)  # one provider, hard
    concurrency: int = Field(default=32, ge=1, le=1024)
    per_host: int = Field(default=3, ge=1, le=64)  # probes at once against one address (politeness)
    tls_connections: int = Field(default=5, ge=1, le=64)  # handshakes in flight in one TLS scan (sslyze's default)
    dns_in_flight: int = Field(default=MAX_IN_FLIGHT, ge=1, le=4096)  # DNS questions on the wire at once
    tls_scans: int = Field(default=32, ge=1, le=256)  # TLS scans at once in a run (bounds threads and memory)
    # Providers (units) audited at once; the others wait as plain objects, their deadline not yet running
    # (docs/architecture.md "Scheduler": the default from the 1,000- and 10,000-domain benchmarks).
    units_in_flight: int = Field(default=UNITS_IN_FLIGHT, ge=1, le=4096)
    notify_deadline: float = Field(default=30.0, gt=0, le=600)  # one notification, name lookup to answer
    port_map: dict[int, int] = Field(default_factory=dict)
    db: Path = Field(default_factory=default_db)
    reports_dir: Path = Path("reports")
    profile: str = "rgpd"
    lang: str = "fr"
    lab: bool = False  # set by the lab itself: marks the audit as a simulation
    # The vantage point (docs/vantage.md): its name, what characterises it before a scan, and the way out
    # when outbound port 25 is blocked here.
    vantage_name: str | None = Field(default=None, max_length=64)
    # Mail domains whose MX hosts (port 25) and web addresses (port 443, IPv6) tell what this machine reaches.
    reference_domains: list[str] = Field(default_factory=lambda: list(REFERENCE_DOMAINS), max_length=10)
    # Resolvers asked (one `. DNSKEY` question) only when the configured one does not return DNSSEC records,
    # to name one that does from here.
    resolver_candidates: list[str] = Field(default_factory=lambda: list(RESOLVER_CANDIDATES), max_length=10)
    smtp_untestable_ok: bool = False  # port 25 blocked here: go on, SMTP checks "not testable from this vantage"
    # Accountability (docs/evidence.md): the Ed25519 key sealing audits (None: `<db>.signing-key`), and an RFC 3161
    # time-stamping authority with the roots its tokens are checked against (None: the CA bundle).
    signing_key: Path | None = None
    tsa_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2000)
    tsa_ca: Path | None = None

    @field_validator("resolver")
    @classmethod
    def _check_resolver(cls, v: str | None) -> str | None:
        if v is not None:
            parse_host_port(v, 53)
        return v

    @field_validator("reference_domains", "resolver_candidates", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        return [item.strip() for item in v.split(",") if item.strip()] if isinstance(v, str) else v

    @field_validator("resolver_candidates")
    @classmethod
    def _check_candidates(cls, v: list[str]) -> list[str]:
        for item in v:
            parse_host_port(item, 53)
        return v

    @field_validator("port_map", mode="before")
    @classmethod
    def _parse_port_map(cls, v: Any) -> Any:
        return parse_port_map(v) if isinstance(v, str) else v

    @field_validator("pki_roots", mode="before")
    @classmethod
    def _parse_pki_roots(cls, v: Any) -> Any:
        return parse_pki_roots(v) if isinstance(v, str) else v

    @field_validator("lang")
    @classmethod
    def _check_lang(cls, v: str) -> str:
        if v not in ("fr", "en"):
            raise ValueError("expected fr or en")
        return v

    def resolver_address(self) -> tuple[str, int] | None:
        return parse_host_port(self.resolver, 53) if self.resolver else None

    def port(self, well_known: int) -> int:
        """The port to connect to for a well-known service port (identity outside the lab)."""
        return self.port_map.get(well_known, well_known)


ENV_PREFIX = "AUDITOR_"


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    fields = Settings.model_fields
    return {
        key[len(ENV_PREFIX):].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() in fields
    }


# The config file's `[notify]` table: where a cron run reports a regression (see auditor.notify). Secrets
# (the webhook key, the SMTP password) stay in the environment: a config file is too easily shared.
NOTIFY_KEYS = ("webhook", "webhook_file", "email", "smtp_host", "smtp_from")
NOTIFY_SECRETS = {"webhook_secret": "AUDITOR_WEBHOOK_SECRET", "smtp_user": "AUDITOR_SMTP_USER",
                  "smtp_password": "AUDITOR_SMTP_PASSWORD"}


# The config file's `[report]` table: who the client report is from and for, its version, who signs it and who
# may receive it (README "The client report"). Flags of `auditor report` override each key.
REPORT_TEXT_KEYS = ("firm", "client", "logo", "author", "version", "controller")
REPORT_LIST_KEYS = ("distribution", "signature")


def _check_report_table(path: Path, table: Any) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: report must be a table ([report] with {', '.join(REPORT_TEXT_KEYS)}, "
                          f"{', '.join(REPORT_LIST_KEYS)})")
    for key, value in table.items():
        if key in REPORT_TEXT_KEYS:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: [report] {key} must be a string (e.g. {key} = \"…\")")
        elif key in REPORT_LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: [report] {key} must be a list of strings (e.g. {key} = [\"…\", \"…\"])")
        else:
            raise ConfigError(f"{path}: unknown [report] key {key!r}; known: "
                              f"{', '.join(REPORT_TEXT_KEYS + REPORT_LIST_KEYS)}")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or pass --config") from exc
    unknown = sorted(set(data) - set(Settings.model_fields) - {"notify", "report"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {', '.join(Settings.model_fields)}, "
                          "and the [notify] and [report] tables")
    if "report" in data:
        _check_report_table(path, data["report"])
    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        raise ConfigError(f"{path}: notify must be a table ([notify] with {', '.join(NOTIFY_KEYS)})")
    for key, value in notify.items():
        if key in NOTIFY_SECRETS:
            raise ConfigError(f"{path}: [notify] {key} is a secret: set {NOTIFY_SECRETS[key]} in the environment")
        if key not in NOTIFY_KEYS:
            raise ConfigError(f"{path}: unknown [notify] key {key!r}; known: {', '.join(NOTIFY_KEYS)}")
        if not isinstance(value, str):
            raise ConfigError(f"{path}: [notify] {key} must be a string")
    return data


def notify_file_settings(config: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `[notify]` table of the config file `load_settings` reads (empty without one)."""
    path = _config_path(config, os.environ if environ is None else environ)
    return dict(_read_file(path).get("notify", {})) if path else {}


def report_file_settings(config: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `[report]` table of the config file `load_settings` reads (empty without one)."""
    path = _config_path(config, os.environ if environ is None else environ)
    return dict(_read_file(path).get("report", {})) if path else {}


def _config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return explicit
    if environ.get("AUDITOR_CONFIG"):
        return Path(environ["AUDITOR_CONFIG"])
    home = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "auditor" / "config.toml"
    return home if home.exists() else None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the sources; `flags` holds only the options given on the command line (None = not given)."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = _config_path(config, environ)
    if path:
        merged.update({k: v for k, v in _read_file(path).items() if k not in ("notify", "report")})
    merged.update(_from_env(environ))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(
            f"invalid setting {name} ({'--' + name.replace('_', '-')} / {ENV_PREFIX}{name.upper()}): {first['msg']}"
        ) from exc
