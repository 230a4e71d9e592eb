"""Pure evaluation of a TLS endpoint summary: NCSC-NL 2025 tiers and an SSL Labs-style grade.

Inputs are facts a scanner (sslyze via `net.tls`) already measured; nothing here connects anywhere.
The only file read is the package's own tier data, `auditor/data/ncsc_tls.yaml`, once.

The grade follows the SSL Labs "SSL Server Rating Guide" as executed by testssl.sh's `run_rating`:
category scores protocol 30 % / key exchange 30 % / cipher strength
40 % with integer arithmetic, letter thresholds 80/65/50/35/20, then caps; A becomes A+ without
warnings and A- with them. We compute the scores ourselves because testssl caps every STARTTLS
target to T, which would make every mail server look equally bad.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, TypedDict

import yaml

Tier = Literal["good", "sufficient", "phase_out", "insufficient"]
Letter = Literal["A+", "A", "A-", "B", "C", "D", "E", "F", "T", "M"]
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
MAX_SUITES = 2000  # every IANA suite twice over; more is not a scan result

_PROTOCOL_ALIASES = {
    "sslv2": "SSLv2", "ssl2": "SSLv2", "ssl20": "SSLv2",
    "sslv3": "SSLv3", "ssl3": "SSLv3", "ssl30": "SSLv3",
    "tlsv1": "TLSv1.0", "tlsv10": "TLSv1.0", "tls10": "TLSv1.0", "tls1": "TLSv1.0",
    "tlsv11": "TLSv1.1", "tls11": "TLSv1.1",
    "tlsv12": "TLSv1.2", "tls12": "TLSv1.2",
    "tlsv13": "TLSv1.3", "tls13": "TLSv1.3",
}


def normalize_protocol(name: str) -> str | None:
    """'TLSv1.2', 'TLS 1.2', 'TLS_1_2', 'tls1_2' → 'TLSv1.2'; None when unknown."""
    if not isinstance(name, str):
        return None
    key = re.sub(r"[^a-z0-9]", "", name.lower()[:20])
    return _PROTOCOL_ALIASES.get(key)


# ---------------------------------------------------------------------------------------------
# Tier data


@dataclass(frozen=True)
class NcscTiers:
    protocols: dict[str, Tier]
    ciphers: dict[str, Tier]
    groups: dict[str, Tier]  # key-exchange groups, lower-case names (secp256r1, x25519, ffdhe3072, …)
    cert_rsa_good_bits: int
    cert_rsa_phase_out_bits: int
    cert_curves: dict[str, Tier]
    source: dict[str, Any]


@lru_cache(maxsize=1)
def ncsc_tiers() -> NcscTiers:
    """The NCSC-NL 2025 tier tables from `auditor/data/ncsc_tls.yaml` (package data, read once)."""
    text = resources.files("auditor").joinpath("data/ncsc_tls.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    protocols: dict[str, Tier] = {}
    ciphers: dict[str, Tier] = {}
    groups: dict[str, Tier] = {}
    curves: dict[str, Tier] = {}
    kex, cert = data["key_exchange"], data["certificate_keys"]
    tier: Tier
    for tier in ("good", "sufficient", "phase_out"):
        for name in data["protocols"].get(tier) or []:
            protocols[name] = tier
        for name in data["ciphers"].get(tier) or []:
            ciphers[name] = tier
        for name in (kex["ec_groups"].get(tier) or []) + (kex["ffdhe"].get(tier) or []):
            groups[name.lower()] = tier
        for name in cert["ec_curves"].get(tier) or []:
            curves[name.lower()] = tier
    return NcscTiers(
        protocols=protocols, ciphers=ciphers, groups=groups, cert_curves=curves,
        cert_rsa_good_bits=int(cert["rsa"]["good_min_bits"]),
        cert_rsa_phase_out_bits=int(cert["rsa"]["phase_out_min_bits"]),
        source=dict(data.get("source") or {}),
    )


_GROUP_ALIASES = {
    "prime256v1": "secp256r1", "p-256": "secp256r1", "p256": "secp256r1", "nistp256": "secp256r1",
    "p-384": "secp384r1", "p384": "secp384r1", "nistp384": "secp384r1",
    "p-521": "secp521r1", "p521": "secp521r1", "nistp521": "secp521r1",
    "p-224": "secp224r1", "p224": "secp224r1", "nistp224": "secp224r1",
}
# Hybrid post-quantum groups are rated as their classical half: a hybrid is at least as strong as
# that half, and the NCSC table (via Internet.nl) does not list them yet. Our reading, not NCSC's.
_HYBRIDS = {"x25519mlkem768": "x25519", "secp256r1mlkem768": "secp256r1", "secp384r1mlkem1024": "secp384r1",
            "x25519kyber768draft00": "x25519"}


def group_tier(name: str) -> Tier:
    """NCSC tier of a key-exchange group: the good EC groups and X25519/X448 good, secp224r1 and
    RFC 7919 ffdhe3072 and larger phase out; ffdhe2048, custom DH primes and anything else insufficient."""
    if not isinstance(name, str):
        return "insufficient"
    key = name.strip().lower()[:40]
    key = _GROUP_ALIASES.get(key, key)
    key = _HYBRIDS.get(key.replace("_", "").replace("-", ""), key)
    return ncsc_tiers().groups.get(key, "insufficient")


def certificate_key_tier(key_type: str, key_bits: int, curve: str | None = None) -> Tier:
    """NCSC tier of the certificate key: RSA >= 3072 good, >= 2048 phase out, less insufficient; EC by
    curve (good list, secp224r1 phase out); Ed25519/Ed448 good."""
    tiers = ncsc_tiers()
    kind = (key_type or "").strip().lower() if isinstance(key_type, str) else ""
    if kind in ("ed25519", "ed448"):
        return tiers.cert_curves.get(kind, "insufficient")
    if kind.startswith("rsa"):
        if not isinstance(key_bits, int):
            return "insufficient"
        if key_bits >= tiers.cert_rsa_good_bits:
            return "good"
        return "phase_out" if key_bits >= tiers.cert_rsa_phase_out_bits else "insufficient"
    if kind in ("ec", "ecdsa") and isinstance(curve, str):
        name = curve.strip().lower()
        return tiers.cert_curves.get(_GROUP_ALIASES.get(name, name), "insufficient")
    return "insufficient"


def protocol_tiers(protocols: Iterable[str]) -> dict[str, Tier]:
    """NCSC tier of each accepted protocol: TLS 1.3 good, TLS 1.2 sufficient, the rest insufficient."""
    table = ncsc_tiers().protocols
    out: dict[str, Tier] = {}
    for raw in list(protocols)[:20]:
        name = normalize_protocol(raw)
        if name:
            out[name] = table.get(name, "insufficient")
    return out


# ---------------------------------------------------------------------------------------------
# Cipher suites


@dataclass(frozen=True)
class CipherInfo:
    """What a suite name tells: key exchange, bulk cipher, strength. `iana` is the canonical name."""

    iana: str
    kx: str  # ECDHE, DHE, RSA, ECDH, DH, PSK, SRP, ANON, TLS13, …
    cipher: str  # e.g. AES_128_GCM, CHACHA20_POLY1305, 3DES_EDE_CBC, RC4_128, NULL
    mac: str  # SHA, SHA256, SHA384, MD5 or "" (CCM)
    bits: int  # effective symmetric strength (3DES: 112)
    aead: bool
    forward_secrecy: bool
    export: bool
    anonymous: bool
    block64: bool  # 64-bit block cipher (SWEET32): 3DES, DES, IDEA, RC2

    @property
    def rc4(self) -> bool:
        return self.cipher.startswith("RC4")

    @property
    def weak(self) -> bool:
        """Broken or nearly so, whatever the guideline: under 128 bits, NULL, anonymous, export,
        RC4, 64-bit blocks, MD5 MACs."""
        return (self.bits < 128 or self.anonymous or self.export or self.rc4 or self.block64
                or self.mac == "MD5")


_BITS = [
    (r"^NULL", 0), (r"^AES_?128", 128), (r"^AES_?256", 256), (r"^CHACHA20", 256), (r"^3DES", 112),
    (r"^DES40", 40), (r"^DES_CBC_40", 40), (r"^DES", 56), (r"^RC4_40", 40), (r"^RC4_56", 56), (r"^RC4", 128),
    (r"^RC2_CBC_40", 40), (r"^RC2_CBC_56", 56), (r"^RC2", 128), (r"^IDEA", 128), (r"^SEED", 128),
    (r"^CAMELLIA_128", 128), (r"^CAMELLIA_256", 256), (r"^ARIA_128", 128), (r"^ARIA_256", 256),
    (r"^SM4", 128), (r"^GOST", 256),
]


def _cipher_bits(cipher: str) -> int | None:
    for pattern, bits in _BITS:
        if re.match(pattern, cipher):
            return bits
    return None


def _info(iana: str, kx: str, cipher: str, mac: str) -> CipherInfo | None:
    bits = _cipher_bits(cipher)
    if bits is None:
        return None
    export = "EXPORT" in kx or "EXPORT" in cipher or cipher.startswith(("DES40", "RC4_40", "RC2_CBC_40"))
    anonymous = kx.endswith("ANON")
    if export:
        bits = min(bits, 40 if "40" in cipher else 56)  # EXPORT1024 suites use 56-bit keys
    aead = bool(re.search(r"_GCM|_CCM|POLY1305", cipher))
    fs = (kx == "TLS13" or kx.startswith(("ECDHE", "DHE"))) and not anonymous
    return CipherInfo(
        iana=iana.upper().replace("_ANON_", "_anon_"), kx=kx, cipher=cipher, mac=mac, bits=bits, aead=aead,
        forward_secrecy=fs, export=export,
        anonymous=anonymous, block64=cipher.startswith(("3DES", "DES", "IDEA", "RC2")),
    )


def _from_iana(name: str) -> CipherInfo | None:
    upper = name.upper()
    if upper.startswith("SSL_"):
        upper = "TLS_" + upper[4:]
    if not upper.startswith("TLS_"):
        return None
    body = upper[4:]
    if "_WITH_" not in body:  # TLS 1.3: TLS_AES_128_GCM_SHA256
        match = re.fullmatch(r"(.+?)_(SHA256|SHA384)", body)
        if not match:
            return None
        return _info(upper, "TLS13", match.group(1), match.group(2))
    kx, _, rest = body.partition("_WITH_")
    if rest.endswith(("_CCM", "_CCM_8")):
        cipher, mac = rest, ""
    else:
        cipher, _, mac = rest.rpartition("_")
        if mac not in ("SHA", "SHA256", "SHA384", "MD5", "NULL"):
            return None
    return _info(upper, kx, cipher, mac)


_OPENSSL_KX = [
    # (prefix tokens, IANA key exchange)
    (("ECDHE", "ECDSA"), "ECDHE_ECDSA"), (("ECDHE", "RSA"), "ECDHE_RSA"), (("ECDHE", "PSK"), "ECDHE_PSK"),
    (("ECDHE",), "ECDHE_RSA"), (("DHE", "RSA"), "DHE_RSA"), (("DHE", "DSS"), "DHE_DSS"),
    (("DHE", "PSK"), "DHE_PSK"), (("EDH", "RSA"), "DHE_RSA"), (("EDH", "DSS"), "DHE_DSS"),
    (("ECDH", "ECDSA"), "ECDH_ECDSA"), (("ECDH", "RSA"), "ECDH_RSA"), (("DH", "RSA"), "DH_RSA"),
    (("DH", "DSS"), "DH_DSS"), (("ADH",), "DH_ANON"), (("AECDH",), "ECDH_ANON"), (("RSA", "PSK"), "RSA_PSK"),
    (("PSK",), "PSK"), (("SRP", "RSA"), "SRP_SHA_RSA"), (("SRP", "DSS"), "SRP_SHA_DSS"), (("SRP",), "SRP_SHA"),
]
_OPENSSL_CIPHER = [
    # (tokens, IANA cipher, implied MAC or None)
    (("AES128", "GCM"), "AES_128_GCM", None), (("AES256", "GCM"), "AES_256_GCM", None),
    (("AES128", "CCM8"), "AES_128_CCM_8", ""), (("AES256", "CCM8"), "AES_256_CCM_8", ""),
    (("AES128", "CCM"), "AES_128_CCM", ""), (("AES256", "CCM"), "AES_256_CCM", ""),
    (("AES128",), "AES_128_CBC", None), (("AES256",), "AES_256_CBC", None),
    (("CHACHA20", "POLY1305"), "CHACHA20_POLY1305", "SHA256"),
    (("DES", "CBC3"), "3DES_EDE_CBC", None), (("DES", "CBC"), "DES_CBC", None),
    (("RC4",), "RC4_128", None), (("RC2", "CBC"), "RC2_CBC_40", None), (("IDEA", "CBC"), "IDEA_CBC", None),
    (("SEED",), "SEED_CBC", None), (("NULL",), "NULL", None),
    (("CAMELLIA128",), "CAMELLIA_128_CBC", None), (("CAMELLIA256",), "CAMELLIA_256_CBC", None),
    (("ARIA128", "GCM"), "ARIA_128_GCM", None), (("ARIA256", "GCM"), "ARIA_256_GCM", None),
]


def _from_openssl(name: str) -> CipherInfo | None:
    tokens = name.upper().split("-")
    export = ""
    if tokens and tokens[0] in ("EXP", "EXP1024"):
        export = "_EXPORT1024" if tokens[0] == "EXP1024" else "_EXPORT"
        tokens = tokens[1:]
    kx = "RSA"
    for prefix, iana_kx in _OPENSSL_KX:
        if tuple(tokens[: len(prefix)]) == prefix:
            kx, tokens = iana_kx, tokens[len(prefix):]
            break
    found = next((c for c in _OPENSSL_CIPHER if tuple(tokens[: len(c[0])]) == c[0]), None)
    if found is None:
        return None
    prefix, cipher, implied_mac = found
    tokens = tokens[len(prefix):]
    if implied_mac is not None and not tokens:
        mac = implied_mac
    elif len(tokens) == 1 and tokens[0] in ("SHA", "SHA256", "SHA384", "MD5"):
        mac = tokens[0]
    else:
        return None
    if export == "_EXPORT":
        cipher = {"RC4_128": "RC4_40", "DES_CBC": "DES40_CBC"}.get(cipher, cipher)
    elif export:
        cipher = {"RC4_128": "RC4_56"}.get(cipher, cipher)
    kx += export
    iana = f"TLS_{kx}_WITH_{cipher}" + (f"_{mac}" if mac else "")
    return _info(iana, kx, cipher, mac)


@lru_cache(maxsize=4096)
def cipher_info(name: str) -> CipherInfo | None:
    """Parse an IANA (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`) or OpenSSL (`ECDHE-RSA-AES128-GCM-SHA256`)
    suite name; None when unrecognised."""
    if not isinstance(name, str) or not name or len(name) > 100 or not name.isascii():
        return None
    name = name.strip()
    if "_" in name and "-" not in name:
        return _from_iana(name)
    return _from_openssl(name)


class CipherClassification(TypedDict):
    forward_secrecy: bool  # every offered suite has forward secrecy (and at least one is offered)
    aead_only: bool  # every offered suite is AEAD (and at least one is offered)
    weak: list[str]  # offered suites that are broken or nearly so (see CipherInfo.weak)
    tiers: dict[str, Tier]  # NCSC-NL 2025 tier of every offered suite, by the name given


def _suites(cipher_suites: Mapping[str, Sequence[str]]) -> list[tuple[str | None, str]]:
    """(normalized protocol, suite name) pairs, capped."""
    out: list[tuple[str | None, str]] = []
    if not isinstance(cipher_suites, Mapping):
        return out
    for protocol, names in list(cipher_suites.items())[:20]:
        if isinstance(names, str | bytes) or not isinstance(names, Sequence | set | frozenset):
            continue
        for name in list(names)[:MAX_SUITES]:
            if isinstance(name, str) and len(out) < MAX_SUITES:
                out.append((normalize_protocol(protocol), name))
    return out


def classify_ciphers(cipher_suites: Mapping[str, Sequence[str]]) -> CipherClassification:
    """Forward secrecy, AEAD, weak suites and NCSC tiers of the suites accepted per protocol."""
    table = ncsc_tiers().ciphers
    tiers: dict[str, Tier] = {}
    weak: list[str] = []
    infos: list[CipherInfo | None] = []
    for _protocol, name in _suites(cipher_suites):
        if name in tiers:
            continue
        info = cipher_info(name)
        infos.append(info)
        tiers[name] = table.get(info.iana, "insufficient") if info else "insufficient"
        if info is not None and info.weak:
            weak.append(name)
    known = [i for i in infos if i is not None]
    complete = bool(infos) and len(known) == len(infos)
    return {
        "forward_secrecy": complete and all(i.forward_secrecy for i in known),
        "aead_only": complete and all(i.aead for i in known),
        "weak": sorted(weak),
        "tiers": tiers,
    }


# ---------------------------------------------------------------------------------------------
# Grade


@dataclass(frozen=True)
class TlsFacts:
    """What was measured on one TLS endpoint. None means "not measured", never "fine"."""

    protocols: list[str]
    cipher_suites: dict[str, list[str]]
    key_type: str  # RSA, DSA, EC/ECDSA, Ed25519, Ed448
    key_bits: int
    trusted: bool | None
    hostname_match: bool | None
    expired: bool | None
    starttls: bool
    dh_bits: int | None = None  # smallest finite-field DHE group accepted
    ecdh_bits: int | None = None  # smallest ECDHE curve accepted (X25519: 253)
    signature_algorithm: str | None = None  # leaf signature, e.g. sha256WithRSAEncryption
    self_signed: bool | None = None
    revoked: bool | None = None
    chain_complete: bool | None = None
    secure_renegotiation: bool | None = None
    hsts: bool | None = None  # HTTPS only; None for SMTP
    vulnerabilities: list[str] = field(default_factory=list)  # heartbleed, robot, ccs_injection, …


@dataclass(frozen=True)
class Grade:
    """`letter` after caps; `score` 0–100 (0 when capped to F, T or M, as testssl does); `caps` one
    sentence per cap that applied or was checked against; `warnings` turn A into A-."""

    letter: Letter
    score: int
    caps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)  # protocol, key_exchange, cipher_strength (0–100)


_BEST = {"TLSv1.3": 100, "TLSv1.2": 100, "TLSv1.1": 95, "TLSv1.0": 90, "SSLv3": 80, "SSLv2": 0}
_ORDER = ["A", "B", "C", "D", "E", "F"]
_F_VULNS = {"heartbleed": "Heartbleed", "ccs_injection": "CCS injection", "ticketbleed": "Ticketbleed",
            "robot": "ROBOT", "drown": "DROWN"}
_C_VULNS = {"crime": "CRIME (TLS compression)", "poodle": "POODLE"}


def _key_score(kind: str, bits: int) -> int:
    """testssl set_key_str_score: RSA/DSA/DH and EC/EdDSA scales."""
    if kind == "ec":
        steps = [(110, 20), (123, 40), (163, 80), (225, 90)]
    else:
        steps = [(512, 20), (1024, 40), (2048, 80), (4096, 90)]
    for limit, score in steps:
        if bits < limit:
            return score
    return 100


def _letter(score: int) -> str:
    for floor, letter in ((80, "A"), (65, "B"), (50, "C"), (35, "D"), (20, "E")):
        if score >= floor:
            return letter
    return "F"


def grade(facts: TlsFacts) -> Grade:
    """SSL Labs rating as testssl.sh implements it (see module docstring), for one endpoint."""
    caps: list[tuple[str, str]] = []  # (cap letter, reason)
    warnings: list[str] = []
    protocols = sorted({p for p in (normalize_protocol(x) for x in (facts.protocols or [])[:20]) if p},
                       key=PROTOCOLS.index)
    suites = _suites(facts.cipher_suites)
    infos = [(proto, name, cipher_info(name)) for proto, name in suites]
    known = [(proto, info) for proto, _name, info in infos if info is not None]
    unknown = sorted({name for _p, name, info in infos if info is None})

    # Certificate (SSL Labs 2009q+: T for trust problems, M for a name mismatch).
    if facts.trusted is False:
        caps.append(("T", "the certificate chain is not trusted"))
    if facts.expired is True:
        caps.append(("T", "the certificate has expired"))
    if facts.self_signed is True:
        caps.append(("T", "the certificate is self-signed"))
    if facts.revoked is True:
        caps.append(("T", "the certificate is revoked"))
    signature = (facts.signature_algorithm or "").lower()
    if "md5" in signature or "md2" in signature:
        caps.append(("F", f"the certificate is signed with {facts.signature_algorithm}"))
    elif "sha1" in signature.replace("-", ""):
        caps.append(("T", f"the certificate is signed with SHA-1 ({facts.signature_algorithm})"))
    if facts.hostname_match is False:
        caps.append(("M", "the certificate does not match the host name"))
    # testssl also caps every STARTTLS target to T ("prone to MITM downgrade"). Not applied here:
    # downgrade resistance of SMTP is what MTA-STS and DANE are for, and those are separate checks;
    # a blanket T would make every mail server's grade identical and meaningless.

    # Category 1: protocol support.
    if not protocols:
        return Grade(letter="F", score=0, caps=["no TLS or SSL protocol version was accepted: nothing to grade"])
    best, worst = protocols[-1], protocols[0]
    c1 = (_BEST[best] + _BEST[worst]) // 2
    if "SSLv2" in protocols:
        caps.append(("F", "SSLv2 is offered"))
    if best == "SSLv3":
        caps.append(("F", "SSLv3 is the best protocol offered"))
    elif "SSLv3" in protocols:
        caps.append(("B", "SSLv3 is offered"))
    if "TLSv1.2" not in protocols and "TLSv1.3" not in protocols:
        caps.append(("C", "neither TLS 1.2 nor TLS 1.3 is offered"))
    if "TLSv1.0" in protocols:
        caps.append(("B", "TLS 1.0 is offered"))
    if "TLSv1.1" in protocols:
        caps.append(("B", "TLS 1.1 is offered"))
    if "TLSv1.3" not in protocols:
        warnings.append("TLS 1.3 is not supported")

    # Category 2: key exchange (lowest of the leaf key and the ephemeral parameters).
    key_kind = "ec" if (facts.key_type or "").upper().replace("ECDSA", "EC").startswith(("EC", "ED")) else "ff"
    scores: list[int] = []
    if isinstance(facts.key_bits, int) and facts.key_bits > 0:
        scores.append(_key_score(key_kind, facts.key_bits))
    else:
        warnings.append("the certificate key size is unknown")
    if isinstance(facts.dh_bits, int) and facts.dh_bits > 0:
        scores.append(_key_score("ff", facts.dh_bits))
    if isinstance(facts.ecdh_bits, int) and facts.ecdh_bits > 0:
        scores.append(_key_score("ec", facts.ecdh_bits))
    if any(info.anonymous for _p, info in known):
        scores.append(0)  # SSL Labs guide: anonymous key exchange scores 0
        caps.append(("F", "anonymous (unauthenticated) key exchange is offered"))
    c2 = min(scores) if scores else 100
    if c2 <= 40:
        caps.append(("F", f"insecure public key and/or ephemeral key (key exchange score {c2})"))
    elif c2 <= 80:
        caps.append(("B", f"weak public key and/or ephemeral key (key exchange score {c2})"))

    # Category 3: cipher strength (strongest and weakest suite).
    if not known:
        reason = "no recognised cipher suite" + (f" (unrecognised: {', '.join(unknown[:5])})" if unknown else "")
        return Grade(letter="F", score=0, caps=[reason], warnings=warnings,
                     categories={"protocol": c1, "key_exchange": c2, "cipher_strength": 0})
    bits = [info.bits for _p, info in known]
    strongest, weakest = max(bits), min(bits)
    c3_best = 100 if strongest >= 256 else 80 if strongest >= 128 else 20
    c3_worst = 0 if weakest == 0 else 20 if weakest < 128 else 80 if weakest < 256 else 100
    c3 = (c3_best + c3_worst) // 2
    if unknown:
        warnings.append(f"cipher suites not recognised, left out of the grade: {', '.join(unknown[:5])}")
    if weakest < 112:
        caps.append(("F", f"a cipher of {weakest} bits is offered (under 112)"))
    if any(info.export for _p, info in known):
        caps.append(("F", "export cipher suites are offered"))
    modern = ("TLSv1.1", "TLSv1.2", "TLSv1.3")
    if any(info.rc4 for _p, info in known):
        caps.append(("B", "RC4 is offered"))
        if any(info.rc4 and p in modern for p, info in known):
            caps.append(("C", "RC4 is offered with TLS 1.1 or later"))
    if any(info.block64 and p in modern for p, info in known):
        caps.append(("C", "a 64-bit block cipher (3DES/SWEET32) is offered with TLS 1.1 or later"))
    if "SSLv3" in protocols and any(p == "SSLv3" and "CBC" in info.cipher for p, info in known):
        caps.append(("C", "POODLE: CBC suites with SSLv3"))
    if not any(info.forward_secrecy for _p, info in known):
        caps.append(("B", "no cipher suite with forward secrecy is offered"))
    if not any(info.aead for _p, info in known):
        caps.append(("B", "no AEAD cipher suite is offered"))
    if facts.chain_complete is False:
        caps.append(("B", "the certificate chain is incomplete"))
    for vuln in facts.vulnerabilities or []:
        key = str(vuln).lower()
        if key in _F_VULNS:
            caps.append(("F", f"vulnerable to {_F_VULNS[key]}"))
        elif key in _C_VULNS:
            caps.append(("C", f"vulnerable to {_C_VULNS[key]}"))
    if facts.secure_renegotiation is False:
        warnings.append("secure renegotiation is not supported")
    if facts.hsts is False:
        warnings.append("HSTS is not set")

    categories = {"protocol": c1, "key_exchange": c2, "cipher_strength": c3}
    score = c1 * 30 // 100 + c2 * 30 // 100 + c3 * 40 // 100
    if 0 in (c1, c2, c3):
        score = 0
    reasons = [f"{cap}: {reason}" for cap, reason in caps]
    special = [cap for cap, _ in caps if cap in ("T", "M")]
    if special:
        # T and M are hard caps; trust problems (T) outrank a name mismatch (M).
        return Grade(letter="T" if "T" in special else "M", score=0, caps=reasons, warnings=warnings,
                     categories=categories)
    letter = _letter(score)
    cap_letters = [cap for cap, _ in caps]
    if cap_letters:
        worst_cap = max(cap_letters, key=_ORDER.index)
        if _ORDER.index(worst_cap) > _ORDER.index(letter):
            letter = worst_cap
        if letter == "F":
            score = 0
    final = ("A-" if warnings else "A+") if letter == "A" else letter
    return Grade(letter=final, score=score, caps=reasons,  # type: ignore[arg-type]
                 warnings=warnings, categories=categories)
