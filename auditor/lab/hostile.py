"""Hostile lab providers: servers and records written to hurt a scanner (issue 8, "calm under hostility").

The world builder expresses *misconfigured* providers; this module adds *malicious or broken-on-purpose*
ones, which need behaviour no overlay key describes. `HostileLab` is a `Lab` whose catalog and overlay are
generated here (`write_hostile_files`) and whose servers on the hostile hosts are replaced by the ones below:

    tarpit      an MX that sends its banner one byte a second, forever
    silent      an MX that stalls after "220 ready to start TLS"; a web endpoint that accepts TCP and never
                answers a ClientHello (claims hosted there too)
    stall       a web endpoint that completes ordinary TLS handshakes but accepts and stalls every one that
                offers one or two cipher suites: a scanner that enumerates suites one handshake at a time
                (sslyze: hundreds of connections) meets a wall of timeouts
    hugepolicy  a 10 MB chunked MTA-STS policy (and web pages), sent as fast as the client reads
    bigtxt      60 KB TXT answers (UDP truncates, TCP carries them) for SPF, DMARC, MTA-STS and TLS-RPT
    loops       an MX target in a CNAME loop, SPF include loop, DMARC and MTA-STS CNAME loops
    badutf8     invalid UTF-8 in TXT records, the SMTP banner and EHLO, and certificate names
    htmljs      HTML/JS in every string the provider controls: banner, EHLO, TXT records, MTA-STS policy,
                HSTS header, security.txt, certificate subject and SAN, an MX target name, claim pages

and receivers that hurt whoever notifies them (issue 15), on hosts of their own (`NOTIFY_SINKS`):

    hooks.trickle.example   a webhook that answers one byte every DRIP_S seconds, status line included
    hooks.bomb.example      a webhook that answers 200 with a gzip body inflating to BOMB_BYTES
    smtp.endless.example    an SMTP server whose EHLO reply is `250-` lines without end

Everything lives under `.example` (RFC 2606) on the lab's loopback addresses. Every server bounds its own
lifetime, so a stopped test never leaves a tarpit behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import shutil
import ssl
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor.lab.listener import TcpListener
from auditor.lab.runner import Lab
from auditor.lab.tlsconf import server_context
from auditor.lab.world import OVERLAY, read_overlay

HOSTILE_IDS = ("tarpit", "silent", "stall", "hugepolicy", "bigtxt", "loops", "badutf8", "htmljs")
MAX_LIFE = 120.0  # seconds any hostile connection is kept before the lab drops it
FLOOD_BYTES = 10 * 1024 * 1024
FLOOD_CHUNK = 64 * 1024
BIG_TXT_RECORDS = 230  # x 250 octets: a ~60 KB answer, under the 64 KB DNS-over-TCP message limit
XSS = '<script>alert("xss")</script>'
XSS_ATTR = '"><img src=x onerror=alert(1)>'
STALL_BACKEND_OFFSET = 1  # the working server behind `stall`'s front listens on the next port
STALL_MAX_SUITES = 2  # `stall` answers no ClientHello offering this few cipher suites
BAD_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0\x80"  # lone bytes, a broken 2-byte sequence, an encoded surrogate
NOTIFY_SINKS = {"trickle": "hooks.trickle.example", "bomb": "hooks.bomb.example", "endless": "smtp.endless.example"}
DRIP_S = 0.5  # the trickling webhook's pace: one byte per DRIP_S seconds
BOMB_BYTES = 400 * 1024 * 1024  # what the gzip bomb inflates to (about 400 KB on the wire)


# --- data: catalog and overlay ---------------------------------------------------------------------------
def _company(name: str) -> dict[str, Any]:
    return {"legal_name": name, "country": "DE", "dpf_certified": "unknown"}


def hostile_catalog() -> dict[str, Any]:
    """Catalog entries (the providers.yaml format) of the hostile providers."""
    def mail(pid: str, name: str, **extra: Any) -> dict[str, Any]:
        return {"id": pid, "name": name, "kind": "mail", "company": _company(f"{name} GmbH"),
                "mail_domains": [f"{pid}.example"], **extra}

    return {"schema": "auditor.providers/1", "providers": [
        mail("tarpit", "Tarpit (hostile lab)"),
        mail("silent", "Silent (hostile lab)", endpoints={"webmail": ["webmail.silent.example"]},
             claims=[{"name": "2fa", "claimed": True, "evidence_url": "https://webmail.silent.example/2fa",
                      "evidence_text": "Two-factor authentication"}]),
        {"id": "stall", "name": "Stall After Handshake (hostile lab)", "kind": "chat",
         "company": _company("Stall GmbH"), "endpoints": {"api": ["api.stall.example"]}},
        mail("hugepolicy", "Huge Policy (hostile lab)", endpoints={"webmail": ["webmail.hugepolicy.example"]},
             claims=[{"name": "e2ee", "claimed": True,
                      "evidence_url": "https://webmail.hugepolicy.example/security",
                      "evidence_text": "End-to-end encryption"}]),
        mail("bigtxt", "Big TXT (hostile lab)"),
        mail("loops", "Loops (hostile lab)"),
        mail("badutf8", "Bad UTF-8 (hostile lab)", endpoints={"webmail": ["webmail.badutf8.example"]}),
        mail("htmljs", f"HTML {XSS} Mail (hostile lab)", endpoints={"webmail": ["webmail.htmljs.example"]},
             claims=[{"name": "e2ee", "claimed": True, "evidence_url": "https://www.htmljs.example/security",
                      "evidence_text": f"End-to-end encryption {XSS}"}]),
    ]}


def _quoted(raw: bytes) -> str:
    """One TXT character-string in presentation format, any byte allowed (RFC 1035 \\DDD escapes)."""
    out = []
    for b in raw:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def _big_txt(name: str, first: str) -> list[dict[str, str]]:
    """`first` plus filler strings: ~60 KB in one RRset."""
    records = [{"name": name, "type": "TXT", "value": _quoted(first.encode())}]
    for i in range(1, BIG_TXT_RECORDS):
        records.append({"name": name, "type": "TXT", "value": _quoted(f"filler {i:04d} ".encode().ljust(250, b"x"))})
    return records


def _txt(name: str, raw: bytes) -> dict[str, str]:
    return {"name": name, "type": "TXT", "value": _quoted(raw)}


def hostile_overlay(base: Path = OVERLAY) -> dict[str, Any]:
    """The lab overlay for the hostile providers: `base`'s defaults plus one entry per provider."""
    defaults = read_overlay(base).get("defaults") or {}
    d = "badutf8.example"
    providers: dict[str, Any] = {
        "tarpit": {"mx": [{"host": "mx.tarpit.example", "pref": 10}], "spf": "v=spf1 mx -all",
                   "dmarc": "v=DMARC1; p=reject"},
        "silent": {"mx": [{"host": "mx.silent.example", "pref": 10}], "spf": "v=spf1 mx -all"},
        "stall": {},
        "hugepolicy": {"mx": [{"host": "mx.hugepolicy.example", "pref": 10}], "mta_sts": {"mode": "enforce"}},
        "bigtxt": {"mx": [{"host": "mx.bigtxt.example", "pref": 10}], "records": [
            *_big_txt("bigtxt.example", "v=spf1 mx -all"),
            *_big_txt("_dmarc.bigtxt.example", "v=DMARC1; p=reject"),
            *_big_txt("_mta-sts.bigtxt.example", "v=STSv1; id=1"),
            *_big_txt("_smtp._tls.bigtxt.example", "v=TLSRPTv1; rua=mailto:r@bigtxt.example"),
        ]},
        "loops": {"mx": [{"host": "mx.loops.example", "pref": 10}], "records": [
            {"name": "loops.example", "type": "MX", "value": "20 mxloop.loops.example."},
            {"name": "mxloop.loops.example", "type": "CNAME", "value": "mxloop2.loops.example."},
            {"name": "mxloop2.loops.example", "type": "CNAME", "value": "mxloop.loops.example."},
            _txt("loops.example", b"v=spf1 include:spf-a.loops.example -all"),
            _txt("spf-a.loops.example", b"v=spf1 include:spf-b.loops.example -all"),
            _txt("spf-b.loops.example", b"v=spf1 include:loops.example redirect=spf-a.loops.example"),
            {"name": "_dmarc.loops.example", "type": "CNAME", "value": "_dmarc.loops.example."},
            {"name": "_mta-sts.loops.example", "type": "CNAME", "value": "_mta-sts2.loops.example."},
            {"name": "_mta-sts2.loops.example", "type": "CNAME", "value": "_mta-sts.loops.example."},
        ]},
        "badutf8": {"mx": [{"host": f"mx.{d}", "pref": 10}], "records": [
            _txt(d, b"v=spf1 mx " + BAD_UTF8 + b" -all"),
            _txt(f"_dmarc.{d}", b"v=DMARC1; p=reject; rua=mailto:" + BAD_UTF8 + b"@badutf8.example"),
            _txt(f"_mta-sts.{d}", b"v=STSv1; id=" + BAD_UTF8),
            _txt(f"_smtp._tls.{d}", b"v=TLSRPTv1; rua=mailto:" + BAD_UTF8 + b"@badutf8.example"),
        ]},
        "htmljs": {
            "mx": [{"host": "mx.htmljs.example", "pref": 10}],
            "spf": f"v=spf1 include:{XSS}.htmljs.example a:{XSS_ATTR} -all",
            "dmarc": f"v=DMARC1; p=reject; rua=mailto:{XSS_ATTR}@htmljs.example; ruf={XSS}",
            "tlsrpt": f"mailto:{XSS}@htmljs.example",
            "mta_sts": {"mode": "enforce", "mx": [XSS, XSS_ATTR]},
            "hsts": f"max-age=31536000; {XSS}",
            "records": [{"name": "htmljs.example", "type": "MX", "value": "20 <script>.htmljs.example."}],
        },
    }
    for o in providers.values():
        o.setdefault("lab_only", True)
        o.setdefault("country", "DE")
    # The notification receivers need only an address: a sink host gets one (its listeners are replaced).
    sinks = [*(defaults.get("http_sinks") or []), *NOTIFY_SINKS.values()]
    return {"defaults": {**defaults, "http_sinks": sinks}, "providers": providers, "zones": []}


