"""One provider measured from several named vantage points: merge the results, and say where they disagree.
Pure: no network, no store (docs/vantage.md, "Several vantage points").

A unit of work (`auditor.scan.run_unit`) audits one provider from one place. With several places (an EU VPS,
a US one; geo-DNS and anycast answer each differently) the coordinator gets one `ProviderResult` per vantage
and keeps them as one: `merge_vantage_results`.

- Measured findings (DNS, TLS, STARTTLS, DANE, MTA-STS, hosting.location, claim pages, web checks, probe
  errors) are kept from every vantage, each tagged with the vantage's name (`Finding.vantage`).
- `jurisdiction.company` reads the catalog only: once, untagged.
- `hosting.summary`, `transfer` and `trust_space` add up measured findings: computed once, untagged, over the
  union of what every vantage saw (every address any vantage was sent to is a place the data may go).

Readers of a merged result do not see duplicates: `scored_findings` is what scoring reads (per check, subject and
target, a vantage that could not test a check does not hide what another one measured), `one_per_check` what
a comparison between audits reads (the worst verdict among the vantages that could test it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from auditor.catalog import Provider
from auditor.findings import Finding, ProviderResult, Status, worst
from auditor.probes.provider import CATALOG_CHECKS, DERIVED_CHECKS, provider_findings

Key = tuple[str, str, str | None]  # check id, subject, target


def _key(f: Finding) -> Key:
    return (f.id, f.subject, f.target)


def merge_vantage_results(results: Mapping[str, ProviderResult], provider: Provider) -> ProviderResult:
    """The result of `provider` measured from each named vantage point (`results`: vantage name -> that
    vantage's result, in vantage order). Unscored: score the merged result (`auditor.scoring`).

    `provider` is the catalog entry the units were run for: the provider-level findings are computed from
    it over the union of the measured findings, as `auditor.scan.audit_provider` does for one vantage."""
    if not results:
        raise ValueError(f"{provider.id}: no vantage result to merge")
    if any(not name for name in results):
        raise ValueError(f"{provider.id}: a vantage point without a name")
    wrong = sorted({r.id for r in results.values()} - {provider.id})
    if wrong:
        raise ValueError(f"{provider.id}: results of another provider to merge: {', '.join(wrong)}")
    measured = [f.model_copy(update={"vantage": name})
                for name, result in results.items() for f in result.checks
                if f.id not in CATALOG_CHECKS and f.id not in DERIVED_CHECKS]
    checks = [*provider_findings(provider, union(measured)), *measured]
    return ProviderResult(id=provider.id, name=provider.name, kind=provider.kind, checks=checks)


def _several_vantages(group: Sequence[Finding]) -> bool:
    return len({f.vantage for f in group if f.vantage is not None}) > 1


def _groups(findings: Iterable[Finding]) -> dict[Key, list[Finding]]:
    groups: dict[Key, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[_key(f)].append(f)
    return groups


def scored_findings(findings: Sequence[Finding]) -> list[Finding]:
    """The findings scoring reads, in their order: for a check, subject and target measured from several
    vantage points, the `error`s ("could not be verified from here") are left out when another vantage
    could test it. The rest stays, so a failure seen from any vantage fails the criterion (worst-of).
    Findings of a one-vantage audit are returned as they are."""
    if not any(f.vantage is not None for f in findings):
        return list(findings)
    hidden: set[int] = set()
    for group in _groups(findings).values():
        if _several_vantages(group) and any(f.status != Status.ERROR for f in group):
            hidden |= {id(f) for f in group if f.status == Status.ERROR}
    return [f for f in findings if id(f) not in hidden]


def one_per_check(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per check, subject and target: the worst among the vantages that could test it (all
    `error`: the first), at the place of the group's first finding. A one-vantage audit is unchanged."""
    if not any(f.vantage is not None for f in findings):
        return list(findings)
    chosen: dict[Key, Finding] = {}
    for f in scored_findings(findings):
        kept = chosen.get(_key(f))
        if kept is None or worst([kept.status, f.status]) != kept.status:
            chosen[_key(f)] = f
    out, seen = [], set()
    for f in findings:
        k = _key(f)
        if k not in seen and k in chosen:
            seen.add(k)
            out.append(chosen[k])
    return out


def _fingerprint(f: Finding) -> tuple[str, str, str | None, str, str]:
    if f.id == "hosting.location":
        # An address is located from local data and its registry, the same from anywhere (its sources carry
        # the fetch time): what depends on the vantage is which addresses a name resolves to.
        return (f.id, f.subject, f.target, "", "")
    return (f.id, f.subject, f.target, f.status.value, json.dumps(f.value, sort_keys=True, default=str))


def union(findings: Sequence[Finding]) -> list[Finding]:
    """What every vantage saw, counted once: `scored_findings`, then a finding identical to an earlier one but for
    its vantage (the same certificate, the same MX set) left out, and each address located once."""
    seen: set[tuple[str, str, str | None, str, str]] = set()
    out = []
    for f in scored_findings(findings):
        mark = _fingerprint(f)
        if mark not in seen:
            seen.add(mark)
            out.append(f)
    return out


# ---- where vantages disagree ----------------------------------------------------------------------------

DisagreementKind = Literal["mx", "country", "addresses", "status"]


class Observation(BaseModel):
    """What one vantage point saw."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vantage: str
    status: Status | None = None  # the check's status (kind `status`)
    summary: str | None = None  # its summary (kind `status`)
    values: list[str] = Field(default_factory=list)  # its value when a list of words, e.g. TLS versions (`status`)
    hosts: list[str] = Field(default_factory=list)  # MX hosts (kind `mx`)
    addresses: list[str] = Field(default_factory=list)  # the host's addresses (kinds `country`, `addresses`)
    countries: list[str] = Field(default_factory=list)  # where they are located ("" when unknown)


class Disagreement(BaseModel):
    """One place where the vantage points of a provider saw different things.

    `mx`: a mail domain's MX set differs; `country`: a host resolves to addresses located in different
    countries; `addresses`: to different addresses in the same countries; `status`: a check passes from one
    vantage and fails, warns or could not be tested from another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    kind: DisagreementKind
    check: str
    subject: str
    target: str | None = None
    seen: list[Observation]


def _by_vantage(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        if f.vantage is not None:
            out.setdefault(f.vantage, []).append(f)
    return out


def _mx(result: ProviderResult) -> list[Disagreement]:
    out = []
    for (_, domain, _), group in _groups(f for f in result.checks if f.id == "dns.mx").items():
        hosts = {v: sorted(str(h) for h in fs[0].value) for v, fs in _by_vantage(group).items()
                 if isinstance(fs[0].value, list)}
        if len(hosts) > 1 and len({tuple(h) for h in hosts.values()}) > 1:
            out.append(Disagreement(provider=result.id, kind="mx", check="dns.mx", subject=domain,
                                    seen=[Observation(vantage=v, hosts=h) for v, h in hosts.items()]))
    return out


def _country(f: Finding) -> str:
    value: Any = f.value
    return str(value.get("country") or "") if isinstance(value, dict) else ""


def _locations(result: ProviderResult) -> list[Disagreement]:
    hosts: dict[str, list[Finding]] = defaultdict(list)
    for f in result.checks:
        if f.id == "hosting.location":
            hosts[f.subject].append(f)
    out = []
    for host, group in hosts.items():
        seen = {v: sorted({(f.target or "", _country(f)) for f in fs}) for v, fs in _by_vantage(group).items()}
        if len(seen) < 2 or len({tuple(s) for s in seen.values()}) == 1:
            continue
        countries = {v: sorted({c for _, c in s}) for v, s in seen.items()}
        kind: DisagreementKind = "country" if len({tuple(c) for c in countries.values()}) > 1 else "addresses"
        out.append(Disagreement(
            provider=result.id, kind=kind, check="hosting.location", subject=host,
            seen=[Observation(vantage=v, addresses=[ip for ip, _ in s], countries=[c for _, c in s])
                  for v, s in seen.items()]))
    return out


def _words(value: Any) -> list[str]:
    return [str(v) for v in value[:20]] if isinstance(value, list) and all(isinstance(v, str) for v in value) else []


def _statuses(result: ProviderResult) -> list[Disagreement]:
    out = []
    for (check, subject, target), group in _groups(result.checks).items():
        if check in ("hosting.location", "dns.mx"):
            continue  # said by address and by MX set
        first = {v: fs[0] for v, fs in _by_vantage(group).items()}
        if len(first) > 1 and len({f.status for f in first.values()}) > 1:
            out.append(Disagreement(
                provider=result.id, kind="status", check=check, subject=subject, target=target,
                seen=[Observation(vantage=v, status=f.status, summary=f.summary, values=_words(f.value))
                      for v, f in first.items()]))
    return out


def vantage_disagreements(result: ProviderResult) -> list[Disagreement]:
    """Where the vantage points of a merged result saw different things: MX sets, then the addresses (and
    countries) of each host, then the checks whose status differs. Empty for a one-vantage result."""
    return [*_mx(result), *_locations(result), *_statuses(result)]
