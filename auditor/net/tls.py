"""TLS scans through sslyze, always with an explicit IP (sslyze never resolves names for us), and a quick
direct handshake for the opportunistic probes.

`TlsScanner.scan` scans one address of one endpoint (see `tls_enum`) in a worker thread, so the asyncio
scheduler keeps its deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from typing import Any

from auditor.net.tls_enum import TlsScan, enumerate_tls

__all__ = ["TlsScan", "TlsScanner", "permissive_context", "tls_hello"]


def permissive_context() -> ssl.SSLContext:
    """What an opportunistic client accepts: any certificate, any version. Trust is judged separately."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):  # a build without SECLEVEL syntax keeps its defaults
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


async def tls_hello(host: str, ip: str, port: int, timeout: float) -> str | None:
    """One quick direct-TLS handshake; the reason it failed, or None. sslyze's connectivity test retries
    several client profiles with full timeouts each, so a silent or non-TLS port would eat the deadline."""
    writer = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, ssl=permissive_context(), server_hostname=host,
                                    ssl_handshake_timeout=timeout), timeout * 1.5)
        return None
    except TimeoutError:
        return f"no TLS handshake within {timeout:g}s (not a TLS service, or a stalled server)"
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or exc}"
    except OSError as exc:
        detail = exc.strerror or str(exc) or type(exc).__name__
        return f"connection failed during the TLS handshake ({detail}): not a TLS service?"
    finally:
        if writer is not None:
            writer.close()


class TlsScanner:
    """The run's TLS scans: at most `scans` at once (each holds `connections` handshake threads and their
    buffers: this bounds memory), each with at most `connections` handshakes in flight to its address."""

    def __init__(self, scans: int, connections: int) -> None:
        self.connections = connections
        self._slots = threading.BoundedSemaphore(scans)

    async def scan(self, host: str, ip: str, port: int, *, starttls: bool, timeout: float,
                   deadline: float) -> TlsScan:
        """Scan one address; never raises for network trouble: the reason is in `TlsScan.error`. The deadline
        counts from the moment the scan gets its slot, so a long queue does not eat it."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        done: asyncio.Future[TlsScan] = loop.create_future()
        cancelled = threading.Event()

        def settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
            if future.done():  # the deadline passed: nobody is waiting any more
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        def tell(future: asyncio.Future[Any], result: Any, exc: BaseException | None = None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, future, result, exc)

        def run() -> None:
            with self._slots:
                if cancelled.is_set():
                    return
                tell(started, None)
                try:
                    tell(done, enumerate_tls(TlsScan(host, ip, port, starttls), timeout, self.connections,
                                             cancelled))
                except BaseException as exc:  # handed to the awaiting coroutine, as asyncio.to_thread would
                    tell(done, None, exc)

        # A thread of its own that nobody joins: sslyze's handshakes cannot be interrupted, and a server that
        # stalls each connection would hold a pool worker (and `asyncio.run`'s exit) past every deadline.
        # Once `cancelled` is set the jobs not yet started are skipped, so the thread and its slot end soon.
        threading.Thread(target=run, name=f"tls-{ip}:{port}", daemon=True).start()
        try:
            await started
            return await asyncio.wait_for(done, deadline)
        except TimeoutError:
            return TlsScan(host, ip, port, starttls, error=f"TLS scan exceeded its {deadline:g}s deadline")
        finally:
            cancelled.set()
