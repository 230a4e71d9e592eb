"""Which addresses of a host are probed, from this vantage point, and why the others are not (pure).

- At most `MAX_PER_FAMILY` addresses per family: a hostile zone may return thousands. The rest are named in
  the summary and the evidence, never silently dropped.
- An address that is not global (loopback, link-local, private, reserved) is an `error`, "address not
  public": probing it would reach into the DPO's own network, and no sender on the Internet could use it.
  In the lab (settings.lab) loopback and unique local addresses stand in for the Internet and are allowed.
- IPv6 addresses, when this vantage point has no IPv6 (`Vantage.ipv6` is False), are "not tested from this
  vantage point": the verdict is formed on what was tested and says so; it is never turned into an error
  for the provider, nor into a pass for what was not seen.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

MAX_PER_FAMILY = 8
NO_IPV6 = "not tested from this vantage point (no IPv6 connectivity here)"
_LAB_LOCAL = ipaddress.ip_network("fc00::/7")  # unique local addresses (RFC 4193): the lab's IPv6


def not_public(ip: str, *, lab: bool) -> str | None:
    """Why `ip` must not be probed ("address not public (private)"), or None when it may be."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "not an IP address"
    if address.is_global:
        return None
    if lab and (address.is_loopback or address in _LAB_LOCAL):
        return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"address not public ({kind.replace('_', '-')})"
    return "address not public (not globally routable)"


@dataclass
class AddressPlan:
    probe: list[str]  # addresses to talk to
    refused: dict[str, str] = field(default_factory=dict)  # ip -> why it is not probed: an error of the host
    untested: dict[str, str] = field(default_factory=dict)  # ip -> why this vantage point cannot test it
    capped: dict[str, int] = field(default_factory=dict)  # family -> how many addresses were published

    @property
    def judged(self) -> list[str]:
        """The addresses the verdicts are about: probed, or refused (an error), never the untested ones."""
        return [*self.probe, *self.refused]

    def notes(self) -> list[str]:
        """What the summaries of the host's findings must add."""
        notes = [f"{n} {family} addresses published: only the first {MAX_PER_FAMILY} are probed"
                 for family, n in self.capped.items()]
        if self.untested:
            notes.append(f"{', '.join(list(self.untested)[:4])}: {NO_IPV6}")
        return notes

    def evidence(self) -> dict[str, Any]:
        return {"probed": self.probe, "refused": self.refused, "not_tested": self.untested,
                "capped": self.capped}


def plan_addresses(v4: list[str], v6: list[str], *, ipv6: bool | None, lab: bool) -> AddressPlan:
    """`ipv6`: the vantage point's IPv6 connectivity (None: not characterised, every address is tried)."""
    plan = AddressPlan([])
    for family, addresses in (("IPv4", v4), ("IPv6", v6)):
        if len(addresses) > MAX_PER_FAMILY:
            plan.capped[family] = len(addresses)
        for ip in addresses[:MAX_PER_FAMILY]:
            reason = not_public(ip, lab=lab)
            if reason is not None:
                plan.refused[ip] = reason
            elif family == "IPv6" and ipv6 is False:
                plan.untested[ip] = NO_IPV6
            else:
                plan.probe.append(ip)
    return plan
