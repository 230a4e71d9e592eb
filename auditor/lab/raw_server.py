"""A listener for app protocols the lab does not model (e.g. Threema's chat port 5222): on the first bytes
from the client it answers with a short non-TLS greeting and closes, as a foreign protocol does to a TLS
ClientHello. A scanner then fails fast ("not TLS") instead of waiting for its timeout."""

from __future__ import annotations

import asyncio
import contextlib

IDLE_TIMEOUT = 5.0
GREETING = b"\x00\x10lab-app-protocol\x00"


class RawServer:
    def __init__(self, host: str, port: int, greeting: bytes = GREETING) -> None:
        self.host, self.port, self.greeting = host, port, greeting
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            if await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT):
                writer.write(self.greeting)
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()
