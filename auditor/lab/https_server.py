"""Minimal HTTP/1.1 over TLS (and plain HTTP) for lab web endpoints.

One listener per (address, port). Over TLS the certificate is chosen by SNI among the host names that live
on the address (the first one when the client sends no SNI). Requests are routed by (host, path) to a fixed
response; anything else is a 404. Every request received is appended to `requests` (method, host, path,
headers, body), which is how webhook notifications are observed in tests. Hosts listed in `compressed`
answer in gzip to clients that accept it, as most real web servers do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from auditor.lab.listener import TcpListener

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 15.0
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Route:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    redirect_to_https: bool = False  # 301 to the same host and path over https (plain-HTTP listeners)


@dataclass
class Request:
    scheme: str
    server: str  # "ip:port" that received it
    method: str
    host: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())


class HttpServer(TcpListener):
    """`contexts` maps host name -> SSLContext (TLS) or is empty (plain HTTP)."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[tuple[str, str], Route],
        requests: list[Request],
        contexts: Mapping[str, ssl.SSLContext] | None = None,
        default: Route | None = None,
        compressed: frozenset[str] = frozenset(),
        handlers: Mapping[tuple[str, str], Callable[[Request], Route]] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.routes = routes
        self.handlers = dict(handlers or {})  # (host, path) -> an answer computed from the request (the lab TSA)
        self.requests = requests
        self.contexts = dict(contexts or {})
        self.default = default
        self.compressed = compressed  # host names whose answers are gzipped for clients that accept gzip

    def listen_tls(self) -> ssl.SSLContext | None:
        if not self.contexts:
            return None
        first = next(iter(self.contexts.values()))

        def pick(sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            # Unknown names get the default certificate, as real virtual hosting does.
            if server_name and server_name.lower() in self.contexts:
                sslobj.context = self.contexts[server_name.lower()]

        first.sni_callback = pick
        return first

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await self._one(reader, writer):
            pass

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; True to keep the connection for another."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                await self._send(writer, "GET", Route(400, body=b"bad request\n"), close=True)
            return False
        if len(head) > MAX_HEAD:
            await self._send(writer, "GET", Route(400, body=b"header too large\n"), close=True)
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._send(writer, "GET", Route(400, body=b"bad request line\n"), close=True)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            await self._send(writer, method, Route(413, body=b"body too large\n"), close=True)
            return False
        body = await asyncio.wait_for(reader.readexactly(int(length)), IDLE_TIMEOUT) if int(length) else b""
        host = headers.get("host", "").lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path = target.split("?", 1)[0]
        self.requests.append(Request(
            "https" if self.contexts else "http", f"{self.host}:{self.port}", method, host, target, headers, body
        ))
        handler = self.handlers.get((host, path))
        route = handler(self.requests[-1]) if handler else (
            self.routes.get((host, target)) or self.routes.get((host, path)) or self.routes.get((host, "*"))
            or self.default
            or Route(404, body=b"not found\n")
        )
        if route.redirect_to_https:
            route = Route(301, (("Location", f"https://{host}{target}"),), b"moved\n")
        elif host in self.compressed and route.body and "gzip" in headers.get("accept-encoding", "").lower():
            route = Route(route.status, (*route.headers, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")),
                          gzip.compress(route.body))
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        await self._send(writer, method, route, close)
        return not close

    async def _send(self, writer: asyncio.StreamWriter, method: str, route: Route, close: bool) -> None:
        reason = REASONS.get(route.status, "Unknown")
        names = {k.lower() for k, _ in route.headers}
        head = [f"HTTP/1.1 {route.status} {reason}", "Server: auditor-lab"]
        head += [f"{k}: {v}" for k, v in route.headers]
        if "content-type" not in names:
            head.append("Content-Type: text/plain; charset=utf-8")
        head.append(f"Content-Length: {len(route.body)}")
        head.append("Connection: close" if close else "Connection: keep-alive")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(route.body)
        await writer.drain()
