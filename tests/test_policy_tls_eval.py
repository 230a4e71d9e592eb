"""TLS grading vectors T1–T10 (SSL Labs guide as implemented by testssl.sh) and NCSC-NL tiers T17–T19
of research/standards.md. T11 (testssl's blanket T for STARTTLS) is deliberately not followed."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.policy.tls_eval import (
    TlsFacts,
    certificate_key_tier,
    cipher_info,
    classify_ciphers,
    grade,
    group_tier,
    ncsc_tiers,
    normalize_protocol,
    protocol_tiers,
)

MODERN12 = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"]
MODERN13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]


def facts(**changes) -> TlsFacts:
    """T1's server: TLS 1.2 + 1.3, RSA-2048, X25519, AES-GCM and ChaCha20, valid certificate."""
    base = TlsFacts(
        protocols=["TLSv1.2", "TLSv1.3"], cipher_suites={"TLSv1.2": MODERN12, "TLSv1.3": MODERN13},
        key_type="RSA", key_bits=2048, trusted=True, hostname_match=True, expired=False, starttls=True,
        ecdh_bits=253,
    )
    return dataclasses.replace(base, **changes)


def test_T1_modern_server_scores_93():
    g = grade(facts())
    assert g.score == 93 and g.categories == {"protocol": 100, "key_exchange": 90, "cipher_strength": 90}
    assert g.letter == "A+" and g.caps == [] and g.warnings == []


def test_T1_https_without_hsts_is_a_minus():
    assert grade(facts(starttls=False, hsts=False)).letter == "A-"


def test_T2_no_tls13_is_a_minus():
    g = grade(facts(protocols=["TLSv1.2"], cipher_suites={"TLSv1.2": MODERN12}))
    assert g.letter == "A-" and "TLS 1.3 is not supported" in g.warnings


@pytest.mark.parametrize("old", ["TLSv1.0", "TLSv1.1"])
def test_T3_tls10_or_11_caps_at_b(old):
    g = grade(facts(protocols=[old, "TLSv1.2", "TLSv1.3"],
                    cipher_suites={old: ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], "TLSv1.2": MODERN12}))
    assert g.letter == "B" and any(c.startswith("B:") and old[4:] in c for c in g.caps)


def test_T3_worked_example_tls10_to_12():
    g = grade(facts(protocols=["TLSv1", "TLSv1.1", "TLSv1.2"], cipher_suites={"TLSv1.2": MODERN12}))
    assert g.categories["protocol"] == 95 and g.score == 28 + 27 + 36 and g.letter == "B"


def test_T4_no_tls12_caps_at_c():
    g = grade(facts(protocols=["TLSv1.0", "TLSv1.1"],
                    cipher_suites={"TLSv1.1": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]}))
    assert g.letter == "C" and any("neither TLS 1.2 nor TLS 1.3" in c for c in g.caps)


def test_T4_tls13_only_is_not_capped():
    assert grade(facts(protocols=["TLSv1.3"], cipher_suites={"TLSv1.3": MODERN13})).letter == "A+"


def test_T5_sslv2_is_f():
    g = grade(facts(protocols=["SSLv2", "TLSv1.2"]))
    assert g.letter == "F" and g.score == 0


def test_T5_sslv3_best_is_f():
    g = grade(facts(protocols=["SSLv3"], cipher_suites={"SSLv3": ["RC4-SHA"]}))
    assert g.letter == "F" and any("best protocol" in c for c in g.caps)


def test_T5_sslv3_alongside_tls12_is_b():
    g = grade(facts(protocols=["SSLv3", "TLSv1.2", "TLSv1.3"]))
    assert g.letter == "B" and any("SSLv3 is offered" in c for c in g.caps)


def test_T5_poodle_sslv3_cbc_is_c():
    g = grade(facts(protocols=["SSLv3", "TLSv1.2", "TLSv1.3"],
                    cipher_suites={"SSLv3": ["AES128-SHA"], "TLSv1.2": MODERN12}))
    assert g.letter == "C"


def test_T6_no_forward_secrecy_is_b():
    g = grade(facts(protocols=["TLSv1.2"], cipher_suites={"TLSv1.2": ["TLS_RSA_WITH_AES_128_GCM_SHA256"]}))
    assert g.letter == "B" and any("forward secrecy" in c for c in g.caps)


def test_T7_rc4_is_b_and_rc4_with_tls11_is_c():
    g = grade(facts(protocols=["TLSv1.0", "TLSv1.2", "TLSv1.3"],
                    cipher_suites={"TLSv1.0": ["RC4-SHA"], "TLSv1.2": MODERN12, "TLSv1.3": MODERN13}))
    assert g.letter == "B" and any("RC4 is offered" in c for c in g.caps)
    g = grade(facts(protocols=["TLSv1.1", "TLSv1.2", "TLSv1.3"],
                    cipher_suites={"TLSv1.1": ["TLS_RSA_WITH_RC4_128_SHA"], "TLSv1.2": MODERN12}))
    assert g.letter == "C"


