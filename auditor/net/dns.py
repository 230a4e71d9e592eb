"""DNS through the configured resolver only: UDP with TCP fallback, DO/CD bits, hard timeouts, raw answers kept.

Every lookup of the program goes through `Resolver`, so a DPO can pin the resolver, the lab can stand in for
the Internet, and the raw wire answer can be kept as evidence. Resolver failures (timeout, SERVFAIL, REFUSED)
raise `DnsError`; they are never turned into "no record".
"""

from __future__ import annotations

import asyncio
import base64
import errno
import socket
from dataclasses import dataclass, field

import dns.asyncbackend
import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from auditor.errors import NetworkUnavailable
from auditor.lru import Lru

MAX_CNAME_HOPS = 8
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: avoids fragmentation, TCP takes the rest
# Questions on the wire at once (the dns_in_flight setting). A burst of thousands (1,000 domains start
# together) overflows the resolver's and the kernel's UDP queues: answers are dropped and every query waits
# out its timeout. Measured on the 1,000-domain benchmark: 2,230 timeout errors uncapped, none at 64.
MAX_IN_FLIGHT = 64
FIRST_RETRANSMIT = 1.0  # seconds before a UDP question is asked again, doubling after each loss
# Answers kept per run (least recently used dropped): enough for the names many domains share (MX clusters,
# TLD keys) while a campaign's one-off names come and go; about 5 KB each, so some 50 MB at most.
DNS_CACHE_ENTRIES = 10_000
RAW_ATTRIBUTE = "_auditor_raw_b64"  # where a response keeps its evidence form


class DnsError(Exception):
    """The resolver could not give an answer (timeout, SERVFAIL, REFUSED, malformed reply, CNAME loop)."""

    def __init__(self, name: str, rdtype: str, reason: str) -> None:
        self.name, self.rdtype, self.reason = name, rdtype, reason
        super().__init__(f"DNS {rdtype} {name}: {reason}")


@dataclass(frozen=True)
class Answer:
    """The outcome of one lookup: records (after following CNAMEs), or a proven absence."""

    name: str
    rdtype: str
    rcode: str  # NOERROR | NXDOMAIN
    records: list[str]  # presentation format of the final RRset
    canonical: str  # the name the records belong to after the CNAME chain
    cnames: list[str] = field(default_factory=list)  # the CNAME chain, in order
    ad: bool = False  # the resolver said it validated the answer (informational: we validate ourselves)
    raw: str = ""  # base64 wire format of the last response, for evidence
    ttl: int | None = None

    @property
    def exists(self) -> bool:
        return bool(self.records)

    def evidence(self) -> dict[str, object]:
        return {"query": f"{self.name} {self.rdtype}", "rcode": self.rcode, "records": self.records,
                "cnames": self.cnames, "ad": self.ad, "wire_b64": self.raw}


def retransmit_schedule(budget: float, first: float = FIRST_RETRANSMIT) -> list[float]:
    """How long to wait for each UDP send of one question: 1, 2, 4 … seconds, the last one cut so that the
    waits add up to `budget` (a lost datagram costs a second, not the whole timeout)."""
    waits: list[float] = []
    wait, left = first, budget
    while left > 1e-6:
        waits.append(min(wait, left))
        left -= waits[-1]
        wait *= 2
    return waits


def system_nameserver() -> tuple[str, int]:
    """The first nameserver of the system configuration (/etc/resolv.conf)."""
    try:
        conf = dns.resolver.Resolver(configure=True)
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        raise NetworkUnavailable(f"no DNS resolver configured on this system ({exc}); pass --resolver IP") from exc
    if not conf.nameservers:
        raise NetworkUnavailable("no DNS resolver configured on this system; pass --resolver IP")
    return str(conf.nameservers[0]), int(conf.port)


