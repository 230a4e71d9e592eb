"""What every lab TCP server shares: listening, tracking connections, closing them all on stop, and
treating a client that goes away as normal (the scanner hangs up on purpose, often mid-handshake)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable

log = logging.getLogger(__name__)

# A client leaving early, a garbled handshake, a stop: all ordinary for a server probed by scanners.
CLIENT_GONE = (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError, ssl.SSLError,
               asyncio.CancelledError)


async def close_server(server: asyncio.Server | None, conns: Iterable[asyncio.StreamWriter] = ()) -> None:
    """Stop listening, hang up every open connection, then wait for the server (whatever it says on the way)."""
    if server is not None:
        server.close()
    for w in list(conns):
        w.close()
    if server is not None:
        with contextlib.suppress(Exception):
            await server.wait_closed()


class TcpListener:
    """Subclasses implement `serve(reader, writer)`; `listen_tls()` gives TLS from the first byte, if any."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    def listen_tls(self) -> ssl.SSLContext | None:
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self.listen_tls(),
                                                  reuse_address=True)

    async def stop(self) -> None:
        await close_server(self._server, self._conns)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            await self.serve(reader, writer)
        except CLIENT_GONE:
            pass
        except Exception:  # a lab bug must not kill the listener: log it, the scan sees a closed connection
            log.exception("lab %s %s:%s: connection failed", type(self).__name__, self.host, self.port)
        finally:
            self._conns.discard(writer)
            writer.close()