def test_T8_3des_with_tls11_is_c():
    g = grade(facts(protocols=["TLSv1.1", "TLSv1.2"],
                    cipher_suites={"TLSv1.1": ["DES-CBC3-SHA"], "TLSv1.2": MODERN12}))
    assert g.letter == "C" and any("64-bit block" in c for c in g.caps)
    assert g.categories["cipher_strength"] == (100 + 20) // 2  # ChaCha20 256 bits, 3DES 112 bits


@pytest.mark.parametrize(("change", "letter", "c2"), [
    ({"key_bits": 1024}, "B", 80), ({"dh_bits": 1024}, "B", 80), ({"key_bits": 512}, "F", 40),
    ({"key_type": "EC", "key_bits": 256}, "A+", 100), ({"key_bits": 4096}, "A+", 100),
    ({"key_type": "ECDSA", "key_bits": 160}, "B", 80), ({"ecdh_bits": 224}, "A+", 90),
])
def test_T9_key_exchange(change, letter, c2):
    g = grade(facts(**change))
    assert g.letter == letter and g.categories["key_exchange"] == c2, g.caps


def test_T9_rsa4096_p384_256bit_only_scores_100():
    g = grade(facts(key_bits=4096, ecdh_bits=384, protocols=["TLSv1.3"],
                    cipher_suites={"TLSv1.3": ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]}))
    assert g.score == 100 and g.letter == "A+"


@pytest.mark.parametrize("suite", ["EXP-RC4-MD5", "TLS_RSA_WITH_DES_CBC_SHA", "TLS_RSA_WITH_NULL_SHA256",
                                   "ADH-AES256-GCM-SHA384"])
def test_T9_weak_ciphers_are_f(suite):
    g = grade(facts(cipher_suites={"TLSv1.2": [*MODERN12, suite], "TLSv1.3": MODERN13}))
    assert g.letter == "F" and g.score == 0


@pytest.mark.parametrize(("change", "letter"), [
    ({"trusted": False}, "T"), ({"expired": True}, "T"), ({"self_signed": True}, "T"),
    ({"revoked": True}, "T"), ({"signature_algorithm": "sha1WithRSAEncryption"}, "T"),
    ({"hostname_match": False}, "M"), ({"hostname_match": False, "trusted": False}, "T"),
    ({"signature_algorithm": "md5WithRSAEncryption"}, "F"),
])
def test_T10_certificate_caps(change, letter):
    g = grade(facts(**change))
    assert g.letter == letter
    if letter in ("T", "M", "F"):
        assert g.score == 0 and g.categories["protocol"] == 100  # the categories stay for the report


def test_T11_starttls_is_not_capped_to_t():
    assert grade(facts(starttls=True)).letter == grade(facts(starttls=False)).letter == "A+"


def test_unknown_certificate_facts_are_not_read_as_bad_or_good():
    g = grade(facts(trusted=None, hostname_match=None, expired=None))
    assert g.letter == "A+"  # the grade says only what was measured; the certificate check reports None


def test_other_caps_and_warnings():
    assert grade(facts(chain_complete=False)).letter == "B"
    assert grade(facts(vulnerabilities=["heartbleed"])).letter == "F"
    assert grade(facts(vulnerabilities=["CRIME"])).letter == "C"
    assert grade(facts(secure_renegotiation=False)).letter == "A-"
    no_aead = grade(facts(protocols=["TLSv1.2"],
                          cipher_suites={"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"]}))
    assert no_aead.letter == "B" and any("AEAD" in c for c in no_aead.caps)


def test_degenerate_facts_never_raise():
    assert grade(facts(protocols=[])).letter == "F"
    assert grade(facts(cipher_suites={})).letter == "F"
    assert grade(facts(cipher_suites={"TLSv1.2": ["MYSTERY"]})).letter == "F"
    g = grade(facts(cipher_suites={"TLSv1.2": [*MODERN12, "MYSTERY"], "TLSv1.3": MODERN13}))
    assert g.letter == "A-" and any("MYSTERY" in w for w in g.warnings)
    assert grade(facts(key_bits=0)).warnings
    assert grade(facts(protocols=["QUIC", "TLSv1.3"], cipher_suites={"TLSv1.3": MODERN13})).letter == "A+"
    assert grade(facts(cipher_suites={"TLSv1.2": "not a list"}, protocols=["TLSv1.2"])).letter == "F"


# --- NCSC-NL tiers ------------------------------------------------------------------------------

