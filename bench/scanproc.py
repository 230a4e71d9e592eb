"""The scanner side of a benchmark, one measurement per process (so peak RSS is this measurement's alone).

    python bench/scanproc.py scan --settings S.json --catalog A.yaml [--catalog B.yaml]
    python bench/scanproc.py endpoints --settings S.json --endpoint mx1.x.example:25:starttls [--endpoint …]
    python bench/scanproc.py policy --settings S.json --domain a.example [--domain b.example …]

Prints one JSON line: wall seconds, per-provider completion times (scan), peak RSS, CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.catalog import Provider, load_catalog
from auditor.findings import Finding, ProviderResult
from auditor.probes.context import ScanContext
from auditor.probes.email_auth import dmarc_finding, spf_finding
from auditor.probes.endpoint import TlsEndpoint, audit_endpoint
from auditor.probes.mta_sts import mta_sts_finding, tlsrpt_finding
from auditor.probes.mx import plan_mx
from auditor.scan import run_scan
from auditor.settings import Settings, load_settings


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": me.ru_maxrss / 1024, "cpu_s": me.ru_utime + me.ru_stime}


async def _scan(providers: list[Provider], settings: Settings) -> dict[str, Any]:
    """The run as `auditor scan` makes it: each result handed to a callback as it finishes (the store commits
    it there) and not kept in memory, so the peak RSS is the scan's, whatever the number of domains."""
    done: list[float] = []
    findings = errors = crashes = 0
    top: Counter[str] = Counter()
    t0 = time.monotonic()

    def finished(result: ProviderResult) -> None:
        nonlocal findings, errors, crashes
        done.append(time.monotonic() - t0)
        findings += len(result.checks)
        for c in result.checks:
            if c.status.value == "error":
                errors += 1
                top[f"{c.id}: {c.summary[:200]}"] += 1
            crashes += c.id in ("scan.probe", "scan.deadline")

    await run_scan(providers, settings, on_provider=finished, keep=False)
    wall = time.monotonic() - t0
    return {"wall": wall, "done": sorted(done), "providers": len(providers),
            "domains": sum(len(p.mail_domains) for p in providers), "findings": findings,
            "errors": errors, "crashes": crashes, "top_errors": top.most_common(8)}


async def _endpoints(settings: Settings, specs: list[str]) -> dict[str, Any]:
    """What testssl.sh -p -S -E does on each endpoint, all of them through one run's scheduler and limits."""
    ctx = ScanContext.create(settings)
    endpoints = []
    for spec in specs:
        host, port, *mode = spec.split(":")
        endpoints.append(TlsEndpoint(host, host, int(port), starttls=mode == ["starttls"]))
    try:
        t0 = time.monotonic()
        found = await asyncio.gather(*(ctx.endpoint(ep, audit_endpoint) for ep in endpoints))
        checks = [f for findings in found for f in findings]
        return {"wall": time.monotonic() - t0, "endpoints": len(endpoints),
                "errors": sum(f.status.value == "error" for f in checks)}
    finally:
        await ctx.aclose()


async def _policy(settings: Settings, domains: list[str]) -> dict[str, Any]:
    """What checkdmarc does without --check-mx-tls: MX, SPF tree, DMARC, MTA-STS (TXT + policy), TLS-RPT."""
    ctx = ScanContext.create(settings)

    async def one(d: str) -> list[Finding]:
        plan = await plan_mx(d, ctx.resolver)
        mx = plan.finding.value if isinstance(plan.finding.value, list) else None
        return [plan.finding, *await asyncio.gather(mta_sts_finding(d, mx, ctx), tlsrpt_finding(d, ctx),
                                                    spf_finding(d, ctx), dmarc_finding(d, ctx))]

    try:
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(d) for d in domains))
        return {"wall": time.monotonic() - t0, "findings": sum(len(r) for r in results)}
    finally:
        await ctx.aclose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["scan", "endpoints", "policy"])
    ap.add_argument("--settings", type=Path, required=True)
    ap.add_argument("--catalog", action="append", type=Path, default=[])
    ap.add_argument("--endpoint", action="append", default=[], help="HOST:PORT or HOST:PORT:starttls")
    ap.add_argument("--domain", action="append", default=[])
    args = ap.parse_args()
    settings = load_settings(json.loads(args.settings.read_text()), environ={})
    if args.mode == "scan":
        providers = [p for c in args.catalog for p in load_catalog(c).providers]
        result = asyncio.run(_scan(providers, settings))
    elif args.mode == "endpoints":
        result = asyncio.run(_endpoints(settings, args.endpoint))
    else:
        result = asyncio.run(_policy(settings, args.domain))
    print(json.dumps({**result, **_usage()}), flush=True)


if __name__ == "__main__":
    main()