def write_hostile_files(directory: Path) -> tuple[Path, Path]:
    """Write the hostile catalog and overlay into `directory`; returns (catalog, overlay)."""
    directory.mkdir(parents=True, exist_ok=True)
    catalog, overlay = directory / "hostile-catalog.yaml", directory / "hostile-world.yaml"
    catalog.write_text(yaml.safe_dump(hostile_catalog(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    overlay.write_text(yaml.safe_dump(hostile_overlay(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return catalog, overlay


# --- certificates with names no well-behaved CA would sign -------------------------------------------------
def _der_tlv(data: bytes, at: int) -> tuple[int, int]:
    """(start of the value, end of the element) of the DER element at `at`."""
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[start:start + n], "big")
        start += n
    return start, start + length


def _der_seq(body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return b"\x30" + bytes([n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(size)]) + size + body


def _der_bitstring(body: bytes) -> bytes:
    body = b"\x00" + body
    n = len(body)
    if n < 0x80:
        return b"\x03" + bytes([n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x03" + bytes([0x80 | len(size)]) + size + body


def hostile_certificate(directory: Path, host: str, garbage: bytes) -> tuple[Path, Path]:
    """A self-signed ECDSA certificate for `host` whose subject CN and O and one SAN entry are `garbage`
    (any bytes, e.g. invalid UTF-8): built with placeholders, patched in the DER, then re-signed — the
    `cryptography` builder refuses such names, real servers send them anyway. Returns (chain, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    placeholder = "Q" * len(garbage)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, placeholder),
                      x509.NameAttribute(NameOID.COMMON_NAME, placeholder)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host), x509.DNSName(placeholder)]), False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    body, _ = _der_tlv(der, 0)
    _, tbs_end = _der_tlv(der, body)
    _, alg_end = _der_tlv(der, tbs_end)
    n = bytes([len(garbage)])
    tbs = der[body:tbs_end]
    if not garbage.isascii():
        # OpenSSL refuses a UTF8String that is not UTF-8 when it loads the certificate: as T61String the
        # bytes pass its parser and reach the client as they are (the SAN's IA5String is not checked).
        tbs = tbs.replace(b"\x0c" + n + placeholder.encode(), b"\x14" + n + garbage)
    tbs = tbs.replace(placeholder.encode(), garbage)
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    patched = _der_seq(tbs + der[tbs_end:alg_end] + _der_bitstring(signature))
    chain, key_file = directory / f"hostile-{host}.crt", directory / f"hostile-{host}.key"
    chain.write_bytes(ssl.DER_cert_to_PEM_cert(patched).encode())
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return chain, key_file


def _context(chain: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


# --- servers ---------------------------------------------------------------------------------------------
class _Listener(TcpListener):
    """A lab listener whose every connection is handled by `handle`, numbered, and dropped after MAX_LIFE."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port)
        self.tls_listener = tls  # direct TLS: the handshake is done before `handle` runs
        self.connections = 0

    def listen_tls(self) -> ssl.SSLContext | None:
        return self.tls_listener

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        # Hostile servers break their own protocol on purpose: what that raises is expected, not a lab bug.
        with contextlib.suppress(OSError, ValueError):
            await asyncio.wait_for(self.handle(reader, writer, self.connections), MAX_LIFE)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        raise NotImplementedError


async def _drain_forever(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


class SilentServer(_Listener):
    """Accepts TCP, reads whatever comes (a ClientHello, a GET) and never answers."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _drain_forever(reader)


class HostileSmtp(_Listener):
    """A scripted ESMTP server: any banner and EHLO bytes; `drip` sends the banner one byte per `drip`
    seconds (a tarpit); `stall_tls` answers STARTTLS with 220 and then says nothing more; `endless_ehlo`
    answers EHLO with `250-` lines as fast as the client reads, never the last one."""

    def __init__(self, host: str, port: int, banner: bytes, ehlo: Sequence[bytes],
                 tls: ssl.SSLContext | None, *, drip: float | None = None, stall_tls: bool = False,
                 endless_ehlo: bool = False) -> None:
        super().__init__(host, port)
        self.banner, self.ehlo, self.tls = banner, list(ehlo), tls
        self.drip, self.stall_tls, self.endless_ehlo = drip, stall_tls, endless_ehlo

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if self.drip is not None:
            while True:  # bounded by MAX_LIFE
                for b in self.banner:
                    writer.write(bytes([b]))
                    await writer.drain()
                    await asyncio.sleep(self.drip)
        writer.write(b"220 " + self.banner + b"\r\n")
        await writer.drain()
        while line := await reader.readline():
            verb = line.strip().split(b" ")[0].upper()
            if verb == b"EHLO" and self.endless_ehlo:
                flood = b"250-" + b"X-ENDLESS ".ljust(1000, b"x") + b"\r\n"
                while True:  # bounded by MAX_LIFE, or by the client hanging up
                    writer.write(flood * 64)
                    await writer.drain()
            if verb in (b"EHLO", b"HELO"):
                caps = [*self.ehlo, *([b"STARTTLS"] if self.tls is not None else [])]
                lines = [b"250-" + c for c in [self.banner, *caps[:-1]]] + [b"250 " + (caps[-1] if caps else b"")]
                writer.write(b"\r\n".join(lines) + b"\r\n")
            elif verb == b"STARTTLS" and self.tls is not None:
                writer.write(b"220 2.0.0 go ahead\r\n")
                await writer.drain()
                if self.stall_tls:
                    await _drain_forever(reader)
                    return
                await writer.start_tls(self.tls)
            elif verb == b"QUIT":
                writer.write(b"221 " + self.banner + b"\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 " + self.banner + b"\r\n")
            await writer.drain()


class HostileHttps(_Listener):
    """HTTPS whose every answer is `head` (status line + headers, raw bytes) and `body`; with `flood`, a
    chunked body of FLOOD_BYTES sent as fast as the client reads."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext, head: bytes, body: bytes = b"", *,
                 flood: bool = False) -> None:
        super().__init__(host, port, tls)
        self.head, self.body, self.flood = head, body, flood

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            if self.flood:
                writer.write(self.head + b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = f"{FLOOD_CHUNK:x}\r\n".encode() + b"mx: flood.example\n".ljust(FLOOD_CHUNK, b"#") + b"\r\n"
                for _ in range(FLOOD_BYTES // FLOOD_CHUNK):
                    if writer.is_closing():  # the client had enough: stop (writes now would only log)
                        return
                    writer.write(chunk)
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(self.head + f"Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body)
            await writer.drain()


@functools.cache
def gzip_bomb() -> bytes:
    """A gzip stream of BOMB_BYTES zeros (about 400 KB; a second to make, once per process)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(BOMB_BYTES >> 20)), packer.flush()])


class HostileWebhook(_Listener):
    """A plain-HTTP webhook receiver that reads the request's head and answers either one byte every
    DRIP_S seconds from the status line on (`trickle`), or at once with a gzip bomb (`bomb`)."""

    def __init__(self, host: str, port: int, mode: str) -> None:
        super().__init__(host, port)
        self.mode = mode

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if self.mode == "trickle":
            for b in _head(b"Content-Type: text/plain", b"Content-Length: 3") + b"\r\nok\n":
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(DRIP_S)
            return
        body = await asyncio.to_thread(gzip_bomb)
        writer.write(_head(b"Content-Type: application/json", b"Content-Encoding: gzip",
                           f"Content-Length: {len(body)}".encode()) + b"\r\n" + body)
        await writer.drain()


class StallEnumeration(_Listener):
    """Completes the TLS handshake of ordinary clients (piped to a working TLS server on `backend_port`),
    and accepts then stalls every ClientHello offering at most STALL_MAX_SUITES cipher suites: what a
    scanner enumerating suites one handshake at a time (sslyze) sends. Its precheck and connectivity test
    pass; its hundreds of enumeration handshakes each wait for the network timeout."""

    def __init__(self, host: str, port: int, backend_port: int) -> None:
        super().__init__(host, port)
        self.backend_port = backend_port
        self.stalled = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        header = await reader.readexactly(5)
        record = await reader.readexactly(min(int.from_bytes(header[3:5], "big"), 16384))
        if _offered_suites(record) <= STALL_MAX_SUITES:
            self.stalled += 1
            await _drain_forever(reader)
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.backend_port)
        try:
            up_writer.write(header + record)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


def _offered_suites(record: bytes) -> int:
    """How many cipher suites a ClientHello handshake message offers (0 when it is not one)."""
    # type(1) length(3) version(2) random(32) session_id(1 + n) cipher_suites(2 + 2k)
    if len(record) < 39 or record[0] != 1:
        return 0
    at = 38 + 1 + record[38]
    return int.from_bytes(record[at:at + 2], "big") // 2 if len(record) >= at + 2 else 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


# --- the lab ---------------------------------------------------------------------------------------------
def _head(*headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nServer: hostile-lab\r\n" + b"".join(h + b"\r\n" for h in headers)


class HostileLab(Lab):
    """A lab of only the hostile providers (plus whatever `extra_catalogs` add, built with the same
    overlay). Accepts every other `Lab` argument."""

    def __init__(self, *, extra_catalogs: Sequence[Path] = (), **kwargs: Any) -> None:
        self._hostile_dir = Path(tempfile.mkdtemp(prefix="auditor-hostile-"))
        catalog, overlay = write_hostile_files(self._hostile_dir)
        self.hostile_catalog = catalog
        super().__init__(catalogs=[catalog, *extra_catalogs], overlay=overlay, **kwargs)

    def _make_servers(self) -> list[Any]:
        servers = super()._make_servers()
        mine = self._hostile_servers()
        taken = {(s.host, s.port) for s in mine}
        return [s for s in servers if (getattr(s, "host", None), getattr(s, "port", None)) not in taken] + mine

    def _ctx(self, host: str) -> ssl.SSLContext:
        spec = self.world.hosts[host]
        return server_context(self.certs[host], spec.tls)

    def _hostile_servers(self) -> list[_Listener]:
        ip, smtp, https = self.address, self.port(25), self.port(443)
        d = self._hostile_dir
        utf8_ctx = _context(*hostile_certificate(d, "mx.badutf8.example", BAD_UTF8))
        utf8_web = _context(*hostile_certificate(d, "webmail.badutf8.example", BAD_UTF8))
        html_ctx = _context(*hostile_certificate(d, "mx.htmljs.example", XSS.encode()))
        html_web = _context(*hostile_certificate(d, "webmail.htmljs.example", XSS_ATTR.encode()))
        html_banner = f"mx.htmljs.example ESMTP {XSS}".encode()
        return [
            HostileSmtp(ip("mx.tarpit.example"), smtp, b"220 mx.tarpit.example ESMTP " + b"." * 200 + b"\r\n",
                        [], None, drip=1.0),
            HostileSmtp(ip("mx.silent.example"), smtp, b"mx.silent.example ESMTP", [b"PIPELINING"],
                        self._ctx("mx.silent.example"), stall_tls=True),
            SilentServer(ip("webmail.silent.example"), https),
            StallEnumeration(ip("api.stall.example"), https, https + STALL_BACKEND_OFFSET),
            HostileHttps(ip("api.stall.example"), https + STALL_BACKEND_OFFSET, self._ctx("api.stall.example"),
                         _head(), b"ok\n"),
            HostileHttps(ip("mta-sts.hugepolicy.example"), https, self._ctx("mta-sts.hugepolicy.example"),
                         _head(b"Content-Type: text/plain"), flood=True),
            HostileHttps(ip("webmail.hugepolicy.example"), https, self._ctx("webmail.hugepolicy.example"),
                         _head(b"Content-Type: text/html"), flood=True),
            HostileSmtp(ip("mx.badutf8.example"), smtp, b"mx.badutf8.example " + BAD_UTF8,
                        [b"SIZE " + BAD_UTF8, b"8BITMIME"], utf8_ctx),
            HostileHttps(ip("webmail.badutf8.example"), https, utf8_web,
                         _head(b"Content-Type: text/html; charset=" + BAD_UTF8,
                               b"Strict-Transport-Security: max-age=" + BAD_UTF8), b"<p>" + BAD_UTF8 + b"</p>"),
            HostileSmtp(ip("mx.htmljs.example"), smtp, html_banner, [f"X-{XSS}".encode(), XSS_ATTR.encode()],
                        html_ctx),
            HostileHttps(ip("webmail.htmljs.example"), https, html_web,
                         _head(b"Content-Type: text/html", f"Strict-Transport-Security: {XSS}".encode(),
                               f"X-Note: {XSS_ATTR}".encode()), f"<html>{XSS}</html>".encode()),
            HostileWebhook(ip(NOTIFY_SINKS["trickle"]), self.port(80), "trickle"),
            HostileWebhook(ip(NOTIFY_SINKS["bomb"]), self.port(80), "bomb"),
            HostileSmtp(ip(NOTIFY_SINKS["endless"]), smtp, b"smtp.endless.example ESMTP", [], None,
                        endless_ehlo=True),
        ]

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._hostile_dir, ignore_errors=True)