def test_T17_protocol_tiers():
    assert protocol_tiers(["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3"]) == {
        "TLSv1.3": "good", "TLSv1.2": "sufficient", "TLSv1.1": "insufficient", "TLSv1.0": "insufficient",
        "SSLv3": "insufficient"}


def test_T19_cipher_tiers():
    c = classify_ciphers({"TLSv1.2": ["TLS_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-SHA256",
                                      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                          "TLSv1.3": ["TLS_AES_256_GCM_SHA384"]})
    assert c["tiers"] == {"TLS_RSA_WITH_AES_128_GCM_SHA256": "insufficient", "ECDHE-RSA-AES128-SHA256": "phase_out",
                          "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "sufficient", "TLS_AES_256_GCM_SHA384": "good"}
    assert c["forward_secrecy"] is False  # static RSA is offered
    assert c["aead_only"] is False and c["weak"] == []


def test_T19_other_insufficient_suites():
    tiers = classify_ciphers({"TLSv1.2": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
                                          "DES-CBC3-SHA"]})["tiers"]
    assert set(tiers.values()) == {"insufficient"}


def test_classify_modern_and_weak():
    c = classify_ciphers({"TLSv1.2": MODERN12, "TLSv1.3": MODERN13})
    assert c["forward_secrecy"] and c["aead_only"] and c["weak"] == []
    c = classify_ciphers({"TLSv1.0": ["RC4-MD5", "DES-CBC3-SHA", "EXP-RC4-MD5", "AECDH-AES128-SHA", "NULL-MD5"]})
    assert len(c["weak"]) == 5 and not c["forward_secrecy"]
    assert classify_ciphers({}) == {"forward_secrecy": False, "aead_only": False, "weak": [], "tiers": {}}
    unknown = classify_ciphers({"TLSv1.3": ["TLS_AES_128_GCM_SHA256", "MYSTERY"]})
    assert unknown["forward_secrecy"] is False and unknown["tiers"]["MYSTERY"] == "insufficient"


def test_cipher_names_iana_and_openssl_agree():
    pairs = [("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
             ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
             ("DHE-RSA-AES128-CCM", "TLS_DHE_RSA_WITH_AES_128_CCM"),
             ("ECDHE-ARIA128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"),
             ("EDH-RSA-DES-CBC3-SHA", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
             ("ADH-AES128-SHA", "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
             ("EXP-RC4-MD5", "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
             ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256")]
    for openssl, iana in pairs:
        info = cipher_info(openssl)
        assert info is not None and info.iana == iana
        assert cipher_info(iana) == info
    for junk in ["", "x" * 500, "TLS_FOO_WITH_BAR_SHA", "TLS_", "é", None]:
        assert cipher_info(junk) is None


def test_tier_data_has_its_source():
    tiers = ncsc_tiers()
    assert tiers.source["edition"] == "2025-05" and "Internet.nl" in tiers.source["implementation"]
    assert tiers.ciphers["TLS_CHACHA20_POLY1305_SHA256"] == "good"
    assert "TLSv1.1" not in tiers.protocols


@pytest.mark.parametrize(("raw", "name"), [("TLSv1", "TLSv1.0"), ("TLS 1.2", "TLSv1.2"), ("TLS_1_3", "TLSv1.3"),
                                           ("SSL_3_0", "SSLv3"), ("sslv2", "SSLv2"), ("HTTP/2", None)])
def test_protocol_names(raw, name):
    assert normalize_protocol(raw) == name


@pytest.mark.parametrize(("group", "tier"), [
    ("ffdhe2048", "insufficient"), ("dh-custom-2048", "insufficient"), ("ffdhe3072", "phase_out"),
    ("ffdhe8192", "phase_out"), ("secp224r1", "phase_out"), ("P-224", "phase_out"), ("X25519", "good"),
    ("prime256v1", "good"), ("secp384r1", "good"), ("brainpoolP512r1", "good"), ("X448", "good"),
    ("secp192r1", "insufficient"), ("X25519MLKEM768", "good"), ("", "insufficient"),
])
def test_T18_key_exchange_group_tiers(group, tier):
    assert group_tier(group) == tier


@pytest.mark.parametrize(("key", "bits", "curve", "tier"), [
    ("RSA", 4096, None, "good"), ("RSA", 3072, None, "good"), ("RSA", 2048, None, "phase_out"),
    ("RSA", 1024, None, "insufficient"), ("EC", 256, "prime256v1", "good"), ("ECDSA", 224, "secp224r1", "phase_out"),
    ("EC", 192, "secp192r1", "insufficient"), ("Ed25519", 256, None, "good"), ("DSA", 2048, None, "insufficient"),
])
def test_T18_certificate_key_tiers(key, bits, curve, tier):
    assert certificate_key_tier(key, bits, curve) == tier
