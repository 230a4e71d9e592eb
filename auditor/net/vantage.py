"""The vantage point: what this machine can test, measured before a scan (docs/vantage.md).

A DPO runs audits from a laptop, an office network or a small VPS: often IPv4-only, often with outbound
port 25 blocked, behind a stub or forwarding resolver. `characterise` measures those limits, so that the scan
can report them as limits of the vantage point instead of faults of the providers:

- `ipv6`: a TCP connection over IPv6 gets an answer (a handshake, or a refusal: a packet came back) from a
  reference domain's web host (port 443) or MX host (port 25); without any IPv6 address to try, "no route"
  is still a definite no;
- `port25`: a TCP handshake completes with a reference domain's MX host on port 25; port 443 of the same
  domains is tried too, so the evidence says whether only port 25 is blocked;
- `resolver_dnssec`: the resolver returns the root's DNSKEY RRset with its RRSIG when asked with DO+CD;
  when it does not, `resolver_candidates` are asked the same question to name one that does (`resolver_fix`);
- `resolver_validates`: the resolver sets AD on the root SOA (informational: auditor validates itself);
- `stub`: the resolver listens on this machine (127.0.0.53, ::1): a stub or forwarder whose upstream is unseen.

Nothing is sent but DNS questions and TCP handshakes that are closed at once: no mail, no HTTP request. The
function takes the settings only (and optionally the run's resolver), so a remote worker can call it and ship
the result with its findings.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.rdatatype

from auditor.findings import Vantage
from auditor.net.dns import DnsError, Resolver
from auditor.settings import Settings, parse_host_port

SMTP, HTTPS = 25, 443
MAX_CONNECT_WAIT = 10.0  # seconds for one handshake (a blocked port answers nothing: this is the cost)
CANDIDATE_TIMEOUT = 3.0  # seconds for a suggested resolver's answer
# Where to try an IPv6 route when no reference has an IPv6 address: a.root-servers.net. A UDP `connect`
# only consults the routing table; nothing is sent.
ROUTE_PROBE_V6 = "2001:503:ba3e::2:30"


@dataclass
class Reference:
    """One reference domain: its first MX host and the addresses of that host and of the domain itself."""

    domain: str
    mx: str | None = None
    mx_v4: list[str] = field(default_factory=list)
    mx_v6: list[str] = field(default_factory=list)
    web_v4: list[str] = field(default_factory=list)
    web_v6: list[str] = field(default_factory=list)


async def _addresses(resolver: Resolver, name: str) -> tuple[list[str], list[str]]:
    try:
        return await resolver.addresses(name)
    except DnsError:
        return [], []


async def _reference(resolver: Resolver, domain: str) -> Reference:
    ref = Reference(domain)
    ref.web_v4, ref.web_v6 = await _addresses(resolver, domain)
    try:
        answer = await resolver.resolve(domain, "MX")
    except DnsError:
        return ref
    hosts = []
    for record in answer.records:
        pref, _, host = record.partition(" ")
        if pref.isdigit() and host.strip(". "):
            hosts.append((int(pref), host.strip().rstrip(".").lower()))
    if hosts:
        ref.mx = min(hosts)[1]
        ref.mx_v4, ref.mx_v6 = await _addresses(resolver, ref.mx)
    return ref


async def _connect(ip: str, port: int, wait: float) -> str | None:
    """None when a TCP handshake completes (closed at once), else what happened."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), wait)
    except TimeoutError:
        return f"no answer within {wait:g}s"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    writer.close()
    return None


