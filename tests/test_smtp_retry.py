"""The STARTTLS probe asks again once after a transient refusal (RFC 5321 4yz, or a reset before the banner),
and never after a permanent one — against a real SMTP listener on loopback."""

from __future__ import annotations

import asyncio

import pytest

from auditor.net.smtp import probe_starttls

BUSY = b"421 4.7.0 mx.example Too many connections, try again later\r\n"
REFUSED = b"554 5.7.1 mx.example No SMTP service here\r\n"


async def converse(first: bytes | None, connections: list[int]) -> tuple[str, int]:
    """A listener whose first connection gets `first` (None: reset before any banner), later ones a session
    without STARTTLS. Returns the probe's error or "ok", and how many connections it saw."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if len(connections) == 1:
            if first is None:
                writer.transport.abort()  # RST, not FIN
                return
            writer.write(first)
            await writer.drain()
            writer.close()
            return
        writer.write(b"220 mx.example ESMTP\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"EHLO"):
                writer.write(b"250-mx.example\r\n250 PIPELINING\r\n")
            elif line.upper().startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        probe = await probe_starttls("127.0.0.1", port, "mx.example", timeout=3, retry_delay=0.1)
    if probe.error is None:
        assert probe.ehlo == ["PIPELINING"] and not probe.starttls_offered
    return probe.error or f"ok after {probe.attempts}", len(connections)


@pytest.mark.parametrize("first", [BUSY, None], ids=["421", "reset"])
def test_transient_refusal_is_asked_again(first: bytes | None) -> None:
    assert asyncio.run(converse(first, [])) == ("ok after 2", 2)


def test_permanent_refusal_is_not_asked_again() -> None:
    error, connections = asyncio.run(converse(REFUSED, []))
    assert "554" in error and connections == 1


def test_retries_are_bounded() -> None:
    seen: list[int] = []

    async def always_busy() -> str | None:
        async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(1)
            writer.write(BUSY)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            probe = await probe_starttls("127.0.0.1", server.sockets[0].getsockname()[1], "mx.example",
                                         timeout=3, retry_delay=0.1)
        assert probe.attempts == 2 and any(line.startswith("-- transient") for line in probe.transcript)
        return probe.error

    error = asyncio.run(always_busy())
    assert error and "421" in error and len(seen) == 2
