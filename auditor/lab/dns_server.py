"""The lab resolver: answers like a recursive resolver that already knows every lab zone.

Real DNS wire format over UDP and TCP. For each question it answers from the deepest zone holding the
name (DS from the parent side of a cut), follows CNAMEs through lab data, distinguishes NXDOMAIN from
NODATA (SOA in the authority section), and, when the query sets DO, adds the RRSIGs and the NSEC/NSEC3
records a validator needs (present only once zones are signed). UDP answers that exceed the client's EDNS
payload size are truncated with TC set, so the client retries over TCP. Malformed packets never crash it.

Three kinds of resolver a DPO meets (`RESOLVER_MODES`), each served on its own address by the lab:
`validating` sets AD on answers whose zones are signed from the root without a fault (unless CD is set);
`plain` passes DNSSEC records on but never sets AD (a non-validating forwarder); `strip` removes every
DNSSEC record (RRSIG, DNSKEY, DS, NSEC, NSEC3) from its answers, as old routers and some forwarders do.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from auditor.lab.listener import close_server
from auditor.lab.zones import ZoneSet, signing_module

log = logging.getLogger(__name__)

MAX_CNAME_CHAIN = 8
OUR_PAYLOAD = 1232  # the DNS Flag Day 2020 default
MAX_TCP_MESSAGE = 65535
TCP_IDLE_TIMEOUT = 10.0

RESOLVER_MODES = ("validating", "plain", "strip")
DNSSEC_TYPES = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY, dns.rdatatype.DS, dns.rdatatype.NSEC,
                          dns.rdatatype.NSEC3, dns.rdatatype.NSEC3PARAM})

# Per-name faults. `timeout` never answers; the others set the response code.
DNS_FAULTS = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED, "timeout": None}


@dataclass(frozen=True)
class DnsFault:
    name: str  # owner name, absolute or not
    fault: str  # a key of DNS_FAULTS
    rdtype: str | None = None  # only this query type; None: every type

    def key(self) -> tuple[dns.name.Name, dns.rdatatype.RdataType | None]:
        if self.fault not in DNS_FAULTS:
            raise ValueError(f"unknown DNS fault {self.fault!r}; known: {', '.join(DNS_FAULTS)}")
        rdtype = dns.rdatatype.from_text(self.rdtype) if self.rdtype else None
        return dns.name.from_text(self.name), rdtype


class _Drop(Exception):
    """The fault `timeout`: send nothing at all."""


def _rrset(name: dns.name.Name, rds: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rds.rdclass, rds.rdtype, rds.covers)
    rrset.update(rds)
    return rrset


class LabResolver:
    """Pure query -> response logic, separate from the sockets so it is easy to reason about."""

    def __init__(
        self, zones: ZoneSet, faults: Mapping[tuple[dns.name.Name, dns.rdatatype.RdataType | None], str] | None = None,
        mode: str = "validating", questions: Counter[tuple[str, str]] | None = None,
    ) -> None:
        if mode not in RESOLVER_MODES:
            raise ValueError(f"unknown resolver mode {mode!r}; known: {', '.join(RESOLVER_MODES)}")
        self.zones = zones
        self.faults = dict(faults or {})
        self.mode = mode
        # (name, type) -> times asked: what tests read to prove a question was (or was not) asked again
        self.questions = questions if questions is not None else Counter()

    # --- wire level -------------------------------------------------------------------------------------
    def handle_wire(self, wire: bytes, tcp: bool) -> bytes | None:
        """The response to one packet, or None to stay silent (garbage, or the `timeout` fault)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            return None
        except Exception:  # any parse failure: FORMERR when we can echo the id, else silence
            return self._formerr(wire)
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: never answer it (no reflection loops)
        try:
            response = self.respond(query)
        except _Drop:
            return None
        except Exception:  # a lab bug: answer SERVFAIL like a broken resolver, and say why in the log
            log.exception("lab DNS: failed to answer %s", query.question)
            response = dns.message.make_response(query, recursion_available=True)
            response.set_rcode(dns.rcode.SERVFAIL)
        limit = MAX_TCP_MESSAGE
        if not tcp:
            limit = max(512, min(query.payload, 4096)) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit, prefer_truncation=not tcp)
        except dns.exception.TooBig:
            # Even the header + question does not fit: say so with an empty truncated answer.
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _formerr(self, wire: bytes) -> bytes | None:
        if len(wire) < 12:
            return None
        (qid,) = struct.unpack("!H", wire[:2])
        msg = dns.message.Message(id=qid)
        msg.flags = dns.flags.QR | dns.flags.RA
        msg.set_rcode(dns.rcode.FORMERR)
        return msg.to_wire()

    # --- message level ----------------------------------------------------------------------------------
    def respond(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_PAYLOAD)
        do = bool(query.ednsflags & dns.flags.DO) if query.edns >= 0 else False
        if query.edns >= 0:
            response.use_edns(0, dns.flags.DO if do else 0, OUR_PAYLOAD)
        if query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
            return response
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        q = query.question[0]
        self.questions[(q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype))] += 1
        if q.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if q.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        fault = self.faults.get((q.name, q.rdtype)) or self.faults.get((q.name, None))
        if fault is not None:
            code = DNS_FAULTS[fault]
            if code is None:
                raise _Drop
            response.set_rcode(code)
            return response
        rcode, answer, authority = self.resolve(q.name, q.rdtype, do)
        if self.mode == "strip":
            answer = [r for r in answer if r.rdtype not in DNSSEC_TYPES]
            authority = [r for r in authority if r.rdtype not in DNSSEC_TYPES]
        elif (self.mode == "validating" and (do or query.flags & dns.flags.AD) and not query.flags & dns.flags.CD
              and rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and self._secure(q.name, q.rdtype, answer)):
            response.flags |= dns.flags.AD
        response.set_rcode(rcode)
        response.answer.extend(answer)
        response.authority.extend(authority)
        return response

    def _secure(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, answer: list[dns.rrset.RRset]) -> bool:
        """What a validating resolver would find: every zone the answer comes from is signed, with its DS in
        a signed parent, up to the root, and none of them has a signing fault."""
        owners = {(r.name, r.rdtype) for r in answer if r.rdtype != dns.rdatatype.RRSIG} or {(qname, rdtype)}
        for name, kind in owners:
            zone = self.zones.zone_for(name, kind)
            while zone is not None:
                origin = zone.origin
                assert origin is not None
                policy = self.zones.policies.get(origin)
                if not self.zones.is_signed(origin) or policy is None or policy.fault or policy.ds_fault:
                    return False
                zone = self.zones.parent_of(origin)
        return True

    # --- data level -------------------------------------------------------------------------------------
    def resolve(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, do: bool
    ) -> tuple[dns.rcode.Rcode, list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        answer: list[dns.rrset.RRset] = []
        seen: set[dns.name.Name] = set()
        name = qname
        for _ in range(MAX_CNAME_CHAIN):
            zone = self.zones.zone_for(name, rdtype)
            if zone is None:
                return dns.rcode.SERVFAIL, answer, []
            seen.add(name)
            referral = self._delegation(zone, name, rdtype)
            if referral is not None:
                # A cut to a zone the lab does not hold: answer like an authority would, with a referral.
                return dns.rcode.NOERROR, answer, self._with_sigs(zone, [referral], do)
            node = zone.get_node(name)
            if node is None:
                nonterminal = any(n != name and n.is_subdomain(name) for n in zone.nodes)
                rcode = dns.rcode.NOERROR if nonterminal else dns.rcode.NXDOMAIN
                return rcode, answer, self._negative(zone, name, do, nxdomain=not nonterminal)
            if rdtype == dns.rdatatype.ANY:
                sets = [r for r in node.rdatasets if r.rdtype != dns.rdatatype.RRSIG]
                answer.extend(self._with_sigs(zone, [_rrset(name, r) for r in sets], do))
                return dns.rcode.NOERROR, answer, []
            rds = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rds is None and rdtype == dns.rdatatype.RRSIG:
                sigs = [r for r in node.rdatasets if r.rdtype == dns.rdatatype.RRSIG]
                if sigs:
                    answer.extend(_rrset(name, r) for r in sigs)
                    return dns.rcode.NOERROR, answer, []
            if rds is not None:
                answer.extend(self._with_sigs(zone, [_rrset(name, rds)], do))
                return dns.rcode.NOERROR, answer, []
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and rdtype != dns.rdatatype.CNAME:
                answer.extend(self._with_sigs(zone, [_rrset(name, cname)], do))
                name = cname[0].target
                if name in seen:
                    return dns.rcode.SERVFAIL, answer, []  # a CNAME loop
                continue
            return dns.rcode.NOERROR, answer, self._negative(zone, name, do, nxdomain=False)
        return dns.rcode.SERVFAIL, answer, []

    def _delegation(
        self, zone: dns.zone.Zone, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        """The NS RRset of a cut inside `zone` above or at `name` (DS at the cut itself is ours to answer)."""
        origin = zone.origin
        assert origin is not None
        depth = len(origin)
        while depth < len(name):
            depth += 1
            _, cut = name.split(depth)
            if cut == name and rdtype == dns.rdatatype.DS:
                return None
            ns = zone.get_rdataset(cut, dns.rdatatype.NS)
            if ns is not None:
                return _rrset(cut, ns)
        return None

    def _sigs(
        self, zone: dns.zone.Zone, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.rrset.RRset | None:
        sig = zone.get_rdataset(name, dns.rdatatype.RRSIG, covers=rdtype)
        return _rrset(name, sig) if sig is not None else None

    def _with_sigs(self, zone: dns.zone.Zone, rrsets: list[dns.rrset.RRset], do: bool) -> list[dns.rrset.RRset]:
        if not do:
            return rrsets
        out: list[dns.rrset.RRset] = []
        for rrset in rrsets:
            out.append(rrset)
            sig = self._sigs(zone, rrset.name, rrset.rdtype)
            if sig is not None:
                out.append(sig)
        return out

    def _negative(
        self, zone: dns.zone.Zone, name: dns.name.Name, do: bool, nxdomain: bool
    ) -> list[dns.rrset.RRset]:
        """Authority section of a negative answer: the SOA (TTL capped by its minimum) and, with DO, proofs."""
        origin = zone.origin
        assert origin is not None
        soa_rds = zone.get_rdataset(origin, dns.rdatatype.SOA)
        assert soa_rds is not None
        soa = _rrset(origin, soa_rds)
        soa.ttl = min(soa.ttl, soa[0].minimum)
        out = self._with_sigs(zone, [soa], do)
        if not do:
            return out
        denial = getattr(signing_module(), "denial_proof", None)
        if denial is None:
            return out
        try:
            # The signer owns the NSEC/NSEC3 layout, so it also picks the records that prove the denial.
            proofs: list[dns.rrset.RRset] = denial(zone, name, nxdomain=nxdomain)
        except Exception:
            log.exception("lab DNS: no denial proof for %s", name)
            return out
        return out + proofs


# --- sockets -----------------------------------------------------------------------------------------------
class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, resolver: LabResolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = self.resolver.handle_wire(data, tcp=False)
        except Exception:  # a bug must not take the resolver down for every other test
            log.exception("lab DNS: failed to answer a UDP query")
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """UDP + TCP listeners on one address; start and stop inside the lab's event loop."""

    def __init__(self, resolver: LabResolver, host: str, port: int) -> None:
        self.resolver, self.host, self.port = resolver, host, port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self.resolver), local_addr=(self.host, self.port)
        )
        self._udp = cast(asyncio.DatagramTransport, transport)
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        await close_server(self._tcp, self._conns)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (length,) = struct.unpack("!H", header)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_TIMEOUT)
                reply = self.resolver.handle_wire(data, tcp=True)
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("lab DNS: failed on a TCP connection")
        finally:
            self._conns.discard(writer)
            writer.close()

