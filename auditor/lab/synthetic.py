"""Synthetic mode: N lab mail domains sharing a few realistic hosting MX clusters, for benchmarks at scale.

    catalog, overlay = write_synthetic(Path("/tmp/syn"), 1000)
    with Lab(catalogs=[catalog], overlay=overlay) as lab: ...

Real mail is concentrated: a handful of hosting clusters receive most domains' mail. Domain k is assigned
cluster c with probability proportional to 1/(c+1) (Zipf-like), so cluster 0 serves the most domains, as a
large hosting provider would. Each cluster has two MX hosts (`mx1`, `mx2`) in its own zone, a country, a
network, a TLS profile, and an SPF include; each domain draws its own SPF ending, DMARC policy, MTA-STS
(with its own `mta-sts.` web host), TLS-RPT and DNSSEC. Draws come from a seeded RNG: the same N and
seed give the same world, so benchmark runs compare.

Domains are `syn-NNNNN.example`, clusters `mailhost-CC.example` (RFC 2606 names, loopback addresses).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.lab.world import OVERLAY, read_overlay

DEFAULT_CLUSTERS = 20
# The TLD holding every synthetic domain is signed as .com and .fr are: NSEC3 with opt-out, so its denial chain
# spans only the signed delegations. With a plain NSEC chain over 10,000 delegations, signing this one zone
# took a quarter of the lab's start-up; what a scan measures of a domain (secure or insecure) is the same.
TLD_ZONE: dict[str, Any] = {"name": "example", "dnssec": True, "nsec3": True, "opt_out": True}
DEFAULT_SEED = 8
COUNTRIES = ("DE", "FR", "NL", "IE", "US", "DE", "FI", "SE", "CH", "GB")  # DE twice: it hosts a lot of mail
TLS_PROFILES: tuple[dict[str, Any], ...] = (
    {"min_version": "TLSv1.2", "max_version": "TLSv1.3"},
    {"min_version": "TLSv1.2", "max_version": "TLSv1.3"},
    {"min_version": "TLSv1.2", "max_version": "TLSv1.2", "key_type": "RSA-2048"},
    {"min_version": "TLSv1", "max_version": "TLSv1.3", "key_type": "RSA-2048"},  # legacy versions still on
)


@dataclass(frozen=True)
class Cluster:
    index: int
    zone: str
    country: str
    tls: dict[str, Any]
    dnssec: bool

    @property
    def hosts(self) -> list[str]:
        return [f"mx1.{self.zone}", f"mx2.{self.zone}"]

    @property
    def spf_include(self) -> str:
        return f"_spf.{self.zone}"


def clusters(count: int, rng: random.Random) -> list[Cluster]:
    return [Cluster(i, f"mailhost-{i:02d}.example", COUNTRIES[i % len(COUNTRIES)],
                    dict(TLS_PROFILES[i % len(TLS_PROFILES)]), dnssec=rng.random() < 0.4)
            for i in range(count)]


def domain_name(k: int) -> str:
    return f"syn-{k:05d}.example"


def synthetic(n: int, cluster_count: int = DEFAULT_CLUSTERS, seed: int = DEFAULT_SEED,
              base_overlay: Path = OVERLAY) -> tuple[dict[str, Any], dict[str, Any]]:
    """(catalog, overlay) documents for `n` synthetic mail providers, one domain each."""
    if n < 1 or cluster_count < 1:
        raise ValueError("need at least one domain and one cluster")
    rng = random.Random(seed)
    cs = clusters(cluster_count, rng)
    weights = [1 / (c.index + 1) for c in cs]
    catalog: list[dict[str, Any]] = []
    overlay: dict[str, Any] = {}
    first_of: set[int] = set()
    for k in range(n):
        # The first domains take one cluster each, so every cluster exists even for small n.
        c = cs[k] if k < len(cs) else rng.choices(cs, weights)[0]
        d = domain_name(k)
        pid = f"syn-{k:05d}"
        catalog.append({"id": pid, "name": f"Synthetic {k:05d}", "kind": "mail",
                        "company": {"legal_name": f"Synthetic {k:05d} SARL", "country": c.country,
                                    "dpf_certified": "unknown"},
                        "mail_domains": [d]})
        o: dict[str, Any] = {
            "lab_only": True, "modelled": True, "country": c.country, "org": f"Mailhost {c.index:02d} (lab)",
            "asn": 64600 + c.index, "tls": c.tls,
            "mx": [{"host": c.hosts[0], "pref": 10}, {"host": c.hosts[1], "pref": 20}],
        }
        if c.index not in first_of:
            # The world builder takes a shared host's facts (and its zone's signing) from the first
            # provider naming it: that provider carries the cluster's DNSSEC, DANE and SPF include record.
            first_of.add(c.index)
            o["dnssec"] = c.dnssec
            o["dane"] = c.dnssec
            o["records"] = [{"name": c.spf_include, "type": "TXT",
                             "value": f'"v=spf1 a:{c.hosts[0]} a:{c.hosts[1]} -all"'}]
        else:
            o["dnssec"] = rng.random() < 0.25
        draw = rng.random()
        if draw < 0.9:
            o["spf"] = f"v=spf1 include:{c.spf_include} {'-all' if draw < 0.5 else '~all'}"
        if rng.random() < 0.7:
            o["dmarc"] = f"v=DMARC1; p={rng.choice(['none', 'quarantine', 'reject'])}"
        if rng.random() < 0.15:
            o["mta_sts"] = {"mode": rng.choice(["enforce", "enforce", "testing"]), "mx": [f"*.{c.zone}"]}
        if rng.random() < 0.15:
            o["tlsrpt"] = f"mailto:tlsrpt@{d}"
        overlay[pid] = o
    defaults = read_overlay(base_overlay).get("defaults") or {}
    return ({"schema": "auditor.providers/1", "providers": catalog},
            {"defaults": defaults, "providers": overlay, "zones": [TLD_ZONE]})


def write_synthetic(directory: Path, n: int, cluster_count: int = DEFAULT_CLUSTERS,
                    seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    """Write `synthetic-N.yaml` (catalog) and `synthetic-N-world.yaml` (overlay); returns their paths."""
    catalog, overlay = synthetic(n, cluster_count, seed)
    directory.mkdir(parents=True, exist_ok=True)
    cat_path, ov_path = directory / f"synthetic-{n}.yaml", directory / f"synthetic-{n}-world.yaml"
    dump = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    cat_path.write_text(yaml.dump(catalog, Dumper=dump, sort_keys=False), encoding="utf-8")
    ov_path.write_text(yaml.dump(overlay, Dumper=dump, sort_keys=False), encoding="utf-8")
    return cat_path, ov_path
