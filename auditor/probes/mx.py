"""`dns.mx`: the MX set of a mail domain, ordered as a sending MTA would use it (RFC 5321 §5.1, RFC 7505)."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from auditor.findings import Finding, Status, error, worst
from auditor.net.dns import MAX_CNAME_HOPS, Answer, DnsError, Resolver

CHECK = "dns.mx"
MAX_MX = 10  # hosts scanned per domain, like internet.nl: bounded work whatever the zone says


@dataclass(frozen=True)
class MxHost:
    preference: int
    host: str  # without the trailing dot, lower-case


@dataclass(frozen=True)
class MxPlan:
    finding: Finding
    hosts: list[MxHost]  # what the transport probes scan (empty for null MX or an error)


def parse_mx(records: list[str]) -> list[MxHost]:
    """Presentation-format MX rdata → hosts by preference then name (a deterministic order)."""
    hosts: list[MxHost] = []
    for record in records:
        pref, _, name = record.partition(" ")
        if not pref.isdigit():
            continue
        hosts.append(MxHost(int(pref), name.strip().rstrip(".").lower() or "."))
    return sorted(set(hosts), key=lambda h: (h.preference, h.host))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def plan_from_answer(domain: str, answer: Answer) -> MxPlan:
    """The `dns.mx` finding and the hosts to scan, from the MX answer (pure)."""
    evidence = answer.evidence()
    hosts = parse_mx(answer.records)
    if not answer.exists:
        # No MX: RFC 5321 §5.1 implicit MX, mail goes to the domain's own address.
        implicit = MxHost(0, domain.lower().rstrip("."))
        reason = "the domain does not exist" if answer.rcode == "NXDOMAIN" else "no MX record"
        status = Status.FAIL if answer.rcode == "NXDOMAIN" else Status.WARN
        hosts_out = [] if answer.rcode == "NXDOMAIN" else [implicit]
        return MxPlan(Finding(id=CHECK, subject=domain, status=status, value=[h.host for h in hosts_out],
                              summary=f"{reason}: mail falls back to the domain's address (implicit MX)"
                              if hosts_out else reason, evidence={**evidence, "implicit_mx": bool(hosts_out)}),
                      hosts_out)
    if any(h.host == "." for h in hosts):
        mixed = len(hosts) > 1
        return MxPlan(Finding(id=CHECK, subject=domain, status=Status.FAIL, value=[],
                              summary="null MX (RFC 7505): the domain accepts no mail"
                              + (", but other MX records are published beside it" if mixed else ""),
                              evidence={**evidence, "null_mx": True, "null_mx_with_other_mx": mixed}), [])
    notes: list[str] = []
    literals = [h.host for h in hosts if _is_ip_literal(h.host)]
    if literals:
        notes.append(f"MX pointing at an IP literal (not allowed by RFC 5321): {', '.join(literals)}")
    if answer.cnames:
        notes.append(f"the MX RRset was reached through a CNAME ({' → '.join(answer.cnames)})")
    capped = len(hosts) > MAX_MX
    if capped:
        notes.append(f"{len(hosts)} MX hosts published: only the first {MAX_MX} are scanned")
    scanned = [h for h in hosts if not _is_ip_literal(h.host)][:MAX_MX]
    summary = ", ".join(f"{h.host} ({h.preference})" for h in hosts[:MAX_MX])
    return MxPlan(Finding(id=CHECK, subject=domain, status=Status.WARN if notes else Status.PASS,
                          value=[h.host for h in hosts],
                          summary=(summary + ("; " + "; ".join(notes) if notes else ""))[:500],
                          evidence={**evidence, "notes": notes, "capped": capped,
                                    "preferences": {h.host: h.preference for h in hosts}}),
                  scanned)


@dataclass(frozen=True)
class AliasProblem:
    host: str
    status: Status  # WARN: an alias that resolves; FAIL: an alias to nothing, a loop; ERROR: could not tell
    note: str


async def cname_loop(resolver: Resolver, host: str) -> list[str] | None:
    """The alias chain from `host` when it loops, asked one CNAME at a time (a resolver that meets a loop
    answers SERVFAIL, which alone cannot tell a loop from a broken server); None when it does not loop."""
    chain, name = [host], host
    for _ in range(MAX_CNAME_HOPS):
        try:
            answer = await resolver.resolve(name, "CNAME")
        except DnsError:
            return None
        if not answer.records:
            return None
        name = answer.records[0].rstrip(".").lower()
        if name in chain:
            return [*chain, name]
        chain.append(name)
    return chain



async def mx_aliases(resolver: Resolver, hosts: list[MxHost]) -> list[AliasProblem]:
    """MX targets must not be aliases (RFC 2181 §10.3, RFC 5321 §5.1): each one that is, and what it leads to.

    An alias that resolves is a warning (senders follow it, its server is still tested); one that leads
    nowhere or loops is a failure: no sender can deliver there. A lookup that fails is `error`, never a pass.
    """
    problems: list[AliasProblem] = []
    for host in hosts:
        a, aaaa = await asyncio.gather(resolver.resolve(host.host, "A"), resolver.resolve(host.host, "AAAA"),
                                       return_exceptions=True)
        answers = [r for r in (a, aaaa) if isinstance(r, Answer)]
        failures = [r for r in (a, aaaa) if isinstance(r, BaseException)]
        for exc in failures:
            if not isinstance(exc, DnsError):
                raise exc
        if not answers:
            loop = await cname_loop(resolver, host.host)
            if loop is not None:
                problems.append(AliasProblem(host.host, Status.FAIL,
                                             f"MX target {host.host} is a CNAME loop ({' → '.join(loop)[:200]})"))
            else:
                reason = failures[0].reason if isinstance(failures[0], DnsError) else str(failures[0])
                problems.append(AliasProblem(host.host, Status.ERROR,
                                             f"MX target {host.host} could not be resolved ({reason})"))
            continue
        chain = next((r.cnames for r in answers if r.cnames), [])
        if not chain:
            continue
        target = chain[-1].rstrip(".")
        if not any(r.records for r in answers):
            problems.append(AliasProblem(host.host, Status.FAIL, f"MX target {host.host} is a CNAME to {target}, "
                                                                  "which has no address: mail cannot be delivered"))
        else:
            problems.append(AliasProblem(host.host, Status.WARN,
                                         f"MX target {host.host} is a CNAME to {target} (RFC 2181 §10.3)"))
    return problems


async def plan_mx(domain: str, resolver: Resolver) -> MxPlan:
    try:
        answer = await resolver.resolve(domain, "MX")
    except DnsError as exc:
        return MxPlan(error(CHECK, domain, f"MX lookup failed: {exc.reason}"), [])
    plan = plan_from_answer(domain, answer)
    problems = await mx_aliases(resolver, plan.hosts)
    if not problems:
        return plan
    f = plan.finding
    notes = [p.note for p in problems]
    return MxPlan(f.model_copy(update={"status": worst([f.status, *(p.status for p in problems)]),
                                       "summary": "; ".join([f.summary, *notes])[:500],
                                       "evidence": {**f.evidence, "notes": [*f.evidence.get("notes", []), *notes]}}),
                  plan.hosts)
