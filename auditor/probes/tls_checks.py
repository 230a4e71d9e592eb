"""`tls.protocols` and `tls.certificate` verdicts from sslyze scans of every address of one endpoint (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.findings import Finding, Status, worst
from auditor.net.certs import CertFacts, analyse_chain
from auditor.net.tls import TlsScan
from auditor.net.tls_enum import MALFORMED_CHAIN, VERSIONS
from auditor.policy.tls_eval import TlsFacts, classify_ciphers, grade
from auditor.trust_spaces import SpaceAnchors

ORDER = list(VERSIONS)  # SSLv2 … TLSv1.3
BROKEN = {"SSLv2", "SSLv3"}
LEGACY = {"TLSv1", "TLSv1.1"}  # deprecated by RFC 8996


def _untested(scans: list[TlsScan], unknown_only: bool) -> list[str]:
    """`ip: version` where a handshake failed for a network reason, so not every suite was tested; with
    `unknown_only`, only where that leaves the version itself in doubt (its probe could not tell either)."""
    found = []
    for scan in (s for s in scans if s.error is None):
        for version in (v for v in scan.command_errors if v in ORDER):
            in_doubt = version not in scan.protocols and scan.probes.get(version, "unknown").startswith("unknown")
            if in_doubt or not unknown_only:
                found.append(f"{scan.ip}: {version}")
    return sorted(found)


def _unless_untested(status: Status, summary: str, untested: list[str], what: str) -> tuple[Status, str]:
    """A pass is a claim about everything: with parts not measured it is an error, never a pass."""
    if status == Status.PASS and untested:
        return Status.ERROR, f"{what} not all measured ({', '.join(untested[:4])}): {summary}"
    return status, summary


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
    status, summary = _unless_untested(status, summary, _untested(ok, unknown_only=True), "protocol versions")
    if len(ok) < len(scans):
        status = worst([status, Status.ERROR])
        summary += f"; {len(scans) - len(ok)} address(es) could not be scanned"
    return Finding(id="tls.protocols", subject=subject, target=target, status=status, value=accepted,
                   summary=summary, evidence={"addresses": [s.evidence() for s in scans]})


def weak_key(key: str) -> bool:
    """RSA/DSA under 2048 bits or EC under 224 (ANSSI, NCSC-NL, BSI TR-02102 all draw the line there)."""
    kind, _, bits = key.partition("-")
    if not bits.isdigit():
        return False
    return (kind in ("RSA", "DSA") and int(bits) < 2048) or (kind == "EC" and int(bits) < 224)


def _cert_status(facts: CertFacts, opportunistic: bool) -> tuple[Status, str]:
    problems = []
    if weak_key(facts.key):
        problems.append(f"weak key {facts.key}")
    if facts.expired:
        problems.append(f"expired on {facts.not_after}")
    if not facts.trusted:
        problems.append(f"not trusted ({facts.trust_error})" if facts.trust_error else "not trusted")
    if not facts.hostname_match:
        problems.append("name does not match")
    if not problems:
        return Status.PASS, f"valid certificate ({facts.key}, until {facts.not_after})"
    # Opportunistic SMTP still encrypts with a bad certificate, and DANE-EE may authenticate it anyway:
    # only expiry and a breakable key are failures there. A direct TLS endpoint (HTTPS, chat) must be fully valid.
    status = Status.FAIL if facts.expired or weak_key(facts.key) or not opportunistic else Status.WARN
    return status, "; ".join(problems)


def _anchored(chain: list[x509.Certificate], host: str, roots: list[x509.Certificate],
              space: SpaceAnchors | None) -> tuple[CertFacts, dict[str, Any]]:
    """Trust against the public bundle and, for a server of a trust space, against the space's PKI too.

    `trusted` holds when either anchor validates the chain; `anchor` says which one did ("public" first, else
    the PKI id, else None). In a trust space `space_anchor` says whether the space's PKI validates it: the
    space's peers authenticate servers with that PKI, whatever the web PKI says.
    """
    facts = analyse_chain(chain, host, roots)
    anchor = "public" if facts.trusted else None
    extra: dict[str, Any] = {}
    if space is not None:
        in_space = analyse_chain(chain, host, list(space.roots))
        if in_space.trusted and not facts.trusted:
            facts, anchor = replace(facts, trusted=True, trust_error=None), space.pki
        extra = {"trust_space": space.space, "space_anchor": in_space.trusted}
    return facts, {"anchor": anchor, **extra}


def certificate_finding(subject: str, target: str, host: str, scans: list[TlsScan],
                        roots: list[x509.Certificate], *, opportunistic: bool,
                        space: SpaceAnchors | None = None) -> Finding:
    per_address: list[tuple[Status, str, CertFacts | None, TlsScan, dict[str, Any]]] = []
    for scan in scans:
        if MALFORMED_CHAIN in scan.command_errors:  # every client would refuse it
            per_address.append((Status.FAIL, scan.command_errors[MALFORMED_CHAIN], None, scan, {}))
            continue
        if scan.error is not None or not scan.chain:
            per_address.append((Status.ERROR, scan.error or "no certificate received", None, scan, {}))
            continue
        facts, anchoring = _anchored(scan.chain, host, roots, space)
        status, summary = _cert_status(facts, opportunistic)
        if space is not None and not anchoring["space_anchor"]:
            problem = f"not issued under {space.pki}, the PKI of the {space.space} trust space"
            status, summary = (Status.WARN, problem) if status == Status.PASS else (status, f"{summary}; {problem}")
        per_address.append((status, summary, facts, scan, anchoring))
    status = worst([p[0] for p in per_address])
    chosen = next(p for p in per_address if p[0] == status)
    shown = chosen if chosen[2] is not None else next((p for p in per_address if p[2] is not None), None)
    evidence = {"addresses": [{"ip": s.ip, "status": st.value, "summary": sm,
                               "subject": f.subject if f else None, "issuer": f.issuer if f else None,
                               "names": f.names if f else [], "not_before": f.not_before if f else None,
                               "trust_error": f.trust_error if f else None, **an,
                               "chain_pem": [c.public_bytes(Encoding.PEM).decode() for c in s.chain][:5]}
                              for st, sm, f, s, an in per_address]}
    value = {**shown[2].value(), **shown[4]} if shown and shown[2] else None
    return Finding(id="tls.certificate", subject=subject, target=target, status=status,
                   value=value, summary=f"{chosen[1]}"[:500], evidence=evidence)



def ciphers_finding(subject: str, target: str, scans: list[TlsScan]) -> Finding:
    ok = [s for s in scans if s.error is None and s.cipher_suites]
    if not ok:
        reasons = "; ".join(f"{s.ip}: {s.error or 'no cipher suite accepted'}" for s in scans)
        return Finding(id="tls.ciphers", subject=subject, target=target, status=Status.ERROR, value=None,
                       summary=f"cipher suites not measured: {reasons}"[:500])
    merged: dict[str, list[str]] = {}
    for scan in ok:  # worst-of across addresses: every suite any address accepts counts
        for version, names in scan.cipher_suites.items():
            merged.setdefault(version, [])
            merged[version] += [n for n in names if n not in merged[version]]
    result = classify_ciphers(merged)
    value = {"forward_secrecy": result["forward_secrecy"], "aead_only": result["aead_only"], "weak": result["weak"]}
    insufficient = sorted(n for n, tier in result["tiers"].items() if tier == "insufficient")
    if result["weak"]:
        status, summary = Status.FAIL, f"weak cipher suites accepted: {', '.join(result['weak'][:5])}"
    elif not result["forward_secrecy"]:
        status, summary = Status.FAIL, "cipher suites without forward secrecy accepted"
    elif not result["aead_only"] or insufficient:
        status, summary = Status.WARN, (f"{len(insufficient)} suite(s) below NCSC-NL 'sufficient'" if insufficient
                                        else "non-AEAD (CBC) suites still accepted")
    else:
        status, summary = Status.PASS, "forward secrecy and AEAD only"
    status, summary = _unless_untested(status, summary, _untested(ok, unknown_only=False), "cipher suites")
    unmeasured = [s for s in scans if s not in ok]
    if unmeasured:  # worst-of over every address: one that could not be scanned may accept anything
        status = worst([status, Status.ERROR])
        summary += "; not measured on " + ", ".join(f"{s.ip} ({s.error or 'no cipher suite accepted'})"
                                                    for s in unmeasured[:3])
    return Finding(id="tls.ciphers", subject=subject, target=target, status=status, value=value, summary=summary[:500],
                   evidence={"tiers": result["tiers"], "accepted": merged,
                             "ephemeral_keys": {k: v for s in ok for k, v in s.ephemeral.items()}})


def grade_evidence(scans: list[TlsScan], cert: Finding, starttls: bool) -> dict[str, object] | None:
    """The SSL Labs-style grade of an endpoint (worst address), kept in evidence: a summary for people,
    never a verdict of its own."""
    ok = [s for s in scans if s.error is None and s.protocols]
    if not ok or not isinstance(cert.value, dict):
        return None
    key = str(cert.value.get("key", ""))
    kind, _, bits = key.partition("-")
    grades = []
    for scan in ok:
        facts = TlsFacts(protocols=scan.protocols, cipher_suites=scan.cipher_suites, key_type=kind,
                         key_bits=int(bits) if bits.isdigit() else 0, trusted=cert.value.get("trusted"),
                         hostname_match=cert.value.get("hostname_match"), expired=cert.value.get("expired"),
                         starttls=starttls)
        grades.append(grade(facts))
    worst_grade = min(grades, key=lambda g: g.score)
    return {"letter": worst_grade.letter, "score": worst_grade.score, "caps": worst_grade.caps,
            "warnings": worst_grade.warnings, "categories": worst_grade.categories}
