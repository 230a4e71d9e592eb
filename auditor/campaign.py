"""Bulk campaigns: a file of mail domains, one per line, audited for their transport security only.

    # comments and blank lines are allowed
    example.org
    mail.example.net   # a trailing comment too

Each domain becomes a `Provider` of its own (id = the domain, kind mail, no endpoints, claims or company,
a `CampaignTarget`): the scan runs the mail-domain probes (MX, STARTTLS and TLS, certificates, DANE, MTA-STS,
TLS-RPT, SPF, DMARC, DNSSEC, hosting location) and leaves out what only a catalog entry can say (the
company's jurisdiction, transfers, claims). The distributed engine builds its units from the same function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from auditor.catalog import Company, Provider, normalize_hostname
from auditor.errors import ConfigError

# Domains per campaign. The end phase reads the audit back one domain at a time (seal, JSON, HTML), so memory
# does not bound it; the outputs do: the JSON document is about 48 KB a domain (478 MB for 10,000), and the
# evidence bundle's manifest about 8.5 KB (docs/architecture.md).
MAX_DOMAINS = 10_000
MAX_FILE_BYTES = 64 * 1024 * 1024
RESUME_LATEST = "latest"  # `scan --resume` without an id: the latest interrupted audit of the same domains


class CampaignTarget(Provider):
    """A `Provider` built from a domain list, not a catalog entry: its id is the domain (a host name, dots
    and all, where a catalog id is a slug). Rebuild one from its JSON with `CampaignTarget.model_validate`
    (`Provider` refuses the `campaign` key)."""

    id: Annotated[str, AfterValidator(normalize_hostname)]
    campaign: Literal[True] = True


def provider_from_json(data: dict[str, Any]) -> Provider:
    """A unit's provider back from its JSON (`model_dump(mode="json")`): a campaign target when it says so
    (`campaign: true`), else a catalog entry. A worker rebuilds what a coordinator shipped with this."""
    return (CampaignTarget if data.get("campaign") is True else Provider).model_validate(data)


def campaign_provider(domain: str) -> CampaignTarget:
    """The scan target for one mail domain."""
    return CampaignTarget(id=domain, name=domain, kind="mail", company=Company(legal_name=None, country=None),
                          mail_domains=[domain])


def parse_domains(text: str, source: str) -> list[str]:
    """The domains of a campaign file, in file order, duplicates dropped; ConfigError "FILE:LINE: …; fix: …"
    for a line that is not a host name."""
    domains: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if any(c.isspace() for c in entry):
            raise ConfigError(f"{source}:{number}: {entry[:80]!r} holds several words; "
                              "fix: one mail domain per line (comments start with #)")
        try:
            domains.setdefault(normalize_hostname(entry), None)
        except ValueError as exc:
            raise ConfigError(f"{source}:{number}: {exc}; fix: write a mail domain such as example.org") from None
        if len(domains) > MAX_DOMAINS:
            raise ConfigError(f"{source}:{number}: more than {MAX_DOMAINS:,} domains; "
                              "fix: split the campaign into several files")
    if not domains:
        raise ConfigError(f"{source}: no domain in the file; fix: write one mail domain per line")
    return list(domains)


def read_domains(path: Path) -> list[str]:
    """`parse_domains` of a file, with its read errors as one line too."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the domain file ({exc.strerror}); "
                          "fix: pass --domains FILE with one mail domain per line") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; fix: split the campaign")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text; fix: save the file as UTF-8") from None
    return parse_domains(text, str(path))


def providers_from_domains(path: Path) -> list[Provider]:
    """One campaign `Provider` per domain of the file, in file order."""
    return [campaign_provider(d) for d in read_domains(path)]
