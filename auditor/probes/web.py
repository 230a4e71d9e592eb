"""`https.hsts` and `https.security_txt` (RFC 6797, RFC 9116) for an HTTPS endpoint."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from auditor.findings import Finding, Status, error
from auditor.probes.context import ScanContext

HSTS_GOOD_MAX_AGE = 15_768_000  # six months: the floor most guidance (and browsers' preload list) asks for
_DIRECTIVE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*\"?([^\";]*)\"?)?\s*$")


def parse_hsts(header: str) -> dict[str, Any] | None:
    """The first Strict-Transport-Security header → value of CHECKS.md, None when invalid (RFC 6797 §6.1)."""
    directives: dict[str, str | None] = {}
    for part in header[:2048].split(";"):
        if not part.strip():
            continue
        m = _DIRECTIVE.match(part)
        if not m:
            return None
        name = m.group(1).lower()
        if name in directives:
            return None  # RFC 6797 §6.1: a directive appearing twice makes the header invalid
        directives[name] = m.group(2)
    max_age = directives.get("max-age")
    if max_age is None or not max_age.isdigit():
        return None
    return {"max_age": min(int(max_age), 2**31 - 1), "include_subdomains": "includesubdomains" in directives,
            "preload": "preload" in directives}


async def hsts_finding(host: str, port: int, ctx: ScanContext) -> Finding:
    url = f"https://{host}/" if port == 443 else f"https://{host}:{port}/"
    fetched = await ctx.http.get(url, max_bytes=16384)
    target = f"{host}:{port}"
    if fetched.error is not None:
        return error("https.hsts", host, f"HTTPS request failed: {fetched.error}", target=target,
                     evidence=fetched.evidence())
    header = fetched.headers.get("strict-transport-security")
    value = parse_hsts(header) if header is not None else None
    if header is None:
        status, summary = Status.FAIL, f"no Strict-Transport-Security header (HTTP {fetched.status})"
    elif value is None:
        status, summary = Status.FAIL, "invalid Strict-Transport-Security header"
    elif value["max_age"] < HSTS_GOOD_MAX_AGE:
        status, summary = Status.WARN, f"HSTS max-age {value['max_age']}s is shorter than six months"
    else:
        status = Status.PASS
        summary = f"HSTS max-age {value['max_age']}s" + ("; includeSubDomains" if value["include_subdomains"] else "")
    return Finding(id="https.hsts", subject=host, target=target, status=status, value=value, summary=summary,
                   evidence={**fetched.evidence(), "header": header[:300] if header else None})


def parse_security_txt(text: str, now: dt.datetime) -> dict[str, Any]:
    """Contact and Expires fields of a security.txt (RFC 9116 §2.5); signatures are not checked."""
    contacts, expires = [], None
    for line in text.splitlines()[:500]:
        name, sep, val = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        if key == "contact":
            contacts.append(val.strip()[:200])
        elif key == "expires" and expires is None:
            expires = val.strip()[:40]
    expired = None
    if expires:
        try:
            when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
            expired = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) < now
        except ValueError:
            expired = None
    return {"present": True, "contact": contacts[:10], "expires": expires, "expired": expired}


async def security_txt_finding(host: str, port: int, ctx: ScanContext) -> Finding:
    base = f"https://{host}" if port == 443 else f"https://{host}:{port}"
    fetched = await ctx.http.get(f"{base}/.well-known/security.txt", max_bytes=32768)
    target = f"{host}:{port}"
    if fetched.error is not None:
        return error("https.security_txt", host, f"HTTPS request failed: {fetched.error}", target=target,
                     evidence=fetched.evidence())
    content_type = fetched.headers.get("content-type", "")
    if fetched.status != 200 or not content_type.lower().startswith("text/plain"):
        return Finding(id="https.security_txt", subject=host, target=target, status=Status.INFO,
                       value={"present": False, "contact": [], "expires": None, "expired": None},
                       summary=f"no security.txt (HTTP {fetched.status})", evidence=fetched.evidence())
    value = parse_security_txt(fetched.body.decode("utf-8", "replace"), dt.datetime.now(dt.UTC))
    if not value["contact"]:
        status, summary = Status.WARN, "security.txt without a Contact field"
    elif value["expired"]:
        status, summary = Status.WARN, f"security.txt expired on {value['expires']}"
    else:
        status, summary = Status.PASS, f"security.txt with {len(value['contact'])} contact(s)"
    return Finding(id="https.security_txt", subject=host, target=target, status=status, value=value,
                   summary=summary, evidence=fetched.evidence())
