"""One mail domain: its MX set, then every MX host as a STARTTLS endpoint on port 25."""

from __future__ import annotations

import asyncio

from auditor.findings import Finding, Status
from auditor.probes.context import ScanContext
from auditor.probes.dnssec import dnssec_finding
from auditor.probes.email_auth import dmarc_finding, spf_finding
from auditor.probes.endpoint import TlsEndpoint, audit_endpoint
from auditor.probes.mta_sts import mta_sts_finding, tlsrpt_finding
from auditor.probes.mx import plan_mx

SMTP_PORT = 25


async def audit_mail_domain(domain: str, ctx: ScanContext, *, dpf_certified: bool | None = None) -> list[Finding]:
    plan = await plan_mx(domain, ctx.resolver)
    endpoints = [TlsEndpoint(domain, mx.host, SMTP_PORT, starttls=True, dpf_certified=dpf_certified)
                 for mx in plan.hosts]
    mx_names = plan.finding.value if plan.finding.status != Status.ERROR else None
    per_host, policies = await asyncio.gather(
        asyncio.gather(*(ctx.endpoint(ep, audit_endpoint) for ep in endpoints)),
        asyncio.gather(mta_sts_finding(domain, mx_names, ctx), tlsrpt_finding(domain, ctx),
                       spf_finding(domain, ctx), dmarc_finding(domain, ctx),
                       dnssec_finding(domain, domain, "MX", ctx)),
    )
    return [plan.finding, *(f for findings in per_host for f in findings), *policies]
