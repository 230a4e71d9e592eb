"""Schedules the probes over providers with asyncio: shared resolver and caches, limits, hard deadlines.

A unit of work is one provider (`audit_provider`): a plain coroutine of its target and the run context that
returns a `ProviderResult`, so it can be run, stored and re-run on its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import TypeVar

from auditor import __version__
from auditor.catalog import Provider
from auditor.errors import NetworkUnavailable, VantageLimited
from auditor.findings import Audit, Finding, ProviderResult, Vantage, error, probe_failure
from auditor.net.dns import DnsError
from auditor.net.rdap import RdapCache
from auditor.net.vantage import characterise
from auditor.probes.claims import claim_finding
from auditor.probes.context import PageStore, ScanContext
from auditor.probes.endpoint import TlsEndpoint, audit_endpoint
from auditor.probes.hosting import policy_host_locations
from auditor.probes.mail import audit_mail_domain
from auditor.probes.provider import provider_findings
from auditor.probes.web import hsts_finding, security_txt_finding
from auditor.settings import Settings

PREFLIGHT_TIMEOUT = 3.0
HTTPS_PORT = 443
SECURITY_TXT_ROLES = {"webmail", "web"}

ProviderCallback = Callable[[ProviderResult], None]
T = TypeVar("T")


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


def _web_units(provider: Provider, ctx: ScanContext) -> list[Awaitable[list[Finding]]]:
    units: list[Awaitable[list[Finding]]] = []
    for ep in provider.endpoints:
        if ep.port == HTTPS_PORT and ep.tls:
            units.append(_one(hsts_finding(ep.host, ep.port, ctx)))
            if ep.role in SECURITY_TXT_ROLES:
                units.append(_one(security_txt_finding(ep.host, ep.port, ctx)))
    return units


async def _one(finding: Awaitable[Finding]) -> list[Finding]:
    return [await finding]


async def audit_provider(provider: Provider, ctx: ScanContext) -> ProviderResult:
    """Every probe of one provider, bounded by the provider deadline: what finished is kept, what did not is
    reported as an `error` finding, never dropped silently."""
    dpf = provider.company.on_dpf_list
    units: list[Awaitable[list[Finding]]] = [audit_mail_domain(d, ctx, dpf_certified=dpf)
                                             for d in provider.mail_domains]
    units += [ctx.endpoint(TlsEndpoint(ep.host, ep.host, ep.port, starttls=False, dpf_certified=dpf,
                                       not_tls=None if ep.tls else ep.protocol), audit_endpoint)
              for ep in provider.endpoints]
    units += [policy_host_locations(d, ctx, dpf_certified=dpf) for d in provider.mail_domains]
    units += _web_units(provider, ctx)
    units += [_one(claim_finding(provider, claim, ctx)) for claim in provider.claims]
    tasks = [asyncio.ensure_future(u) for u in units]
    findings: list[Finding] = []
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=ctx.settings.provider_deadline)
        for task in pending:
            task.cancel()
        for task in tasks:
            if task not in done:
                continue
            exc = task.exception()
            if exc is None:
                findings += task.result()
            elif isinstance(exc, Exception):  # a probe bug or an input nobody foresaw: the rest goes on
                findings.append(error("scan.probe", provider.id, probe_failure(exc)))
            else:
                raise exc
        if pending:
            findings.append(error("scan.deadline", provider.id,
                                  f"{len(pending)} of {len(tasks)} probes did not finish within the provider's "
                                  f"{ctx.settings.provider_deadline:g}s deadline"))
    findings = _dedupe(findings)
    checks = [*provider_findings(provider, findings), *findings]
    return ProviderResult(id=provider.id, name=provider.name, kind=provider.kind, checks=checks)


async def preflight(ctx: ScanContext) -> None:
    """Fail fast, with one clear line, when the resolver cannot reach the Internet's DNS at all.

    Offline machines often still have a resolver that answers every name with NXDOMAIN: scanning then would
    produce a report full of false "no such domain" failures. The root's NS set exists on any working path.
    """
    probe = ctx.resolver.__class__(ctx.resolver.nameserver, timeout=PREFLIGHT_TIMEOUT)
    try:
        answer = await probe.resolve(".", "NS")
    except DnsError as exc:
        raise NetworkUnavailable(f"network unreachable: the DNS resolver {probe.address} does not answer "
                                 f"({exc.reason}); check connectivity or pass --resolver IP[:PORT]") from exc
    if not answer.exists:
        raise NetworkUnavailable(f"network unreachable: the DNS resolver {probe.address} cannot resolve the root "
                                 f"zone ({answer.rcode} for '. NS'); this machine looks offline")


def check_vantage(vantage: Vantage, providers: Sequence[Provider], settings: Settings) -> None:
    """Stop before scanning when this vantage point cannot test what the run needs (docs/vantage.md)."""
    if vantage.port25 is False and not settings.smtp_untestable_ok and any(p.mail_domains for p in providers):
        raise VantageLimited(
            f"outbound TCP port 25 is blocked from this vantage point ({vantage.evidence.get('port25', '')[:240]}): "
            "the SMTP checks of the MX hosts (STARTTLS, their TLS and certificates, DANE) cannot be run from here; "
            "run the audit from a machine that can reach port 25 (a server or VPS), or pass --smtp-untestable-ok "
            "to audit the rest and mark those checks 'not testable from this vantage point'")


async def in_window(units: Iterable[T], window: int, run: Callable[[T], Awaitable[None]]) -> None:
    """`run` each unit, at most `window` at once, in order. A unit not yet started is the plain object
    it was given (no coroutine, no task, nothing of its own in memory), and its deadline has not started;
    the first exception of a unit is raised (the caller cancels the rest)."""
    pending = iter(units)
    running: set[asyncio.Future[None]] = set()
    while True:
        for unit in itertools.islice(pending, window - len(running)):
            running.add(asyncio.ensure_future(run(unit)))
        if not running:
            return
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()


async def run_scan(providers: Sequence[Provider], settings: Settings, *, profile: str | None = None,
                   on_start: Callable[[Audit], None] | None = None,
                   on_provider: ProviderCallback | None = None, rdap_cache: RdapCache | None = None,
                   pages: PageStore | None = None, resume: Audit | None = None, keep: bool = True,
                   done: Collection[str] = ()) -> Audit:
    """`rdap_cache`: the store, so RDAP answers are reused across runs (see auditor.net.rdap); `pages`: the
    store, so claim pages are kept as fetched (the evidence bundle carries them). At most
    `settings.units_in_flight` providers are audited at once; each one's deadline starts when it does.

    `resume`: an interrupted audit to complete (read back from the store): its id, start and vantage are
    kept, its providers are not scanned again, `on_start` is not called (it began already), and the others
    are scanned and passed to `on_provider` as usual. `done`: ids of providers the resumed audit holds though
    `resume.providers` does not list them (a campaign's header: they stay in the store), not scanned again.

    `keep=False`: results go to `on_provider` only and the returned audit lists no providers. Each result is
    some 70 KB in memory; a 10,000-domain campaign whose results the store already holds needs no second copy
    (the in-process benchmark's peak RSS is the scan's own, not that of 10,000 results).

    When a callback fails (the store: disk full), every probe this run started is cancelled before the
    shared clients close: none is left to fail later with a traceback of its own."""
    before = asyncio.all_tasks()
    ctx = ScanContext.create(settings, rdap_cache=rdap_cache, pages=pages)
    try:
        await preflight(ctx)
        ctx.vantage = await characterise(settings, ctx.resolver)
        check_vantage(ctx.vantage, providers, settings)
        results: dict[str, ProviderResult] = {}
        if resume is None:
            audit = Audit(audit_id=new_audit_id(), started_at=now_utc(), tool_version=__version__,
                          profile=profile or settings.profile, vantage=ctx.vantage)
            if on_start:
                on_start(audit)
        else:
            audit = resume.model_copy()
            results = {p.id: p for p in resume.providers}

        finished = set(results) | set(done)

        async def one(p: Provider) -> None:
            result = await audit_provider(p, ctx)
            finished.add(p.id)
            if keep:
                results[p.id] = result
            if on_provider:
                on_provider(result)

        await in_window((p for p in providers if p.id not in finished), settings.units_in_flight, one)
        # Catalog order, whatever order the providers finished in.
        audit.providers = [results[p.id] for p in providers] if keep else []
        audit.finished_at = now_utc()
        audit.complete = True
        return audit
    except BaseException:
        spawned = asyncio.all_tasks() - before - {asyncio.current_task()}
        for task in spawned:
            task.cancel()
        await asyncio.gather(*spawned, return_exceptions=True)
        raise
    finally:
        await ctx.aclose()


def run_unit(provider: Provider, settings: Settings, vantage: Vantage | None = None) -> ProviderResult:
    """One provider audited on its own: plain, serialisable input (pydantic models) and output, so that a
    distributed engine can ship units to workers. No preflight: the caller's scheduler owns that, and the
    vantage point (`auditor.net.vantage.characterise`, once per worker); None: every address is tried."""

    async def one() -> ProviderResult:
        ctx = ScanContext.create(settings)
        ctx.vantage = vantage
        try:
            return await audit_provider(provider, ctx)
        finally:
            await ctx.aclose()

    return asyncio.run(one())
