"""`dns.mx`: the MX set of a mail domain, ordered as a sending MTA would use it (RFC 5321 §5.1, RFC 7505)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from auditor.findings import Finding, Status, error
from auditor.net.dns import Answer, DnsError, Resolver

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


async def check_mx_targets_are_not_cnames(resolver: Resolver, hosts: list[MxHost]) -> list[str]:
    """MX targets must not be aliases (RFC 2181 §10.3): the names that are CNAMEs."""
    flagged: list[str] = []
    for host in hosts:
        try:
            answer = await resolver.resolve(host.host, "A")
        except DnsError:
            continue  # reported by the address lookup of the transport probes
        if answer.cnames:
            flagged.append(host.host)
    return flagged


async def plan_mx(domain: str, resolver: Resolver) -> MxPlan:
    try:
        answer = await resolver.resolve(domain, "MX")
    except DnsError as exc:
        return MxPlan(error(CHECK, domain, f"MX lookup failed: {exc.reason}"), [])
    plan = plan_from_answer(domain, answer)
    aliases = await check_mx_targets_are_not_cnames(resolver, plan.hosts)
    if not aliases:
        return plan
    note = f"MX target is a CNAME (RFC 2181 §10.3): {', '.join(aliases)}"
    f = plan.finding
    status = Status.WARN if f.status == Status.PASS else f.status
    return MxPlan(f.model_copy(update={"status": status, "summary": f"{f.summary}; {note}"[:500],
                                       "evidence": {**f.evidence, "notes": [*f.evidence.get("notes", []), note]}}),
                  plan.hosts)
