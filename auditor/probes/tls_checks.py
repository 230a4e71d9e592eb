"""`tls.protocols` and `tls.certificate` verdicts from sslyze scans of every address of one endpoint (pure)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.findings import Finding, Status, worst
from auditor.net.certs import CertFacts, analyse_chain
from auditor.net.tls import VERSION_COMMANDS, TlsScan

ORDER = list(VERSION_COMMANDS)  # SSLv2 … TLSv1.3
BROKEN = {"SSLv2", "SSLv3"}
LEGACY = {"TLSv1", "TLSv1.1"}  # deprecated by RFC 8996


def protocols_finding(subject: str, target: str, scans: list[TlsScan]) -> Finding:
    ok = [s for s in scans if s.error is None]
    if not ok:
        reasons = "; ".join(f"{s.ip}: {s.error}" for s in scans)
        return Finding(id="tls.protocols", subject=subject, target=target, status=Status.ERROR, value=None,
                       summary=f"TLS scan failed: {reasons}"[:500],
                       evidence={"addresses": [s.evidence() for s in scans]})
    accepted = sorted({p for s in ok for p in s.protocols}, key=ORDER.index)
    if not accepted:
        status, summary = Status.FAIL, "no SSL/TLS version accepted"
    elif BROKEN & set(accepted):
        status, summary = Status.FAIL, f"broken protocol accepted: {', '.join(sorted(BROKEN & set(accepted)))}"
    elif not {"TLSv1.2", "TLSv1.3"} & set(accepted):
        status, summary = Status.FAIL, f"only deprecated versions accepted ({', '.join(accepted)}; RFC 8996)"
    elif LEGACY & set(accepted):
        legacy = ", ".join(a for a in accepted if a in LEGACY)
        status, summary = Status.WARN, f"deprecated versions still accepted: {legacy}"
    else:
        status, summary = Status.PASS, f"accepts {', '.join(accepted)}"
    if len(ok) < len(scans):
        status = worst([status, Status.ERROR])
        summary += f"; {len(scans) - len(ok)} address(es) could not be scanned"
    return Finding(id="tls.protocols", subject=subject, target=target, status=status, value=accepted,
                   summary=summary, evidence={"addresses": [s.evidence() for s in scans]})


def _cert_status(facts: CertFacts, opportunistic: bool) -> tuple[Status, str]:
    problems = []
    if facts.expired:
        problems.append(f"expired on {facts.not_after}")
    if not facts.trusted:
        problems.append(f"not trusted ({facts.trust_error})" if facts.trust_error else "not trusted")
    if not facts.hostname_match:
        problems.append("name does not match")
    if not problems:
        return Status.PASS, f"valid certificate ({facts.key}, until {facts.not_after})"
    # Opportunistic SMTP still encrypts with a bad certificate, and DANE-EE may authenticate it anyway:
    # only expiry is a failure there. A direct TLS endpoint (HTTPS, chat) must be fully valid.
    status = Status.FAIL if facts.expired or not opportunistic else Status.WARN
    return status, "; ".join(problems)


def certificate_finding(subject: str, target: str, host: str, scans: list[TlsScan],
                        roots: list[x509.Certificate], *, opportunistic: bool) -> Finding:
    per_address: list[tuple[Status, str, CertFacts | None, TlsScan]] = []
    for scan in scans:
        if scan.error is not None or not scan.chain:
            per_address.append((Status.ERROR, scan.error or "no certificate received", None, scan))
            continue
        facts = analyse_chain(scan.chain, host, roots)
        status, summary = _cert_status(facts, opportunistic)
        per_address.append((status, summary, facts, scan))
    status = worst([p[0] for p in per_address])
    chosen = next(p for p in per_address if p[0] == status)
    shown = chosen[2] or next((p[2] for p in per_address if p[2] is not None), None)
    evidence = {"addresses": [{"ip": s.ip, "status": st.value, "summary": sm,
                               "subject": f.subject if f else None, "issuer": f.issuer if f else None,
                               "names": f.names if f else [], "not_before": f.not_before if f else None,
                               "trust_error": f.trust_error if f else None,
                               "chain_pem": [c.public_bytes(Encoding.PEM).decode() for c in s.chain][:5]}
                              for st, sm, f, s in per_address]}
    return Finding(id="tls.certificate", subject=subject, target=target, status=status,
                   value=shown.value() if shown else None, summary=f"{chosen[1]}"[:500], evidence=evidence)

