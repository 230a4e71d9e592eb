"""`mta_sts` (RFC 8461) and `tlsrpt` (RFC 8460) for a mail domain: DNS and HTTPS I/O around the pure parsers."""

from __future__ import annotations

from typing import Any

from auditor.findings import Finding, Status, error
from auditor.net.dns import DnsError, txt_strings
from auditor.policy.mta_sts import MAX_POLICY_BYTES, mta_sts_value, parse_policy, parse_sts_records
from auditor.policy.tlsrpt import parse_tlsrpt_records
from auditor.probes.context import ScanContext


def policy_url(domain: str) -> str:
    return f"https://mta-sts.{domain}/.well-known/mta-sts.txt"


def _provider_fault(reason: str) -> bool:
    """A fetch failure the domain's own data explains (the policy host does not exist, has no address, or
    shows a bad certificate): every sender sees it, so the policy is unusable. Anything else (timeout,
    refused connection) may be our vantage point: `error`, not `fail`."""
    return any(word in reason for word in ("certificate", "no such name", "has no address"))


def _sts_status(value: dict[str, object]) -> tuple[Status, str]:
    if not value["published"]:
        return Status.FAIL, "no MTA-STS policy published"
    if not value["valid"]:
        errors = value["errors"] if isinstance(value["errors"], list) else []
        return Status.FAIL, "MTA-STS published but unusable: " + "; ".join(str(e) for e in errors[:3])
    mode = value["mode"]
    if mode == "enforce":
        if value["mx_covered"] is False:
            return Status.FAIL, "MTA-STS enforce, but the policy does not cover every MX: mail may bounce"
        return Status.PASS, f"MTA-STS enforce (max_age {value['max_age']})"
    if mode == "testing":
        return Status.WARN, "MTA-STS in testing mode: failures are reported, mail is still delivered without TLS"
    return Status.FAIL, "MTA-STS mode none: the domain opted out"


async def mta_sts_finding(domain: str, mx_hosts: list[str] | None, ctx: ScanContext) -> Finding:
    try:
        answer = await ctx.resolver.resolve(f"_mta-sts.{domain}", "TXT")
    except DnsError as exc:
        return error("mta_sts", domain, f"MTA-STS record lookup failed: {exc.reason}")
    record = parse_sts_records(txt_strings(answer))
    evidence: dict[str, Any] = {"txt": answer.evidence(), "record_errors": record.errors}
    policy, fetch_errors = None, []
    if record.published:
        url = policy_url(domain)
        fetched = await ctx.http.get(url, max_bytes=MAX_POLICY_BYTES)
        evidence["fetch"] = fetched.evidence()
        if fetched.error is not None:
            if fetched.status is None and not _provider_fault(fetched.error):
                return error("mta_sts", domain, f"MTA-STS policy could not be fetched: {fetched.error}",
                             evidence=evidence)
            fetch_errors.append(f"policy fetch failed: {fetched.error}")
        elif fetched.status != 200:
            fetch_errors.append(f"policy fetch answered HTTP {fetched.status} (only 200 is valid; redirects are "
                                "not followed, RFC 8461 §3.3)")
        elif fetched.truncated:
            fetch_errors.append(f"policy larger than {MAX_POLICY_BYTES} bytes")
        else:
            policy = parse_policy(fetched.body, fetched.headers.get("content-type"))
            # whole (the fetch caps it): the evidence bundle carries the policy as served
            evidence["policy_text"] = fetched.body.decode("utf-8", "replace")
    value = mta_sts_value(record, policy, mx_hosts, fetch_errors)
    status, summary = _sts_status(value)
    return Finding(id="mta_sts", subject=domain, status=status, value=value, summary=summary[:500], evidence=evidence)


async def tlsrpt_finding(domain: str, ctx: ScanContext) -> Finding:
    try:
        answer = await ctx.resolver.resolve(f"_smtp._tls.{domain}", "TXT")
    except DnsError as exc:
        return error("tlsrpt", domain, f"TLS-RPT record lookup failed: {exc.reason}")
    result = parse_tlsrpt_records(txt_strings(answer))
    value = {"present": result.present, "valid": result.valid, "rua": result.rua}
    if result.valid:
        status, summary = Status.PASS, f"TLS reports sent to {', '.join(result.rua)}"
    elif result.present:
        status, summary = Status.FAIL, "TLS-RPT record invalid: " + "; ".join(result.errors[:3])
    else:
        status, summary = Status.WARN, "no TLS-RPT record: delivery failures are not reported to the domain"
    return Finding(id="tlsrpt", subject=domain, status=status, value=value, summary=summary[:500],
                   evidence={"txt": answer.evidence(), "errors": result.errors, "warnings": result.warnings})
