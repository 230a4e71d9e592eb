"""One TLS endpoint (an MX on port 25 with STARTTLS, or a web/chat host:port with direct TLS), every address.
A catalog endpoint that is not TLS (`tls: false`) is only located; its TLS checks are `skip`, with the reason.

Per address: the STARTTLS conversation (mail), the sslyze scan, the location. Per host: worst-of verdicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor.findings import Finding, Status, error, probe_failure, worst
from auditor.net.dns import DnsError
from auditor.net.smtp import SmtpProbe, probe_starttls
from auditor.net.tls import TlsScan, tls_hello
from auditor.probes.addresses import AddressPlan, plan_addresses
from auditor.probes.context import ScanContext
from auditor.probes.dane import TlsaLookup, dane_finding, lookup_tlsa
from auditor.probes.dnssec import dnssec_finding
from auditor.probes.hosting import CHECK as LOCATION
from auditor.probes.hosting import locate
from auditor.probes.tls_checks import certificate_finding, ciphers_finding, grade_evidence, protocols_finding


@dataclass(frozen=True)
class TlsEndpoint:
    subject: str  # the mail domain or the endpoint host the findings are about
    host: str
    port: int  # the well-known port; the port map applies when connecting
    starttls: bool
    dpf_certified: bool | None = None
    # what the port speaks instead of TLS, per the catalog (`tls: false`): located, not TLS-scanned
    not_tls: str | None = None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


def _starttls_finding(ep: TlsEndpoint, probes: list[SmtpProbe]) -> Finding:
    statuses: list[Status] = []
    for p in probes:
        if p.error:
            statuses.append(Status.ERROR)
        else:
            statuses.append(Status.PASS if p.tls_established else Status.FAIL)
    status = worst(statuses)
    if status == Status.ERROR:
        summary, value = _by_reason({p.ip: p.error for p in probes if p.error}), None
    elif status == Status.FAIL:
        bad = [p for p in probes if not p.error and not p.tls_established]
        why = "STARTTLS not offered" if not any(p.starttls_offered for p in bad) else "TLS handshake failed"
        summary, value = f"{why} ({', '.join(p.ip for p in bad)})", False
    else:
        versions = sorted({p.tls_version or "?" for p in probes})
        summary, value = f"STARTTLS offered and handshake completed ({', '.join(versions)})", True
    return Finding(id="smtp.starttls", subject=ep.subject, target=ep.host, status=status, value=value,
                   summary=summary[:500], evidence={"addresses": [p.evidence() for p in probes]})


def _by_reason(failures: dict[str, str]) -> str:
    """`ip, ip: reason; ip: other reason`: one reason said once, however many addresses share it."""
    grouped: dict[str, list[str]] = {}
    for ip, reason in failures.items():
        grouped.setdefault(reason, []).append(ip)
    return "; ".join(f"{', '.join(ips[:3])}{f' and {len(ips) - 3} more' if len(ips) > 3 else ''}: {reason}"
                     for reason, ips in grouped.items())


TLS_CHECKS = ("tls.protocols", "tls.ciphers", "tls.certificate")


def _tls_not_scanned(ep: TlsEndpoint, status: Status, reason: str,
                     evidence: dict[str, Any] | None = None) -> list[Finding]:
    return [Finding(id=c, subject=ep.subject, target=ep.target, status=status, summary=reason[:500],
                    evidence=evidence or {}) for c in TLS_CHECKS]


# The SMTP checks of a scan run, with --smtp-untestable-ok, where outbound port 25 is blocked (docs/vantage.md).
PORT25_BLOCKED = "not testable from this vantage point: outbound TCP port 25 is blocked here"


def _not_probed(ep: TlsEndpoint, ip: str, port: int, reason: str) -> tuple[SmtpProbe | None, TlsScan]:
    """An address we do not talk to, as the per-address verdicts see it: an `error` with the reason."""
    return (SmtpProbe(ip, port, error=reason) if ep.starttls else None), TlsScan(ep.host, ip, port, ep.starttls,
                                                                                  error=reason)


async def _scan_address(ep: TlsEndpoint, ip: str, ctx: ScanContext) -> tuple[SmtpProbe | None, TlsScan]:
    s = ctx.settings
    port = s.port(ep.port)
    if ep.starttls and ctx.vantage is not None and ctx.vantage.port25 is False:
        return _not_probed(ep, ip, port, PORT25_BLOCKED)
    async with ctx.limits.slot(ip):
        smtp = None
        if ep.starttls:
            smtp = await probe_starttls(ip, port, ep.host, timeout=s.timeout)
            if smtp.error or not smtp.tls_established:
                reason = smtp.error or "no STARTTLS"
                return smtp, TlsScan(ep.host, ip, port, True, error=f"not scanned: {reason}")
        else:
            failure = await tls_hello(ep.host, ip, port, s.timeout)
            if failure:
                return None, TlsScan(ep.host, ip, port, False, error=failure)
        scan = await ctx.tls.scan(ep.host, ip, port, starttls=ep.starttls, timeout=s.timeout,
                                  deadline=s.probe_deadline)
    return smtp, scan


async def _tlsa(host: str, ctx: ScanContext) -> TlsaLookup:
    """The MX host's TLSA records, following a secure alias to its TLSA base domain (RFC 7672 §2.2.2)."""
    try:
        answer = await ctx.resolver.resolve(host, "A")
        expanded = answer.canonical.rstrip(".").lower() if answer.cnames else None
    except DnsError:
        expanded = None
    secure = expanded is not None and (await ctx.validate(host, "A")).status == "secure"
    return await lookup_tlsa(host, expanded, secure, ctx.validate)


