"""`trust_space`: does a provider whose mail domains belong to a trust space (MSSanté) authenticate its mail
servers with the space's PKI? Pure: read from the provider's `tls.certificate` findings.

One finding per space the provider's domains belong to; none for a provider outside every space. The space's
peers (other MSSanté operators) authenticate servers with its PKI (IGC-Santé), so a server whose chain only the
web PKI validates is not anchored in the space, even though it is trusted on the Internet at large.
"""

from __future__ import annotations

from auditor.catalog import Provider
from auditor.findings import Finding, Status
from auditor.trust_spaces import load_trust_spaces


def trust_space_findings(provider: Provider, findings: list[Finding]) -> list[Finding]:
    data = load_trust_spaces()
    members: dict[str, list[str]] = {}
    for domain in provider.mail_domains:
        space = data.space_for_mail_domain(domain)
        if space is not None:
            members.setdefault(space.id, []).append(domain)
    out = []
    for space_id, domains in members.items():
        space = next(s for s in data.spaces if s.id == space_id)
        certs = [f for f in findings if f.id == "tls.certificate" and f.subject in domains]
        judged = [f for f in certs if isinstance(f.value, dict) and "space_anchor" in f.value]
        outside = sorted({f.target or f.subject for f in judged if f.value["space_anchor"] is not True})
        anchored: bool | None = None if not judged else not outside
        if anchored is None:
            status, summary = Status.ERROR, f"no certificate of a {space.name['en']} server could be checked"
        elif anchored:
            status, summary = Status.PASS, f"{len(judged)} server(s) authenticate with {space.pki}"
        else:
            status, summary = Status.FAIL, f"not authenticated with {space.pki}: {', '.join(outside[:5])}"
        unmeasured = sorted({f.target or f.subject for f in certs if f not in judged})
        if anchored is True and unmeasured:
            status = Status.ERROR
            summary += f"; not measured: {', '.join(unmeasured[:5])}"
            anchored = None
        out.append(Finding(
            id="trust_space", subject=provider.id, status=status,
            value={"space": space.id, "pki": space.pki, "domains": domains, "anchored": anchored,
                   "not_anchored": outside[:50]},
            summary=summary[:500],
            evidence={"name": space.name, "servers": len(judged), "not_measured": unmeasured[:50],
                      "references": [r.model_dump() for r in space.references]}))
    return out
