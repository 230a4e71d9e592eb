"""A listener for app protocols the lab does not speak (e.g. Threema's chat port): it accepts the TCP
connection, reads and discards, and never answers, as a non-TLS service does to a TLS ClientHello."""

from __future__ import annotations

import asyncio
import contextlib

IDLE_TIMEOUT = 5.0
MAX_READ = 64 * 1024


class SilentServer:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
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
            received = 0
            while received < MAX_READ:
                data = await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT)
                if not data:
                    break
                received += len(data)
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()
