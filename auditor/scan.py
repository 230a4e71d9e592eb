"""Schedules the probes over providers with asyncio: shared resolver and caches, limits, hard deadlines.

A unit of work is one provider (`audit_provider`): a plain coroutine of its target and the run context that
returns a `ProviderResult`, so it can be run, stored and re-run on its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import socket
from collections.abc import Callable, Sequence

from auditor import __version__
from auditor.catalog import Provider
from auditor.errors import NetworkUnavailable
from auditor.findings import Audit, Finding, ProviderResult, Vantage, error
from auditor.net.dns import DnsError
from auditor.probes.context import ScanContext
from auditor.probes.endpoint import TlsEndpoint, audit_endpoint
from auditor.probes.mail import audit_mail_domain
from auditor.settings import Settings

PREFLIGHT_TIMEOUT = 3.0

ProviderCallback = Callable[[ProviderResult], None]


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_audit_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str | None]] = set()
    out = []
    for f in findings:
        key = (f.id, f.subject, f.target)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


async def audit_provider(provider: Provider, ctx: ScanContext) -> ProviderResult:
    """Every probe of one provider, bounded by the provider deadline."""
    dpf = provider.company.dpf_certified
    units = [audit_mail_domain(d, ctx, dpf_certified=dpf) for d in provider.mail_domains]
    units += [ctx.endpoint(TlsEndpoint(ep.host, ep.host, ep.port, starttls=False, dpf_certified=dpf), audit_endpoint)
              for ep in provider.endpoints]
    try:
        parts = await asyncio.wait_for(asyncio.gather(*units), ctx.settings.provider_deadline)
        findings = _dedupe([f for part in parts for f in part])
    except TimeoutError:
        findings = [error("scan.deadline", provider.id,
                          f"the provider's scan exceeded its {ctx.settings.provider_deadline:g}s deadline")]
    return ProviderResult(id=provider.id, name=provider.name, kind=provider.kind, checks=findings)


async def preflight(ctx: ScanContext) -> None:
    """Fail fast, with one clear line, when the resolver cannot reach the Internet's DNS at all.

    Offline machines often still have a resolver that answers every name with NXDOMAIN: scanning then would
    produce a report full of false "no such domain" failures. The root's NS set exists on any working path.
    """
    probe = ctx.resolver.__class__(ctx.resolver.nameserver, timeout=PREFLIGHT_TIMEOUT, attempts=1)
    try:
        answer = await probe.resolve(".", "NS")
    except DnsError as exc:
        raise NetworkUnavailable(f"network unreachable: the DNS resolver {probe.address} does not answer "
                                 f"({exc.reason}); check connectivity or pass --resolver IP[:PORT]") from exc
    if not answer.exists:
        raise NetworkUnavailable(f"network unreachable: the DNS resolver {probe.address} cannot resolve the root "
                                 f"zone ({answer.rcode} for '. NS'); this machine looks offline")


async def run_scan(providers: Sequence[Provider], settings: Settings, *, profile: str | None = None,
                   on_start: Callable[[Audit], None] | None = None,
                   on_provider: ProviderCallback | None = None) -> Audit:
    ctx = ScanContext.create(settings)
    try:
        await preflight(ctx)
        audit = Audit(audit_id=new_audit_id(), started_at=now_utc(), tool_version=__version__,
                      profile=profile or settings.profile,
                      vantage=Vantage(resolver=ctx.resolver.address, host=socket.gethostname(), lab=settings.lab))
        if on_start:
            on_start(audit)
        results: dict[str, ProviderResult] = {}

        async def one(p: Provider) -> None:
            result = await audit_provider(p, ctx)
            results[p.id] = result
            if on_provider:
                on_provider(result)

        await asyncio.gather(*(one(p) for p in providers))
        # Catalog order, whatever order the providers finished in.
        audit.providers = [results[p.id] for p in providers]
        audit.finished_at = now_utc()
        audit.complete = True
        return audit
    finally:
        await ctx.aclose()
