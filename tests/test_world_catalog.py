"""The lab models what the catalog says: every published mail fact of a provider is what the lab serves, and
every other fact the lab models for a real provider names its source or why it is modelled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.catalog import Observation, Provider, load_catalog
from auditor.lab.world import OVERLAY, World, build_world, read_overlay

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "providers.yaml"
# What an overlay entry can say about a provider's servers (the rest: names, aliases, flags, basis itself).
FACTS = ("country", "org", "asn", "registry_country", "domains", "mx", "null_mx", "spf", "dmarc", "tlsrpt",
         "mta_sts", "dnssec", "nsec3", "dnssec_fault", "ds_fault", "dane", "tls", "starttls", "hsts", "endpoints",
         "records", "dns_faults", "extra_hosts", "hosts", "claims")
# The facts a catalog observation can state, and the overlay key that models each.
OBSERVED = {"mx": "mx", "mta_sts": "mta_sts", "dane": "dane", "dnssec": "dnssec", "dmarc": "dmarc"}


@pytest.fixture(scope="module")
def world() -> World:
    return build_world([CATALOG])


@pytest.fixture(scope="module")
def providers() -> list[Provider]:
    return load_catalog(CATALOG).providers


def overlay_of(provider: Provider) -> dict[str, object]:
    entries = read_overlay(OVERLAY)["providers"]
    for key, entry in entries.items():
        if key == provider.id or provider.id in entry.get("aliases", []):
            return dict(entry)
    raise AssertionError(f"{provider.id}: no entry in {OVERLAY.name}")


def records(world: World, owner: str, rdtype: str) -> list[str]:
    return [value for name, kind, value in world.records if name == owner + "." and kind == rdtype]


def observations(providers: list[Provider]) -> list[tuple[str, Observation]]:
    return [(p.id, obs) for p in providers for obs in p.published]


def test_the_catalog_publishes_mail_facts_for_proton_and_tuta(providers: list[Provider]) -> None:
    published = {pid: obs for pid, obs in observations(providers) if obs.mta_sts}
    assert published["proton"].mta_sts is not None and published["proton"].mta_sts.mode == "enforce"
    assert published["tuta"].mta_sts is not None and published["tuta"].mta_sts.mode == "enforce"


def test_every_published_fact_is_what_the_lab_serves(world: World, providers: list[Provider]) -> None:
    checked = 0
    for pid, obs in observations(providers):
        spec = world.providers[pid]
        assert obs.domain in spec.domains, f"{pid}: {obs.domain} is not a mail domain of the lab's {pid}"
        if obs.mx is not None:
            served = {(int(v.split()[0]), v.split()[1].rstrip(".")) for v in records(world, obs.domain, "MX")}
            assert {host for _, host in served} == {m.host for m in obs.mx}, f"{pid} {obs.domain} MX"
            for m in obs.mx:
                if m.pref is not None:
                    assert (m.pref, m.host) in served, f"{pid} {obs.domain} MX {m.host} preference"
            checked += 1
        if obs.mta_sts is not None:
            assert [t for t in records(world, f"_mta-sts.{obs.domain}", "TXT") if "v=STSv1" in t], pid
            route = world.hosts[f"mta-sts.{obs.domain}"].routes["/.well-known/mta-sts.txt"]
            policy = route.body.decode()
            assert f"mode: {obs.mta_sts.mode}\n" in policy, f"{pid} {obs.domain} MTA-STS mode"
            if obs.mta_sts.mx:
                assert re.findall(r"^mx: (\S+)$", policy, re.M) == obs.mta_sts.mx, f"{pid} MTA-STS mx"
            if obs.mta_sts.max_age is not None:
                assert f"max_age: {obs.mta_sts.max_age}\n" in policy, f"{pid} MTA-STS max_age"
            checked += 1
        if obs.dane is not None:
            for host, _ in spec.mx:
                assert (world.hosts[host].dane == "valid") is obs.dane, f"{pid} DANE on {host}"
            checked += 1
        if obs.dnssec is not None:
            zone = next(z for z in world.zones if (obs.domain + ".").endswith(z))
            assert world.zones[zone].signed is obs.dnssec, f"{pid} DNSSEC of {obs.domain}"
            checked += 1
        if obs.dmarc is not None:
            [dmarc] = records(world, f"_dmarc.{obs.domain}", "TXT")
            assert f"p={obs.dmarc}" in dmarc.replace(" ", ""), f"{pid} DMARC of {obs.domain}"
            checked += 1
    assert checked >= 6  # Proton's MX, MTA-STS and DANE; Tuta's MTA-STS and DNSSEC; mailbox.org's MX and DMARC


def test_every_other_modelled_fact_names_its_basis(providers: list[Provider]) -> None:
    for provider in providers:
        entry = overlay_of(provider)
        observed = {OBSERVED[f] for obs in provider.published for f in OBSERVED if getattr(obs, f) is not None}
        basis = entry.get("basis") or {}
        assert isinstance(basis, dict), provider.id
        missing = [f for f in FACTS if f in entry and f not in observed and f not in basis]
        assert missing == [], f"{provider.id}: {missing} modelled without a source or a reason in `basis`"
        for fact, why in basis.items():
            assert fact in entry, f"{provider.id}: basis for {fact!r}, which the overlay does not model"
            assert isinstance(why, str) and len(why) > 10, f"{provider.id}: basis of {fact!r}"


def test_mail_domains_are_one_list_in_the_catalog(world: World, providers: list[Provider]) -> None:
    """The overlay repeats no catalog provider's domains: the lab serves exactly the catalog's, MSSanté included."""
    for provider in providers:
        assert "domains" not in overlay_of(provider), provider.id
        assert world.providers[provider.id].domains == provider.mail_domains
    mailiz = next(p for p in providers if p.id == "mailiz")
    assert mailiz.mail_domains and all(d.endswith(".mssante.fr") for d in mailiz.mail_domains)
    assert {n for n in world.hosts if n.endswith("mssante.fr") and n.startswith("mx")} <= {"mx1.mssante.fr",
                                                                                          "mx2.mssante.fr"}
