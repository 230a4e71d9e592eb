"""`dns.dnssec` for a mail domain (its MX RRset) and for each MX host (its address RRset)."""

from __future__ import annotations

from auditor.findings import Finding, Status
from auditor.probes.context import ScanContext

_STATUS = {"secure": Status.PASS, "insecure": Status.FAIL, "bogus": Status.FAIL, "indeterminate": Status.ERROR}
_WORDS = {"secure": "DNSSEC-signed and validated from the root",
          "insecure": "not protected by DNSSEC (no signed delegation)",
          "bogus": "DNSSEC validation fails: resolvers that validate will refuse these answers",
          "indeterminate": "DNSSEC could not be evaluated"}


async def dnssec_finding(subject: str, name: str, rdtype: str, ctx: ScanContext, *,
                         target: str | None = None) -> Finding:
    result = await ctx.validate(name, rdtype)
    summary = f"{_WORDS[result.status]}: {result.reason}" if result.reason else _WORDS[result.status]
    return Finding(id="dns.dnssec", subject=subject, target=target, status=_STATUS[result.status],
                   value=result.status, summary=summary[:500],
                   evidence={"question": f"{name} {rdtype}", **result.evidence()})
