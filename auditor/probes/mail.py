"""One mail domain: its MX set, then every MX host as a STARTTLS endpoint on port 25.

Each unit (the MX plan, each MX host, each policy) fails on its own: a probe bug or an input nobody foresaw
(an odd certificate, a hostile record) turns that unit's findings into `error`, and the rest of the domain
is still reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from auditor.findings import Finding, error, probe_failure
from auditor.probes.context import ScanContext
from auditor.probes.dnssec import dnssec_finding
from auditor.probes.email_auth import dmarc_finding, spf_finding
from auditor.probes.endpoint import TLS_CHECKS, TlsEndpoint, audit_endpoint
from auditor.probes.mta_sts import mta_sts_finding, tlsrpt_finding
from auditor.probes.mx import CHECK as MX_CHECK
from auditor.probes.mx import MxPlan, plan_mx

SMTP_PORT = 25


async def isolated(unit: Awaitable[list[Finding]], subject: str,
                   checks: list[tuple[str, str | None]]) -> list[Finding]:
    """The unit's findings, or one `error` per (check, target) it would have produced, with the reason."""
    try:
        return await unit
    except Exception as exc:
        return [error(check, subject, probe_failure(exc), target=target) for check, target in checks]


async def _one(finding: Awaitable[Finding]) -> list[Finding]:
    return [await finding]


def _mx_checks(ep: TlsEndpoint) -> list[tuple[str, str | None]]:
    return [("smtp.starttls", ep.host), *((c, ep.target) for c in TLS_CHECKS), ("dns.dnssec", ep.host),
            ("dane", ep.host)]


async def audit_mail_domain(domain: str, ctx: ScanContext, *, dpf_certified: bool | None = None) -> list[Finding]:
    try:
        mx = await plan_mx(domain, ctx.resolver)
    except Exception as exc:
        mx = MxPlan(error(MX_CHECK, domain, probe_failure(exc)), [])
    endpoints = [TlsEndpoint(domain, h.host, SMTP_PORT, starttls=True, dpf_certified=dpf_certified)
                 for h in mx.hosts]
    mx_names = mx.finding.value if isinstance(mx.finding.value, list) else None
    policies = [("mta_sts", mta_sts_finding(domain, mx_names, ctx)), ("tlsrpt", tlsrpt_finding(domain, ctx)),
                ("spf", spf_finding(domain, ctx)), ("dmarc", dmarc_finding(domain, ctx)),
                ("dns.dnssec", dnssec_finding(domain, domain, "MX", ctx))]
    results = await asyncio.gather(
        *(isolated(ctx.endpoint(ep, audit_endpoint), domain, _mx_checks(ep)) for ep in endpoints),
        *(isolated(_one(unit), domain, [(check, None)]) for check, unit in policies),
    )
    return [mx.finding, *(f for findings in results for f in findings)]
