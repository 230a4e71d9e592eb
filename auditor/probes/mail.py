"""One mail domain: its MX set, then every MX host as a STARTTLS endpoint on port 25."""

from __future__ import annotations

import asyncio

from auditor.findings import Finding
from auditor.probes.context import ScanContext
from auditor.probes.endpoint import TlsEndpoint, audit_endpoint
from auditor.probes.mx import plan_mx

SMTP_PORT = 25


async def audit_mail_domain(domain: str, ctx: ScanContext, *, dpf_certified: bool | None = None) -> list[Finding]:
    plan = await plan_mx(domain, ctx.resolver)
    endpoints = [TlsEndpoint(domain, mx.host, SMTP_PORT, starttls=True, dpf_certified=dpf_certified)
                 for mx in plan.hosts]
    per_host = await asyncio.gather(*(ctx.endpoint(ep, audit_endpoint) for ep in endpoints))
    return [plan.finding, *(f for findings in per_host for f in findings)]