async def audit_endpoint(ep: TlsEndpoint, ctx: ScanContext) -> list[Finding]:
    checks = (["smtp.starttls"] if ep.starttls else []) + list(TLS_CHECKS)
    # DNSSEC and DANE for an MX are asked in parallel with the address lookups and the scans.
    tlsa = asyncio.ensure_future(_tlsa(ep.host, ctx)) if ep.starttls else None
    host_dnssec = (asyncio.ensure_future(dnssec_finding(ep.subject, ep.host, "A", ctx, target=ep.host))
                   if ep.starttls else None)
    findings, scans = await _transport(ep, ctx, checks)
    if tlsa is not None and host_dnssec is not None:
        findings.append(await host_dnssec)
        # With a session, or when it could not be tried (DANE then says what the TLSA records allow to say),
        # never `skip`: a skip reads as "not applicable".
        if any(f.id == "smtp.starttls" and (f.value is True or f.status == Status.ERROR) for f in findings):
            findings.append(dane_finding(ep.subject, ep.host, await tlsa, scans))
        else:
            tlsa.cancel()
            findings.append(Finding(id="dane", subject=ep.subject, target=ep.host, status=Status.SKIP,
                                    summary="no TLS session to authenticate (STARTTLS unavailable)"))
    return findings


async def _transport(ep: TlsEndpoint, ctx: ScanContext, checks: list[str]) -> tuple[list[Finding], list[TlsScan]]:
    """The per-address conversations and scans of one endpoint: its findings, and the raw scans (for DANE)."""
    target_of = {c: (ep.host if c == "smtp.starttls" else ep.target) for c in checks}
    # Not TLS per the catalog: a TLS scan would report our probe's limit as the provider's fault. The TLS
    # checks say why they were skipped; where the servers are still matters, so they are located.
    not_tls = (_tls_not_scanned(ep, Status.SKIP, f"not scanned: not a TLS service per the catalog — {ep.not_tls}",
                                {"catalog": {"tls": False, "protocol": ep.not_tls}})
               if ep.not_tls is not None else None)
    try:
        v4, v6 = await ctx.resolver.addresses(ep.host)
        failure = None if v4 or v6 else f"{ep.host} has no IPv4 or IPv6 address"
    except DnsError as exc:
        v4, v6, failure = [], [], f"address lookup of {ep.host} failed: {exc.reason}"
    if failure is not None:
        if not_tls is not None:  # the location is what could not be established
            return [*not_tls, error(LOCATION, ep.host, failure, target=ep.host)], []
        return [error(c, ep.subject, failure, target=target_of[c]) for c in checks], []
    plan = plan_addresses(v4, v6, ipv6=ctx.vantage.ipv6 if ctx.vantage else None, lab=ctx.settings.lab)
    # Untested addresses are still located (that needs no connection to them); refused ones are not.
    located = asyncio.gather(*(locate(ep.host, ip, ctx, dpf_certified=ep.dpf_certified)
                               for ip in [*plan.probe, *plan.untested]))
    refused = [error(LOCATION, ep.host, f"{ip}: {why}: not located", target=ip) for ip, why in plan.refused.items()]
    if not_tls is not None:
        return [*not_tls, *await located, *refused], []
    if not plan.judged:  # only IPv6 addresses, and no IPv6 from here
        reason = f"not testable from this vantage point: {ep.host} has only IPv6 addresses and there is no IPv6 here"
        return [*(error(c, ep.subject, reason, target=target_of[c], evidence={"address_plan": plan.evidence()})
                  for c in checks), *await located], []
    # The registry look-ups (RDAP) run while the TLS scans do.
    probed, locations = await asyncio.gather(asyncio.gather(*(_scan_address(ep, ip, ctx) for ip in plan.probe)),
                                             located)
    port = ctx.settings.port(ep.port)
    results = [*probed, *(_not_probed(ep, ip, port, why) for ip, why in plan.refused.items())]
    findings: list[Finding] = []
    smtp_probes = [r[0] for r in results if r[0] is not None]
    scans = [r[1] for r in results]
    if ep.starttls:
        findings.append(_starttls_finding(ep, smtp_probes))
        if not any(p.tls_established for p in smtp_probes):
            errors = {p.error for p in smtp_probes if p.error}
            reason = ("no STARTTLS on any address" if not errors else
                      "; ".join(sorted(errors)) if errors <= {PORT25_BLOCKED, *plan.refused.values()}
                      else "SMTP unreachable")
            status = Status.ERROR if errors else Status.SKIP
            findings += _tls_not_scanned(ep, status, reason)
            return [*_noted(findings, plan), *locations, *refused], scans
    cert = _verdict("tls.certificate", ep, lambda: certificate_finding(ep.subject, ep.target, ep.host, scans,
                                                                      ctx.roots, opportunistic=ep.starttls,
                                                                      space=ctx.space_of(ep)))

    def protocols() -> Finding:
        found = protocols_finding(ep.subject, ep.target, scans)
        graded = grade_evidence(scans, cert, ep.starttls)
        return found.model_copy(update={"evidence": {**found.evidence, "grade": graded}}) if graded else found

    findings += [_verdict("tls.protocols", ep, protocols),
                 _verdict("tls.ciphers", ep, lambda: ciphers_finding(ep.subject, ep.target, scans)), cert]
    return [*_noted(findings, plan), *locations, *refused], scans


def _noted(findings: list[Finding], plan: AddressPlan) -> list[Finding]:
    """The host's verdicts say which addresses they do not cover (capped, not testable from here, refused)."""
    notes = plan.notes()
    if not notes and not plan.refused:
        return findings
    suffix = "".join(f"; {note}" for note in notes)
    return [f.model_copy(update={"summary": (f.summary + suffix)[:500],
                                 "evidence": {**f.evidence, "address_plan": plan.evidence()}}) for f in findings]


def _verdict(check: str, ep: TlsEndpoint, judge: Callable[[], Finding]) -> Finding:
    """One verdict formed from the scans: a bug or an unforeseen input there costs this finding only."""
    try:
        return judge()
    except Exception as exc:
        return error(check, ep.subject, probe_failure(exc), target=ep.target)