def _where(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


async def _attempts(targets: list[tuple[str, int, str]], wait: float) -> list[tuple[str, str | None]]:
    """Every (ip, port, label) tried at once: [(description, failure or None)]."""
    results = await asyncio.gather(*(_connect(ip, port, wait) for ip, port, _ in targets))
    return [(f"{_where(ip, port)} ({label})", failure) for (ip, port, label), failure in zip(targets, results,
                                                                                                strict=True)]


def _said(attempts: list[tuple[str, str | None]]) -> str:
    return "; ".join(f"{what}: {failure or 'connected'}" for what, failure in attempts[:4])


async def _port25(refs: list[Reference], settings: Settings, wait: float) -> tuple[bool | None, str]:
    # IPv4 when any reference has it: an IPv6-only path would measure IPv6, not port 25.
    family = "mx_v4" if any(r.mx_v4 for r in refs) else "mx_v6"
    smtp = [(ip, settings.port(SMTP), f"{r.mx}, MX of {r.domain}") for r in refs for ip in getattr(r, family)[:1]]
    if not smtp:
        return None, "no reference MX host could be resolved: not measured"
    web = [(ip, settings.port(HTTPS), r.domain) for r in refs for ip in r.web_v4[:1]]
    tried, control = await asyncio.gather(_attempts(smtp, wait), _attempts(web, wait))
    if any(failure is None for _, failure in tried):
        return True, _said([a for a in tried if a[1] is None])
    https = ("port 443 of the same domains answers" if any(f is None for _, f in control)
             else "port 443 does not answer either" if control else "no port 443 to compare with")
    return False, f"no MX host answers on port 25 ({_said(tried)}); {https}"


def _has_route_v6(ip: str) -> bool | None:
    """False when the routing table has no way to `ip` (nothing is sent); None when it has one."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((ip, 53))
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                return False
            raise
    return None


async def _ipv6(refs: list[Reference], settings: Settings, wait: float) -> tuple[bool | None, str]:
    targets = [(ip, settings.port(HTTPS), r.domain) for r in refs for ip in r.web_v6[:1]]
    targets += [(ip, settings.port(SMTP), f"{r.mx}, MX of {r.domain}") for r in refs for ip in r.mx_v6[:1]]
    if not targets:
        try:
            route = _has_route_v6(ROUTE_PROBE_V6)
        except OSError as exc:
            return None, f"no reference has an IPv6 address, and the route check failed ({exc.strerror})"
        if route is False:
            return False, "no IPv6 route on this machine (no reference has an IPv6 address to try)"
        return None, "no reference has an IPv6 address: not measured"
    tried = await _attempts(targets, wait)
    # A refusal is an answer too: a packet came back over IPv6.
    answered = [a for a in tried if a[1] in (None, "refused")]
    if answered:
        return True, _said(answered)
    return False, f"no IPv6 address answers ({_said(tried)})"


def _has_dnssec_records(response: dns.message.Message) -> bool:
    types = {(rrset.rdtype, rrset.covers) for rrset in response.answer}
    return (dns.rdatatype.DNSKEY, dns.rdatatype.NONE) in types and (dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY) in types


async def _returns_dnssec(resolver: Resolver) -> tuple[bool | None, str]:
    try:
        response = await resolver.query(".", "DNSKEY", dnssec=True)
    except DnsError as exc:
        return None, f"'. DNSKEY' could not be asked ({exc.reason})"
    if _has_dnssec_records(response):
        return True, f"{resolver.address} returns the root DNSKEY RRset with its RRSIG"
    got = ", ".join(sorted({dns.rdatatype.to_text(r.rdtype) for r in response.answer})) or "no record"
    return False, f"{resolver.address} answers '. DNSKEY' (DO, CD) with {got}: DNSSEC records are not passed on"


async def _validates(resolver: Resolver) -> tuple[bool | None, str]:
    try:
        response = await resolver.query(".", "SOA", dnssec=True, checking_disabled=False)
    except DnsError as exc:
        return None, f"'. SOA' could not be asked ({exc.reason})"
    if response.flags & dns.flags.AD:
        return True, f"{resolver.address} sets AD on the root SOA"
    return False, f"{resolver.address} does not set AD on the root SOA"


async def _fix(settings: Settings, configured: str) -> tuple[str | None, str]:
    """The first candidate resolver that returns DNSSEC records from here (one `. DNSKEY` question each)."""
    candidates = [c for c in settings.resolver_candidates if c != configured]

    async def works(candidate: str) -> bool:
        try:
            probe = Resolver(parse_host_port(candidate, 53), timeout=min(settings.timeout, CANDIDATE_TIMEOUT))
            return (await _returns_dnssec(probe))[0] is True
        except Exception:  # a candidate that cannot be reached is simply not suggested
            return False

    results = await asyncio.gather(*(works(c) for c in candidates))
    for candidate, ok in zip(candidates, results, strict=True):
        if ok:
            return candidate, f"{candidate} returns DNSSEC records from here"
    return None, f"none of {', '.join(candidates) or 'the candidates'} returns DNSSEC records from here"


def dnssec_limit(vantage: Vantage) -> str:
    """Why DNSSEC cannot be evaluated from this vantage point, and which `--resolver` would fix it."""
    fix = (f"--resolver {vantage.resolver_fix} returns them from here" if vantage.resolver_fix
           else "pass --resolver with one that does (a validating resolver)")
    return f"the resolver {vantage.resolver} does not return DNSSEC records; {fix}"


def is_stub(resolver_host: str) -> bool:
    try:
        return ipaddress.ip_address(resolver_host).is_loopback
    except ValueError:
        return False


async def characterise(settings: Settings, resolver: Resolver | None = None) -> Vantage:
    """Measure this machine as a vantage point (see the module docstring). Never raises for what the network
    says; a characteristic that cannot be measured is None, with the reason in `evidence`."""
    resolver = resolver or Resolver(settings.resolver_address(), timeout=settings.timeout,
                                    in_flight=settings.dns_in_flight)
    wait = min(settings.timeout, MAX_CONNECT_WAIT)
    refs = list(await asyncio.gather(*(_reference(resolver, d) for d in settings.reference_domains)))
    (dnssec, dnssec_how), (validates, validates_how), (port25, port25_how), (ipv6, ipv6_how) = await asyncio.gather(
        _returns_dnssec(resolver), _validates(resolver), _port25(refs, settings, wait), _ipv6(refs, settings, wait))
    evidence = {"reference_domains": ", ".join(settings.reference_domains), "ipv6": ipv6_how, "port25": port25_how,
                "resolver_dnssec": dnssec_how, "resolver_validates": validates_how}
    fix = None
    if dnssec is False:
        fix, evidence["resolver_fix"] = await _fix(settings, resolver.address)
    return Vantage(resolver=resolver.address, host=socket.gethostname(), lab=settings.lab, name=settings.vantage_name,
                   ipv6=ipv6, port25=port25, resolver_dnssec=dnssec, resolver_validates=validates,
                   stub=is_stub(resolver.nameserver[0]), resolver_fix=fix, evidence=evidence)
