"""A minimal SMTP client for the STARTTLS probe: banner, EHLO, STARTTLS, handshake — bounded in size and time.

sslyze also speaks STARTTLS, but it reports "no STARTTLS" and "server unreachable" the same way; this probe
keeps them apart (the first is a `fail`, the second an `error`) and records the banner and capabilities.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

from auditor.net.tls import permissive_context

MAX_LINE = 1024  # RFC 5321 §4.5.3.1.5: 512 octets a reply line; allow slack, cut the rest
MAX_LINES = 64
ATTEMPTS = 2  # a transient refusal (421 "too many connections", a reset before the banner) is asked again
RETRY_DELAY = 3.0  # seconds before asking again


class SmtpProtocolError(Exception):
    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # RFC 5321 §4.2.1: a 4yz reply means "try again later"


@dataclass
class SmtpProbe:
    ip: str
    port: int
    banner: str = ""
    ehlo: list[str] = field(default_factory=list)
    starttls_offered: bool = False
    tls_established: bool = False
    tls_version: str | None = None
    cipher: str | None = None
    error: str | None = None  # set when the conversation could not finish (network, timeout, garbage)
    transient: bool = False  # the error may go away if asked again later
    attempts: int = 1
    transcript: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port, "banner": self.banner, "ehlo": self.ehlo,
                "starttls_offered": self.starttls_offered, "tls_version": self.tls_version,
                "cipher": self.cipher, "attempts": self.attempts, "transcript": self.transcript[:40]}


async def _reply(reader: asyncio.StreamReader, probe: SmtpProbe) -> tuple[int, list[str]]:
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        raw = await reader.readline()
        if not raw:
            raise SmtpProtocolError("the server closed the connection", transient=not probe.banner)
        text = raw[:MAX_LINE].decode("ascii", "replace").rstrip("\r\n")
        probe.transcript.append("S: " + text[:200])
        if len(text) < 3 or not text[:3].isdigit():
            raise SmtpProtocolError(f"not an SMTP reply: {text[:80]!r}")
        lines.append(text[4:])
        if len(text) == 3 or text[3] == " ":
            return int(text[:3]), lines
    raise SmtpProtocolError(f"reply longer than {MAX_LINES} lines")


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str,
                   probe: SmtpProbe) -> tuple[int, list[str]]:
    probe.transcript.append("C: " + line)
    writer.write(line.encode("ascii") + b"\r\n")
    await writer.drain()
    return await _reply(reader, probe)


async def _converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, probe: SmtpProbe,
                    server_name: str, ehlo_name: str, timeout: float) -> None:
    code, lines = await asyncio.wait_for(_reply(reader, probe), timeout)
    probe.banner = (lines[0] if lines else "")[:200]
    if code != 220:
        raise SmtpProtocolError(f"the server refused the session: {code} {probe.banner}", transient=code // 100 == 4)
    code, lines = await asyncio.wait_for(_command(reader, writer, f"EHLO {ehlo_name}", probe), timeout)
    if code != 250:
        raise SmtpProtocolError(f"EHLO refused: {code}", transient=code // 100 == 4)
    probe.ehlo = [line[:100] for line in lines[1:]]
    probe.starttls_offered = any(c.upper().split(" ")[0] == "STARTTLS" for c in probe.ehlo)
    if not probe.starttls_offered:
        return
    code, lines = await asyncio.wait_for(_command(reader, writer, "STARTTLS", probe), timeout)
    if code != 220:
        probe.transcript.append(f"STARTTLS refused with {code}")
        return
    await asyncio.wait_for(writer.start_tls(permissive_context(), server_hostname=server_name), timeout)
    ssl_obj = writer.get_extra_info("ssl_object")
    probe.tls_established = ssl_obj is not None
    if ssl_obj is not None:
        probe.tls_version = ssl_obj.version()
        probe.cipher = (ssl_obj.cipher() or (None,))[0]
    await asyncio.wait_for(_command(reader, writer, "QUIT", probe), timeout)


async def probe_starttls(ip: str, port: int, server_name: str, *, timeout: float,
                         ehlo_name: str = "auditor.invalid", retry_delay: float = RETRY_DELAY) -> SmtpProbe:
    """Talk SMTP up to a completed STARTTLS handshake, asking again once after a transient refusal. Never
    raises for network trouble: see `.error`; the transcript keeps every attempt."""
    earlier: list[str] = []
    probe = await _attempt(ip, port, server_name, timeout=timeout, ehlo_name=ehlo_name)
    while probe.error and probe.transient and probe.attempts < ATTEMPTS:
        earlier += [*probe.transcript, f"-- transient: {probe.error}; again in {retry_delay:g}s"]
        await asyncio.sleep(retry_delay)
        attempts = probe.attempts + 1
        probe = await _attempt(ip, port, server_name, timeout=timeout, ehlo_name=ehlo_name)
        probe.attempts = attempts
    probe.transcript = earlier + probe.transcript
    return probe


async def _attempt(ip: str, port: int, server_name: str, *, timeout: float, ehlo_name: str) -> SmtpProbe:
    probe = SmtpProbe(ip, port)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout * 3):
            reader, stream = await asyncio.wait_for(asyncio.open_connection(ip, port, limit=MAX_LINE * 4), timeout)
            writer = stream
            await _converse(reader, stream, probe, server_name, ehlo_name, timeout)
    except TimeoutError:
        if not probe.tls_established:
            probe.error = f"timeout after {timeout:g}s talking to {ip}:{port}"
    except ssl.SSLError as exc:
        # The server offered STARTTLS but no handshake completed: a real failure, not a probe error.
        probe.transcript.append(f"TLS handshake failed: {exc.reason or exc}")
    except (OSError, SmtpProtocolError, UnicodeError, ValueError) as exc:
        if not probe.tls_established:
            probe.error = f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else exc} ({ip}:{port})"
            # A reset before the banner is a busy server more often than a dead one.
            probe.transient = getattr(exc, "transient", isinstance(exc, ConnectionResetError))
    finally:
        if writer is not None:
            writer.close()
    return probe
