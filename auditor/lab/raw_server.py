"""A listener for app protocols the lab does not model (e.g. Threema's chat port 5222): on the first bytes
from the client it answers with a short non-TLS greeting and closes, as a foreign protocol does to a TLS
ClientHello. A scanner then fails fast ("not TLS") instead of waiting for its timeout."""

from __future__ import annotations

import asyncio

from auditor.lab.listener import TcpListener

IDLE_TIMEOUT = 5.0
GREETING = b"\x00\x10lab-app-protocol\x00"


class RawServer(TcpListener):
    def __init__(self, host: str, port: int, greeting: bytes = GREETING) -> None:
        super().__init__(host, port)
        self.greeting = greeting

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT):
            writer.write(self.greeting)
            await writer.drain()
