"""Hostile input: every parser takes random bytes and grammar-shaped garbage without raising.

Seeded, so a failure reproduces. Pieces are drawn from each grammar so the random strings reach the
deep branches, not only the "does not begin with v=" exit."""

from __future__ import annotations

import asyncio
import random

import pytest

from auditor.policy.dmarc import organizational_domain, parse_dmarc, select_dmarc
from auditor.policy.mta_sts import mx_covered, mx_matches, parse_policy, parse_sts_records
from auditor.policy.spf import parse_spf, select_spf, spf_tree
from auditor.policy.tls_eval import TlsFacts, cipher_info, classify_ciphers, grade
from auditor.policy.tlsrpt import parse_tlsrpt_records

PIECES = [
    "v=STSv1", "v=TLSRPTv1", "v=spf1", "v=DMARC1", ";", " ", "\t", "=", ":", ",", "!", "%", "%{", "}", "/",
    "//", "*.", ".", "..", "id=", "rua=", "mailto:", "https://", "@", "include:", "a", "mx", "ptr", "ip4:",
    "ip6:", "exists:", "redirect=", "exp=", "all", "-", "+", "~", "?", "p=", "sp=", "pct=", "reject", "none",
    "version: STSv1", "mode: enforce", "max_age: ", "mx: ", "\n", "\r\n", "\r", "\x00", "\x7f", "é", "\ufeff",
    "example.com", "192.0.2.1", "::1", "0", "99999999999", "-1", "[", "]", "\"", "'", "<html>", "\\",
]


def _garbage(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))


def _raw(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))


@pytest.mark.parametrize("seed", range(4))
def test_text_parsers_never_raise(seed):
    rng = random.Random(seed)
    for _ in range(500):
        text, raw = _garbage(rng), _raw(rng)
        parse_sts_records([text, raw])
        parse_sts_records([_VERSION + text for _VERSION in ("v=STSv1;", "v=STSv1 ")])
        parse_tlsrpt_records(["v=TLSRPTv1;" + text])
        parse_policy(text.encode("utf-8", "surrogatepass"), rng.choice(["text/plain", None, text]))
        parse_policy(raw, "text/plain")
        parse_spf("v=spf1 " + text)
        parse_spf(raw)
        select_spf([text, raw])
        parse_dmarc("v=DMARC1;" + text)
        parse_dmarc(raw)
        select_dmarc([text, raw])
        organizational_domain(text)
        mx_matches(text, text[::-1])
        mx_covered([text], [text])
        cipher_info(text)


def test_spf_tree_on_garbage_never_raises():
    rng = random.Random(7)
    names = [f"d{k}.example" for k in range(20)]
    txt = {n: ["v=spf1 " + " ".join(rng.choice(["include:", "redirect=", "a:", "mx:", "exists:"]) +
                                     rng.choice(names) for _ in range(rng.randint(0, 6))) + _garbage(rng)]
           for n in names}

    async def txt_lookup(name):
        return txt.get(name)

    async def mx_lookup(name):
        return [rng.choice(names) for _ in range(rng.randint(0, 12))] or None

    async def addr_lookup(name):
        return None if rng.random() < 0.3 else ["192.0.2.1"]

    for name in names:
        tree = asyncio.run(spf_tree(name, txt_lookup, mx_lookup, addr_lookup))
        assert tree.queries <= 60
        tree.value()
        tree.evidence()


def test_grade_on_garbage_never_raises():
    rng = random.Random(3)
    suites = ["TLS_AES_128_GCM_SHA256", "RC4-MD5", "junk", "EXP-DES-CBC-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"]
    for _ in range(300):
        facts = TlsFacts(
            protocols=[rng.choice(["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "x"])
                       for _ in range(rng.randint(0, 4))],
            cipher_suites={rng.choice(["TLSv1.2", "TLSv1.3", "bogus"]): rng.sample(suites, rng.randint(0, 5))},
            key_type=rng.choice(["RSA", "EC", "Ed25519", "", "DSA"]), key_bits=rng.choice([0, 512, 2048, 256, -1]),
            trusted=rng.choice([True, False, None]), hostname_match=rng.choice([True, False, None]),
            expired=rng.choice([True, False, None]), starttls=rng.choice([True, False]),
            dh_bits=rng.choice([None, 1024, 0]), vulnerabilities=rng.sample(["robot", "crime", "nope"], 1),
        )
        g = grade(facts)
        assert 0 <= g.score <= 100
        classify_ciphers(facts.cipher_suites)
