"""A latency relay for the lab: every server keeps its public address, but its traffic is delayed.

`Lab(rtt_ms=50)` moves each server to a private port on its own address and puts a `Relay` on the public
one (`interpose`). The relay delays every byte (TCP) or datagram (UDP) by RTT/2 in each direction, so a
DNS query costs one RTT and a TCP exchange one RTT per round trip, as on a real network.

The kernel completes the TCP handshake before any user-space code sees the connection, so `connect()`
returns at once; the relay charges that handshake to the first bytes instead: it opens the upstream
connection 1.5 RTT after accepting (SYN, SYN-ACK, then the ACK reaching the server). A server-first
protocol's banner then arrives 2 RTT after the client started connecting, and a client-first protocol's
first answer too — the same as on the wire. Order is preserved; buffers are bounded (backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, cast

from auditor.lab.dns_server import DnsServer
from auditor.lab.listener import close_server

PRIVATE_PORT_OFFSET = 20000  # where a relayed server moves: same address, this many ports up (or down)
HANDSHAKE_RTTS = 1.5  # round trips the relay waits before opening the upstream connection
QUEUE_CHUNKS = 64  # per direction, of up to CHUNK bytes: at most ~4 MB in flight per connection
CHUNK = 65536
UDP_FLOWS = 4096  # client addresses remembered by a UDP relay (oldest forgotten first)
UDP_IDLE = 30.0
MAX_LIFE = 300.0  # a relayed TCP connection is closed after this long, whatever it carries


class _Server(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def private_port(port: int) -> int:
    return port + PRIVATE_PORT_OFFSET if port + PRIVATE_PORT_OFFSET <= 65535 else port - PRIVATE_PORT_OFFSET


class Relay:
    """Listens on (host, port) over TCP (and UDP when `udp`), forwards to (host, backend_port) with
    `one_way` seconds of delay each way. Counts what it relayed (`connections`, `datagrams`)."""

    def __init__(self, host: str, port: int, backend_port: int, one_way: float, *, udp: bool = False) -> None:
        self.host, self.port, self.backend_port = host, port, backend_port
        self.one_way = one_way
        self.udp = udp
        self.connections = 0
        self.datagrams = 0
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._flows: OrderedDict[tuple[str, int], _UpstreamFlow] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        self._tcp = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True,
                                               limit=CHUNK)
        if self.udp:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: _PublicUdp(self),
                                                               local_addr=(self.host, self.port))
            self._udp = cast(asyncio.DatagramTransport, transport)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        for flow in self._flows.values():
            flow.close()
        self._flows.clear()
        for task in list(self._tasks):
            task.cancel()
        await close_server(self._tcp)

    # --- TCP -----------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        upstream: asyncio.StreamWriter | None = None
        to_server: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        try:
            reading = asyncio.ensure_future(_read_into(reader, to_server, self.one_way))
            await asyncio.sleep(HANDSHAKE_RTTS * 2 * self.one_way)
            try:
                up_reader, upstream = await asyncio.open_connection(self.host, self.backend_port, limit=CHUNK)
            except OSError:
                reading.cancel()
                await asyncio.wait([reading])
                return  # nothing listens behind us: the client sees the connection close
            to_client: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
            pumps = [reading,
                     asyncio.ensure_future(_write_from(to_server, upstream)),
                     asyncio.ensure_future(_read_into(up_reader, to_client, self.one_way)),
                     asyncio.ensure_future(_write_from(to_client, writer))]
            try:
                # Until both directions ended, one failed (a reset), or the connection lived too long.
                await asyncio.wait(pumps, timeout=MAX_LIFE, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for p in pumps:
                    p.cancel()
                await asyncio.wait(pumps)
                for p in pumps:  # consumed here, so asyncio does not log them as never retrieved
                    if not p.cancelled():
                        p.exception()
        except (OSError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            if upstream is not None:
                upstream.close()
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    # --- UDP -----------------------------------------------------------------------------------------------
    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams += 1
        flow = self._flows.get(addr)
        if flow is None or flow.closed:
            flow = _UpstreamFlow(self, addr)
            self._flows[addr] = flow
            while len(self._flows) > UDP_FLOWS:
                _, old = self._flows.popitem(last=False)
                old.close()
            opening = asyncio.ensure_future(flow.open())
            self._opening.add(opening)  # a reference, so the task is not collected mid-flight
            opening.add_done_callback(self._opening.discard)
        else:
            self._flows.move_to_end(addr)
        loop = asyncio.get_running_loop()
        loop.call_later(self.one_way, flow.send, data)

    def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data, addr)


async def _read_into(reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]], delay: float) -> None:
    """Stamp each chunk with the time it may leave; b"" marks the end of the stream."""
    while True:
        data = await reader.read(CHUNK)
        await queue.put((time.monotonic() + delay, data))
        if not data:
            return


async def _write_from(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
    while True:
        due, data = await queue.get()
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if not data:
            if writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


class _PublicUdp(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._datagram(data, addr)


class _UpstreamFlow(asyncio.DatagramProtocol):
    """One client's datagrams to the backend, from a socket of their own so replies find their way back."""

    def __init__(self, relay: Relay, client: tuple[str, int]) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.closed = False
        self._idle: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, remote_addr=(self.relay.host, self.relay.backend_port))
        except OSError:
            self.close()
            return
        self.transport = cast(asyncio.DatagramTransport, transport)
        for data in self.pending:
            self.transport.sendto(data)
        self.pending.clear()
        self._touch()

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)
            self._touch()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        asyncio.get_running_loop().call_later(self.relay.one_way, self.relay._reply, data, self.client)
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(UDP_IDLE, self.close)

    def close(self) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self.transport is not None:
            self.transport.close()


def interpose(servers: Sequence[_Server], rtt: float) -> list[_Server]:
    """Move every server that has a `host` and `port` to its private port and put a relay with `rtt`
    seconds of round-trip time on the public one (UDP too for the DNS server). Call before starting them."""
    relayed: list[_Server] = []
    for server in servers:
        host, port = getattr(server, "host", None), getattr(server, "port", None)
        if not isinstance(host, str) or not isinstance(port, int):
            continue  # a server we do not know how to move stays as it is (undelayed)
        backend = private_port(port)
        server.port = backend  # type: ignore[attr-defined]
        relayed.append(Relay(host, port, backend, rtt / 2, udp=isinstance(server, DnsServer)))
    return [*servers, *relayed]


def relays(servers: Sequence[object]) -> list[Relay]:
    """The relays among a lab's servers (for counting connections and datagrams)."""
    return [s for s in servers if isinstance(s, Relay)]
