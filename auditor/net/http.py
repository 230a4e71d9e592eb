"""HTTP(S) through httpx, with names resolved by our DNS layer, sizes capped and no redirects followed.

httpx would resolve names with the system resolver; instead we connect to the address `net.dns` found and
keep the name for SNI, certificate verification and the Host header (httpcore's `sni_hostname`).

Bodies are read raw and decoded here (gzip, deflate), in bounded steps with the size cap counted on the
decoded bytes: servers compress policies, pages and RDAP JSON, and a small hostile body may expand a
thousandfold.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from auditor.net.dns import DnsError, Resolver

USER_AGENT = "auditor/0.1 (+GDPR compliance audit; outside view)"
MAX_HEADERS = 100
# What we can decode. Said explicitly: httpx would also offer br/zstd when those packages happen to be installed.
ACCEPT_ENCODING = "gzip, deflate"
ENCODED_SLACK = 64 * 1024  # compressed bytes read beyond the cap (an incompressible body grows a little)


@dataclass
class HttpResult:
    url: str
    ip: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, first value wins
    body: bytes = b""
    truncated: bool = False  # the body exceeded the cap (the fetch is then an error for strict callers)
    error: str | None = None  # set when no HTTP answer could be obtained

    def evidence(self) -> dict[str, Any]:
        return {"url": self.url, "ip": self.ip, "status": self.status,
                "headers": {k: v[:300] for k, v in list(self.headers.items())[:30]}, "truncated": self.truncated,
                "error": self.error}


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else certifi.where())


class HttpFetcher:
    """One per scan: a shared httpx client, our resolver, our CA bundle and the port map."""

    def __init__(self, resolver: Resolver, *, ca_bundle: Path | None, timeout: float,
                 port_map: dict[int, int] | None = None, refuse: Callable[[str], str | None] | None = None) -> None:
        """`refuse`: why an address must not be fetched from (e.g. not public), or None when it may be."""
        self.resolver = resolver
        self.timeout = timeout
        self.port_map = port_map or {}
        self.refuse = refuse
        self._verified = httpx.AsyncClient(verify=ssl_context(ca_bundle), timeout=timeout, follow_redirects=False,
                                           trust_env=False)

    async def aclose(self) -> None:
        await self._verified.aclose()

    async def get(self, url: str, *, max_bytes: int = 65536, headers: dict[str, str] | None = None) -> HttpResult:
        """GET with certificate verification; never raises for network trouble: see `HttpResult.error`."""
        return await self.request("GET", url, max_bytes=max_bytes, headers=headers)

    async def post(self, url: str, content: bytes, *, max_bytes: int = 65536,
                   headers: dict[str, str] | None = None) -> HttpResult:
        """POST `content` (e.g. an RFC 3161 time-stamp query); like `get`, never raises for network trouble."""
        return await self.request("POST", url, content=content, max_bytes=max_bytes, headers=headers)

    async def request(self, method: str, url: str, *, content: bytes | None = None, max_bytes: int = 65536,
                      headers: dict[str, str] | None = None) -> HttpResult:
        result = HttpResult(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("http", "https") or not host:
            result.error = "only http(s) URLs with a host name are fetched"
            return result
        try:
            ip = await self._address(host)
        except DnsError as exc:
            result.error = exc.reason if "NXDOMAIN" not in exc.reason else f"{host}: no such name"
            return result
        if ip is None:
            result.error = f"{host} has no address"
            return result
        result.ip = ip
        refused = self.refuse(ip) if self.refuse else None
        if refused:
            result.error = f"{host} ({ip}): {refused}: not fetched"
            return result
        default = 443 if parts.scheme == "https" else 80
        port = self.port_map.get(parts.port or default, parts.port or default)
        netloc = f"[{ip}]" if ":" in ip else ip
        target = f"{parts.scheme}://{netloc}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        request_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT,
                           "Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self._verified.stream(method, target, headers=request_headers, content=content,
                                                 extensions={"sni_hostname": host}) as response:
                    result.status = response.status_code
                    for name, value in list(response.headers.items())[:MAX_HEADERS]:
                        result.headers.setdefault(name.lower(), value)
                    decoder = BoundedDecoder(result.headers.get("content-encoding", ""), max_bytes)
                    async for chunk in response.aiter_raw():
                        if not decoder.feed(chunk):
                            break
                    decoder.finish()
                    result.body, result.truncated = decoder.body, decoder.truncated
        except DecodingError as exc:
            result.error = str(exc)
        except TimeoutError:
            result.error = f"timeout after {self.timeout * 2:g}s fetching {url}"
        except httpx.HTTPError as exc:
            result.error = _describe(exc)
        return result

    async def _address(self, host: str) -> str | None:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        v4, v6 = await self.resolver.addresses(host)
        addresses = v4 or v6
        return addresses[0] if addresses else None


class DecodingError(Exception):
    """The body is in a Content-Encoding we do not speak, or its compressed data is corrupt."""


class BoundedDecoder:
    """A body's Content-Encoding undone chunk by chunk, never producing more than `limit` + 1 bytes: the cap is
    on what the parsers would see, and zlib's `max_length` keeps each step small (a gzip bomb stops at the cap
    instead of filling memory)."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise DecodingError(f"unsupported Content-Encoding {content_encoding[:60]!r} (asked for {ACCEPT_ENCODING})")
        self.coding = codings[0] if codings else None
        self.limit = limit
        self.truncated = False
        self._raw = 0
        self._raw_limit = limit + (ENCODED_SLACK if self.coding else 0)
        self._out: list[bytes] = []
        self._size = 0
        wbits = 16 + zlib.MAX_WBITS if self.coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits) if self.coding else None

    @property
    def body(self) -> bytes:
        return b"".join(self._out)[:self.limit]

    def _keep(self, data: bytes) -> bool:
        self._out.append(data)
        self._size += len(data)
        self.truncated = self.truncated or self._size > self.limit
        return not self.truncated

    def feed(self, chunk: bytes) -> bool:
        """Add raw bytes; False once the decoded body is over the cap (stop reading)."""
        first = self._raw == 0
        self._raw += len(chunk)
        if self._raw > self._raw_limit:
            self.truncated = True
            return False
        if self._zlib is None:
            return self._keep(chunk)
        data = chunk
        while data:
            try:
                out = self._zlib.decompress(data, self.limit + 1 - self._size)
            except zlib.error as exc:
                if self.coding == "deflate" and first:
                    # "deflate" is zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw deflate.
                    self.coding, self._zlib = "deflate (raw)", zlib.decompressobj(-zlib.MAX_WBITS)
                    first = False
                    continue
                raise DecodingError(f"corrupt {self.coding} body: {exc}") from exc
            if not self._keep(out):
                return False
            data = self._zlib.unconsumed_tail
        return True

    def finish(self) -> None:
        """The end of the body: whatever zlib still holds (all input was consumed, so at most a few bytes)."""
        if self._zlib is not None and not self.truncated:
            self._keep(self._zlib.flush())


def _describe(exc: httpx.HTTPError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not valid: {cause.verify_message or cause}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
