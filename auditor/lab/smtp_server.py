"""A minimal ESMTP server per MX address: banner, EHLO, STARTTLS, then MAIL/RCPT/DATA kept in memory.

Enough of RFC 5321 + RFC 3207 for a scanner to test STARTTLS and TLS quality, and for a real client
(`smtplib`) to deliver a message, which lands in the shared `mailbox` list for notification tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from dataclasses import dataclass, field

from auditor.lab.listener import TcpListener

MAX_LINE = 4096  # RFC 5321 allows 1000 octets; be lenient, but bounded
MAX_MESSAGE = 10 * 1024 * 1024
MAX_RECIPIENTS = 100
IDLE_TIMEOUT = 30.0


@dataclass
class Delivered:
    """One message accepted by a lab MX."""

    server: str  # the MX host name that accepted it
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    tls: bool
    received_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


class SmtpServer(TcpListener):
    def __init__(
        self,
        hostname: str,
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None,
        mailbox: list[Delivered],
        implicit_tls: bool = False,
    ) -> None:
        """`tls_context` None: no STARTTLS offered. `implicit_tls`: TLS from the first byte (port 465)."""
        super().__init__(host, port)
        self.hostname = hostname
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.mailbox = mailbox

    def listen_tls(self) -> ssl.SSLContext | None:
        return self.tls_context if self.implicit_tls else None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _Session(self, reader, writer).run()


class _Session:
    def __init__(self, server: SmtpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.tls = server.implicit_tls
        self.greeted = False
        self.mail_from: str | None = None
        self.rcpt: list[str] = []

    async def reply(self, *lines: str) -> None:
        *first, last = lines
        text = "".join(f"{line[:3]}-{line[4:]}\r\n" for line in first) + f"{last}\r\n"
        self.writer.write(text.encode("utf-8", "replace"))
        await self.writer.drain()

    async def readline(self) -> bytes | None:
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), IDLE_TIMEOUT)
        except asyncio.LimitOverrunError:
            return None
        if len(line) > MAX_LINE:
            return None
        return line

    def ehlo_lines(self, client: str) -> list[str]:
        lines = [f"250 {self.server.hostname} greets {client}", "250 PIPELINING", f"250 SIZE {MAX_MESSAGE}",
                 "250 8BITMIME", "250 ENHANCEDSTATUSCODES"]
        if self.server.tls_context is not None and not self.tls:
            lines.append("250 STARTTLS")
        return lines

    async def run(self) -> None:
        await self.reply(f"220 {self.server.hostname} ESMTP lab")
        while True:
            raw = await self.readline()
            if raw is None:
                await self.reply("500 5.5.2 line too long")
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.greeted = True
                self.mail_from, self.rcpt = None, []
                if verb == "HELO":
                    await self.reply(f"250 {self.server.hostname}")
                else:
                    await self.reply(*self.ehlo_lines(arg.strip() or "client"))
            elif verb == "STARTTLS":
                if self.server.tls_context is None:
                    await self.reply("502 5.5.1 command not implemented")
                elif self.tls:
                    await self.reply("503 5.5.1 TLS already active")
                else:
                    await self.reply("220 2.0.0 ready to start TLS")
                    await self.writer.start_tls(self.server.tls_context)
                    # RFC 3207: the client must start over with EHLO.
                    self.tls, self.greeted, self.mail_from, self.rcpt = True, False, None, []
            elif verb == "NOOP":
                await self.reply("250 2.0.0 OK")
            elif verb == "RSET":
                self.mail_from, self.rcpt = None, []
                await self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                await self.reply("221 2.0.0 bye")
                return
            elif verb == "MAIL":
                if not self.greeted:
                    await self.reply("503 5.5.1 EHLO first")
                elif not arg.upper().startswith("FROM:"):
                    await self.reply("501 5.5.4 syntax: MAIL FROM:<address>")
                else:
                    self.mail_from, self.rcpt = _address(arg[5:]), []
                    await self.reply("250 2.1.0 OK")
            elif verb == "RCPT":
                if self.mail_from is None:
                    await self.reply("503 5.5.1 MAIL first")
                elif not arg.upper().startswith("TO:"):
                    await self.reply("501 5.5.4 syntax: RCPT TO:<address>")
                elif len(self.rcpt) >= MAX_RECIPIENTS:
                    await self.reply("452 4.5.3 too many recipients")
                else:
                    self.rcpt.append(_address(arg[3:]))
                    await self.reply("250 2.1.5 OK")
            elif verb == "DATA":
                if not self.rcpt or self.mail_from is None:
                    await self.reply("503 5.5.1 RCPT first")
                    continue
                await self.reply("354 end data with <CR><LF>.<CR><LF>")
                data = await self._read_data()
                if data is None:
                    await self.reply("552 5.3.4 message too big")
                else:
                    self.server.mailbox.append(
                        Delivered(self.server.hostname, self.mail_from, list(self.rcpt), data, self.tls)
                    )
                    await self.reply("250 2.0.0 OK queued")
                self.mail_from, self.rcpt = None, []
            elif verb in ("VRFY", "EXPN"):
                await self.reply("252 2.1.5 cannot verify")
            else:
                await self.reply("500 5.5.2 command not recognized")

    async def _read_data(self) -> bytes | None:
        """Read up to the lone dot; None when over MAX_MESSAGE (the rest is drained and discarded)."""
        chunks: list[bytes] = []
        size = 0
        too_big = False
        while True:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), IDLE_TIMEOUT)
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b".."):
                line = line[1:]  # RFC 5321 4.5.2 dot-unstuffing
            size += len(line)
            if size > MAX_MESSAGE:
                too_big = True
                chunks.clear()
            if not too_big:
                chunks.append(line)
        return None if too_big else b"".join(chunks)


def _address(text: str) -> str:
    text = text.strip()
    return text[1:].partition(">")[0] if text.startswith("<") else text.split(" ")[0]
