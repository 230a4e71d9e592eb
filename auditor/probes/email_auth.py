"""`spf` (RFC 7208) and `dmarc` (RFC 9989) for a mail domain: DNS around the pure parsers."""

from __future__ import annotations

from typing import Any

from auditor.findings import Finding, Status, error
from auditor.net.dns import DnsError, Resolver, txt_strings
from auditor.policy.dmarc import organizational_domain, parse_dmarc, select_dmarc
from auditor.policy.spf import AddrLookup, MxLookup, TxtLookup, spf_tree
from auditor.probes.context import ScanContext


class SpfLookupFailed(LookupError):
    """A resolver failure during the SPF walk: a temperror, never read as "no record"."""


def _lookups(resolver: Resolver) -> tuple[TxtLookup, MxLookup, AddrLookup]:
    async def txt(name: str) -> list[str] | None:
        try:
            answer = await resolver.resolve(name, "TXT")
        except DnsError as exc:
            raise SpfLookupFailed(exc.reason) from exc
        return [t.decode("latin-1") for t in txt_strings(answer)] or None

    async def mx(name: str) -> list[str] | None:
        try:
            answer = await resolver.resolve(name, "MX")
        except DnsError as exc:
            raise SpfLookupFailed(exc.reason) from exc
        return [r.split(" ", 1)[-1] for r in answer.records] or None

    async def addr(name: str) -> list[str] | None:
        try:
            v4, v6 = await resolver.addresses(name)
        except DnsError as exc:
            raise SpfLookupFailed(exc.reason) from exc
        return (v4 + v6) or None

    return txt, mx, addr


async def spf_finding(domain: str, ctx: ScanContext) -> Finding:
    tree = await spf_tree(domain, *_lookups(ctx.resolver))
    value = tree.value()
    if tree.status == "temperror":
        return error("spf", domain, "SPF could not be evaluated: " + "; ".join(tree.errors[:2] or ["lookup failed"]),
                     evidence=tree.evidence())
    if tree.status == "none":
        status, summary = Status.FAIL, "no SPF record: anyone may send mail as this domain"
    elif tree.status == "permerror":
        status, summary = Status.FAIL, "SPF permerror: " + "; ".join(tree.errors[:2])
    elif tree.all == "-all":
        status, summary = Status.PASS, f"SPF -all ({tree.lookups} DNS lookups)"
    elif tree.all == "~all":
        status, summary = Status.PASS, f"SPF ~all (soft fail; {tree.lookups} DNS lookups)"
    elif tree.all == "+all":
        status, summary = Status.FAIL, "SPF +all: every sender on the Internet is authorised"
    else:
        status, summary = Status.WARN, f"SPF ends in {tree.all or 'no all'}: unlisted senders are not refused"
    return Finding(id="spf", subject=domain, status=status, value=value, summary=summary[:500],
                   evidence={**tree.evidence(), "warnings": tree.warnings[:20]})


async def _dmarc_txt(name: str, ctx: ScanContext) -> list[bytes]:
    return txt_strings(await ctx.resolver.resolve(f"_dmarc.{name}", "TXT"))


async def dmarc_finding(domain: str, ctx: ScanContext) -> Finding:
    looked: list[str] = [domain]
    try:
        selection = select_dmarc(await _dmarc_txt(domain, ctx))
        org = organizational_domain(domain)
        if selection.status == "none" and org != domain.lower().rstrip("."):
            looked.append(org)
            selection = select_dmarc(await _dmarc_txt(org, ctx))
    except DnsError as exc:
        return error("dmarc", domain, f"DMARC record lookup failed: {exc.reason}")
    evidence: dict[str, Any] = {"looked_up": [f"_dmarc.{n}" for n in looked], "selection_errors": selection.errors}
    if selection.record is None:
        why = "several DMARC records (none applies)" if selection.status == "multiple" else "no DMARC record"
        return Finding(id="dmarc", subject=domain, status=Status.FAIL, value=parse_dmarc("").value(), summary=why,
                       evidence=evidence)
    record = parse_dmarc(selection.record)
    value = record.value()
    evidence.update(errors=record.errors, warnings=record.warnings, tags=record.tags)
    policy = value["policy"]
    where = f" (from {looked[-1]})" if len(looked) > 1 else ""
    if record.enforcing:
        status, summary = Status.PASS, f"DMARC p={policy}{where}"
    elif policy in ("reject", "quarantine"):  # t=y (RFC 9989 §4.7)
        status, summary = Status.WARN, f"DMARC p={policy} in test mode (t=y): not enforced{where}"
    elif policy == "none":
        status, summary = Status.WARN, f"DMARC p=none: monitoring only, spoofed mail is not refused{where}"
    else:
        status, summary = Status.FAIL, "DMARC record unusable: " + "; ".join(record.errors[:2])
    return Finding(id="dmarc", subject=domain, status=status, value=value, summary=summary[:500], evidence=evidence)
