"""Which role each located host plays for a provider, and which roles carry personal data.

GDPR Chapter V turns on the importer and on where personal data go (EDPB Guidelines 05/2021), not on every
address a provider answers from. A host carries personal data when mail, messages, files, contacts or
account data pass through it or are stored there:
  mx          receives the provider's mail (messages, addresses)
  webmail     where users read and write mail
  api, chat   the service's clients talk to it (messages, account data)
  media       attachments, voice and video
  directory   contacts and keys
  relay       forwards messages (even encrypted, with metadata)
Informational only, never a transfer blocker:
  web             the public website (marketing front-end: no customer data)
  mta_sts_policy  serves the MTA-STS policy file (a public text file every sending server fetches)
A located host whose role is not known is treated as carrying data: a missing fact is never a good one.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.catalog import Provider
from auditor.findings import Finding

DATA_ROLES = frozenset({"mx", "webmail", "api", "chat", "media", "directory", "relay", "unknown"})
INFORMATIONAL_ROLES = frozenset({"web", "mta_sts_policy"})


def host_roles(provider: Provider, findings: Iterable[Finding]) -> dict[str, set[str]]:
    """Host name -> its roles for this provider: MX hosts (from `dns.mx`), catalog endpoints by role, and
    the MTA-STS policy host of each mail domain."""
    roles: dict[str, set[str]] = {}
    for f in findings:
        if f.id == "dns.mx" and isinstance(f.value, list):
            for host in f.value:
                if isinstance(host, str):
                    roles.setdefault(host.lower().rstrip("."), set()).add("mx")
    for ep in provider.endpoints:
        roles.setdefault(ep.host, set()).add(ep.role)
    for domain in provider.mail_domains:
        roles.setdefault(f"mta-sts.{domain}", set()).add("mta_sts_policy")
    return roles


def carries_data(roles: set[str]) -> bool:
    """True when any role carries personal data, or when no role is known."""
    return not roles or bool(roles & DATA_ROLES)
