"""The resolver's transport against real UDP servers on loopback: retransmission after a lost datagram, and the
cap on questions in flight (a burst of thousands must not overflow the resolver's queues)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dns.message
import dns.rrset
import pytest

from auditor.net.dns import DnsError, Resolver, retransmit_schedule


def test_retransmit_schedule_doubles_and_fits_the_budget() -> None:
    assert retransmit_schedule(10) == [1, 2, 4, 3]
    assert retransmit_schedule(3) == [1, 2]
    assert retransmit_schedule(0.5) == [0.5]
    assert sum(retransmit_schedule(7.25)) == pytest.approx(7.25)


@dataclass
class UdpServer:
    """Answers every A question with 192.0.2.1 after `delay`; drops the first `drop` datagrams of each
    question; records how many questions it held at once."""

    delay: float = 0.0
    drop: int = 0
    stray: bool = False  # first send: answer another question with the same ID, as a stray late answer would
    port: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    outstanding: int = 0
    peak: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def start(self) -> UdpServer:
        ready = threading.Event()

        server = self

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                query = dns.message.from_wire(data)
                name = query.question[0].name.to_text()
                server.seen[name] = server.seen.get(name, 0) + 1
                if server.seen[name] <= server.drop:
                    return
                if server.stray and server.seen[name] == 1:
                    other = dns.message.make_query("other.test", "A", id=query.id)
                    self.transport.sendto(dns.message.make_response(other).to_wire(), addr)  # type: ignore[attr-defined]
                    return
                server.outstanding += 1
                server.peak = max(server.peak, server.outstanding)
                server._loop.call_later(server.delay, self.reply, query, addr)

            def reply(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
                server.outstanding -= 1
                response = dns.message.make_response(query)
                response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1"))
                self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]

        async def serve() -> None:
            transport, _ = await self._loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
            self.port = transport.get_extra_info("sockname")[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture
def serve() -> Iterator[Callable[..., UdpServer]]:
    started: list[UdpServer] = []

    def start(**kwargs: float) -> UdpServer:
        started.append(UdpServer(**kwargs).start())  # type: ignore[arg-type]
        return started[-1]

    yield start
    for s in started:
        s.stop()


def test_a_lost_datagram_costs_a_second_not_the_timeout(serve: Callable[..., UdpServer]) -> None:
    server = serve(drop=1)
    resolver = Resolver(("127.0.0.1", server.port), timeout=8)
    t0 = time.monotonic()
    answer = asyncio.run(resolver.resolve("lossy.test", "A"))
    elapsed = time.monotonic() - t0
    assert answer.records == ["192.0.2.1"]
    assert server.seen["lossy.test."] == 2  # asked again after the first send got no answer
    assert 0.9 < elapsed < 4, elapsed


def test_a_late_answer_to_the_first_send_is_taken(serve: Callable[..., UdpServer]) -> None:
    """A slow resolver (1.5 s) answers the first send after we asked again at 1 s: that answer counts. A new
    socket per send would drop it and wait for the second answer, at 2.5 s."""
    server = serve(delay=1.5)
    resolver = Resolver(("127.0.0.1", server.port), timeout=8)
    t0 = time.monotonic()
    assert asyncio.run(resolver.resolve("slow.test", "A")).records == ["192.0.2.1"]
    assert server.seen["slow.test."] == 2 and time.monotonic() - t0 < 2.2


def test_an_answer_to_another_question_is_not_taken(serve: Callable[..., UdpServer]) -> None:
    server = serve(stray=True)
    answer = asyncio.run(Resolver(("127.0.0.1", server.port), timeout=8).resolve("asked.test", "A"))
    assert answer.records == ["192.0.2.1"] and server.seen["asked.test."] == 2


def test_a_server_that_never_answers_is_an_error_within_the_timeout(serve: Callable[..., UdpServer]) -> None:
    server = serve(drop=100)
    resolver = Resolver(("127.0.0.1", server.port), timeout=3.5)
    t0 = time.monotonic()
    with pytest.raises(DnsError, match="timeout"):
        asyncio.run(resolver.resolve("dead.test", "A"))
    assert 3.4 < time.monotonic() - t0 < 5
    assert server.seen["dead.test."] == 3  # sends at 0, 1 and 3 s


@pytest.mark.parametrize("cap", [4, 16])
def test_questions_in_flight_are_capped(serve: Callable[..., UdpServer], cap: int) -> None:
    server = serve(delay=0.3)
    resolver = Resolver(("127.0.0.1", server.port), timeout=8, in_flight=cap)

    async def burst() -> list[list[str]]:
        answers = await asyncio.gather(*(resolver.resolve(f"n{i}.burst.test", "A") for i in range(32)))
        return [a.records for a in answers]

    assert asyncio.run(burst()) == [["192.0.2.1"]] * 32
    assert server.peak == cap  # never more than the cap, and the cap is reached: the server sees the burst