class Resolver:
    """A stub resolver with one explicit upstream, a per-run cache and per-query deadlines."""

    def __init__(self, nameserver: tuple[str, int] | None, timeout: float = 5.0,
                 in_flight: int = MAX_IN_FLIGHT) -> None:
        self.nameserver = nameserver or system_nameserver()
        self.timeout = timeout  # one question, every retransmission included
        self._in_flight = asyncio.Semaphore(in_flight)
        self._cache: Lru[tuple[str, str, bool, bool], asyncio.Future[dns.message.Message]] = Lru(DNS_CACHE_ENTRIES)

    @property
    def address(self) -> str:
        host, port = self.nameserver
        return f"{host}:{port}" if port != 53 else host

    async def query(self, name: str | dns.name.Name, rdtype: str, *, dnssec: bool = False,
                    checking_disabled: bool = True) -> dns.message.Message:
        """One query, deduplicated per run: concurrent callers of the same question share one answer.

        `dnssec`: DO set, and CD too (bogus data comes back, we validate it ourselves) unless
        `checking_disabled` is False: then AD is asked instead, to see whether the resolver validates."""
        qname = name if isinstance(name, dns.name.Name) else dns.name.from_text(name)
        cd = dnssec and checking_disabled
        key = (qname.to_text().lower(), rdtype.upper(), dnssec, cd)
        fut = self._cache.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._query(qname, rdtype.upper(), dnssec, cd))
            self._cache[key] = fut
        try:
            return await asyncio.shield(fut)
        except DnsError:
            self._cache.pop(key, None)  # errors are not cached: a later probe may retry
            raise

    async def _query(self, qname: dns.name.Name, rdtype: str, dnssec: bool, cd: bool) -> dns.message.Message:
        request = dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=dnssec)
        if cd:
            request.flags |= dns.flags.CD  # get bogus data back too: we validate it ourselves
        elif dnssec:
            request.flags |= dns.flags.AD  # RFC 6840 §5.7: we understand AD, tell us whether you validated
        async with self._in_flight:  # the timeout runs from the first send, not while queued
            return await self._exchange(request, qname.to_text(), rdtype)

    async def _exchange(self, request: dns.message.Message, label: str, rdtype: str) -> dns.message.Message:
        response = await self._udp(request, label, rdtype)
        if response.flags & dns.flags.TC:
            response = await self._tcp(request, label, rdtype)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsError(label, rdtype, f"{dns.rcode.to_text(rcode)} from {self.address}")
        return response

    async def _udp(self, request: dns.message.Message, label: str, rdtype: str) -> dns.message.Message:
        host, port = self.nameserver
        backend = dns.asyncbackend.get_default_backend()
        connected = (host, port) if backend.datagram_connection_required() else None
        try:
            sock = await backend.make_socket(dns.inet.af_for_address(host), socket.SOCK_DGRAM, 0, None, connected)
        except OSError as exc:
            raise DnsError(label, rdtype, self._os_error(exc)) from exc
        last = "no answer"
        async with sock:  # one socket for every send: a late answer to an earlier send still counts
            for wait in retransmit_schedule(self.timeout):
                try:
                    return await dns.asyncquery.udp(request, host, port=port, timeout=wait, ignore_unexpected=True,
                                                    sock=sock)
                except dns.exception.Timeout:
                    last = f"timeout after {self.timeout:g}s from {self.address}"
                except OSError as exc:
                    last = self._os_error(exc)
                except dns.query.BadResponse:  # another question's answer (a stray late one): ask again
                    last = f"answers from {self.address} did not match the question"
                except dns.exception.DNSException as exc:  # malformed reply: hostile or broken server
                    raise DnsError(label, rdtype, f"malformed answer from {self.address}: {exc}") from exc
        raise DnsError(label, rdtype, last)

    async def _tcp(self, request: dns.message.Message, label: str, rdtype: str) -> dns.message.Message:
        host, port = self.nameserver
        try:
            return await dns.asyncquery.tcp(request, host, port=port, timeout=self.timeout)
        except dns.exception.Timeout as exc:
            raise DnsError(label, rdtype, f"timeout after {self.timeout:g}s over TCP from {self.address}") from exc
        except OSError as exc:
            raise DnsError(label, rdtype, f"over TCP: {self._os_error(exc)}") from exc
        except dns.exception.DNSException as exc:
            raise DnsError(label, rdtype, f"malformed answer over TCP from {self.address}: {exc}") from exc

    def _os_error(self, exc: OSError) -> str:
        """The reason to report; no route at all means this machine is offline, which ends the scan."""
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
            raise NetworkUnavailable(f"network unreachable: cannot reach the DNS resolver {self.address} "
                                     f"({exc.strerror})") from exc
        return f"{exc.strerror or exc} ({self.address})"

    @staticmethod
    def _raw(response: dns.message.Message) -> str:
        """The evidence form (base64 wire) of a response, made once and kept on it: a cached answer is read by
        many probes, and rendering it again each time was an eighth of a 500-domain scan's CPU. (Messages are
        unhashable, so it cannot be a side table.)"""
        raw: str | None = getattr(response, RAW_ATTRIBUTE, None)
        if raw is None:
            raw = base64.b64encode(response.to_wire()).decode()
            setattr(response, RAW_ATTRIBUTE, raw)
        return raw

    async def resolve(self, name: str, rdtype: str, *, dnssec: bool = False) -> Answer:
        """Records of `rdtype` at `name`, following CNAMEs (bounded); NXDOMAIN/NODATA give an empty Answer."""
        current = dns.name.from_text(name)
        target_type = dns.rdatatype.from_text(rdtype)
        cnames: list[str] = []
        seen = {current}
        for _ in range(MAX_CNAME_HOPS + 1):
            asked = current
            response = await self.query(asked, rdtype, dnssec=dnssec)
            raw = self._raw(response)
            ad = bool(response.flags & dns.flags.AD)
            rcode = dns.rcode.to_text(response.rcode())
            # Follow the chain inside this response first (resolvers usually return it whole).
            while True:
                rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, target_type)
                if rrset is not None:
                    return Answer(name, rdtype, "NOERROR", sorted(r.to_text() for r in rrset),
                                  current.to_text(), cnames, ad, raw, rrset.ttl)
                cname = response.get_rrset(response.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
                if cname is None or target_type == dns.rdatatype.CNAME:
                    break
                current = cname[0].target
                cnames.append(current.to_text())
                if current in seen:
                    raise DnsError(name, rdtype, f"CNAME loop at {current}")
                seen.add(current)
            if current == asked or rcode == "NXDOMAIN":
                return Answer(name, rdtype, rcode, [], current.to_text(), cnames, ad, raw)
            # The response stopped mid-chain: ask for the next hop ourselves.
        raise DnsError(name, rdtype, f"CNAME chain longer than {MAX_CNAME_HOPS}")

    async def addresses(self, host: str) -> tuple[list[str], list[str]]:
        """IPv4 and IPv6 addresses of a host (each list empty when the name has none)."""
        a, aaaa = await asyncio.gather(self.resolve(host, "A"), self.resolve(host, "AAAA"),
                                       return_exceptions=True)
        errors = [r for r in (a, aaaa) if isinstance(r, BaseException)]
        if len(errors) == 2 or (errors and not isinstance(errors[0], DnsError)):
            raise errors[0]
        v4 = a.records if isinstance(a, Answer) else []
        v6 = aaaa.records if isinstance(aaaa, Answer) else []
        if errors and not (v4 or v6):
            raise errors[0]
        return v4, v6


def txt_strings(answer: Answer, max_records: int = 1024) -> list[bytes]:
    """Each TXT record of an answer with its character-strings joined without spaces (RFC 7208 §3.3,
    RFC 8461 §3.1), as raw bytes: the parsers decide what is valid text."""
    records = []
    for text in answer.records[:max_records]:
        try:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
        except dns.exception.DNSException:
            continue
        records.append(b"".join(rdata.strings))  # type: ignore[attr-defined]
    return records
