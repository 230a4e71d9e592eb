"""One TLS endpoint (an MX on port 25 with STARTTLS, or a web/chat host:port with direct TLS), every address.
A catalog endpoint that is not TLS (`tls: false`) is only located; its TLS checks are `skip`, with the reason.

Per address: the STARTTLS conversation (mail), the sslyze scan, the location. Per host: worst-of verdicts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from auditor.findings import Finding, Status, error, worst
from auditor.net.dns import DnsError
from auditor.net.smtp import SmtpProbe, probe_starttls
from auditor.net.tls import TlsScan, tls_hello
from auditor.probes.context import ScanContext
from auditor.probes.dane import SMTP_TLSA_PORT, dane_finding
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
        summary = "; ".join(f"{p.ip}: {p.error}" for p in probes if p.error)
        value = None
    elif status == Status.FAIL:
        bad = [p for p in probes if not p.error and not p.tls_established]
        why = "STARTTLS not offered" if not any(p.starttls_offered for p in bad) else "TLS handshake failed"
        summary, value = f"{why} ({', '.join(p.ip for p in bad)})", False
    else:
        versions = sorted({p.tls_version or "?" for p in probes})
        summary, value = f"STARTTLS offered and handshake completed ({', '.join(versions)})", True
    return Finding(id="smtp.starttls", subject=ep.subject, target=ep.host, status=status, value=value,
                   summary=summary[:500], evidence={"addresses": [p.evidence() for p in probes]})


TLS_CHECKS = ("tls.protocols", "tls.ciphers", "tls.certificate")


def _tls_not_scanned(ep: TlsEndpoint, status: Status, reason: str,
                     evidence: dict[str, Any] | None = None) -> list[Finding]:
    return [Finding(id=c, subject=ep.subject, target=ep.target, status=status, summary=reason[:500],
                    evidence=evidence or {}) for c in TLS_CHECKS]


async def _scan_address(ep: TlsEndpoint, ip: str, ctx: ScanContext) -> tuple[SmtpProbe | None, TlsScan]:
    s = ctx.settings
    port = s.port(ep.port)
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


async def audit_endpoint(ep: TlsEndpoint, ctx: ScanContext) -> list[Finding]:
    checks = (["smtp.starttls"] if ep.starttls else []) + list(TLS_CHECKS)
    # DNSSEC and DANE for an MX are asked in parallel with the address lookups and the scans.
    tlsa = asyncio.ensure_future(ctx.validate(f"_{SMTP_TLSA_PORT}._tcp.{ep.host}", "TLSA")) if ep.starttls else None
    host_dnssec = (asyncio.ensure_future(dnssec_finding(ep.subject, ep.host, "A", ctx, target=ep.host))
                   if ep.starttls else None)
    findings, scans = await _transport(ep, ctx, checks)
    if tlsa is not None and host_dnssec is not None:
        findings.append(await host_dnssec)
        if any(f.id == "smtp.starttls" and f.value is True for f in findings):
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
        addresses = v4 + v6
        failure = None if addresses else f"{ep.host} has no IPv4 or IPv6 address"
    except DnsError as exc:
        addresses, failure = [], f"address lookup of {ep.host} failed: {exc.reason}"
    if failure is not None:
        if not_tls is not None:  # the location is what could not be established
            return [*not_tls, error(LOCATION, ep.host, failure, target=ep.host)], []
        return [error(c, ep.subject, failure, target=target_of[c]) for c in checks], []
    if not_tls is not None:
        locations = await asyncio.gather(*(locate(ep.host, ip, ctx, dpf_certified=ep.dpf_certified)
                                           for ip in addresses))
        return [*not_tls, *locations], []
    # The registry look-ups (RDAP) run while the TLS scans do.
    results, locations = await asyncio.gather(
        asyncio.gather(*(_scan_address(ep, ip, ctx) for ip in addresses)),
        asyncio.gather(*(locate(ep.host, ip, ctx, dpf_certified=ep.dpf_certified) for ip in addresses)))
    findings: list[Finding] = []
    smtp_probes = [r[0] for r in results if r[0] is not None]
    scans = [r[1] for r in results]
    if ep.starttls:
        findings.append(_starttls_finding(ep, smtp_probes))
        if not any(p.tls_established for p in smtp_probes):
            reason = "no STARTTLS on any address" if all(not p.error for p in smtp_probes) else "SMTP unreachable"
            status = Status.SKIP if reason.startswith("no STARTTLS") else Status.ERROR
            findings += _tls_not_scanned(ep, status, reason)
            return [*findings, *locations], scans
    cert = certificate_finding(ep.subject, ep.target, ep.host, scans, ctx.roots, opportunistic=ep.starttls,
                               space=ctx.space_of(ep))
    graded = grade_evidence(scans, cert, ep.starttls)
    protocols = protocols_finding(ep.subject, ep.target, scans)
    if graded:
        protocols = protocols.model_copy(update={"evidence": {**protocols.evidence, "grade": graded}})
    findings += [protocols, ciphers_finding(ep.subject, ep.target, scans), cert]
    return [*findings, *locations], scans
