"""Tell someone when a cron audit finds a regression: a signed JSON webhook and/or a plain-text e-mail.

Both go through the program's one way to the network: names are resolved by `auditor.net.dns.Resolver`
with the configured resolver, the connection goes to that address (the name is kept for SNI, certificate
checks and the Host header), well-known ports go through the port map, and certificates are judged
against the configured CA bundle. That is also what lets the lab's servers receive them in tests.

Where the settings come from (highest first): `--notify-webhook` / `--notify-email` when the command line
passes them, then `AUDITOR_NOTIFY_WEBHOOK` or the file named by `AUDITOR_NOTIFY_WEBHOOK_FILE` (mode 0600:
a webhook URL is often a bearer secret), `AUDITOR_NOTIFY_EMAIL`, `AUDITOR_SMTP_HOST` (HOST[:PORT], port 587
by default), `AUDITOR_SMTP_FROM`, then the config file's `[notify]` table (`webhook`, `webhook_file`,
`email`, `smtp_host`, `smtp_from`). Secrets come from the environment only, never from flags (which other
users can read in `ps`) nor from the config file: `AUDITOR_WEBHOOK_SECRET` (HMAC-SHA256 key),
`AUDITOR_SMTP_USER` and `AUDITOR_SMTP_PASSWORD`.

The receivers are strangers' servers like any other: each notification has one deadline
(`notify_deadline`, from the name lookup to the answer), the webhook's answer is judged on its status line
alone (its body is never read, so neither a trickle nor a gzip bomb can hold us), and an SMTP reply may
have at most MAX_REPLY_LINES lines.

A notification that fails is reported, never raised: the audit is stored and the exit code still says
what the audit found (see `deliver`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import smtplib
import socket
import ssl
import stat
import threading
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from auditor import __version__
from auditor.diff import AuditDiff, render_text
from auditor.errors import AuditorError, ConfigError
from auditor.net.dns import DnsError, Resolver
from auditor.net.http import ssl_context
from auditor.redact import MASK, redact
from auditor.settings import Settings, parse_host_port

SIGNATURE_HEADER = "X-Auditor-Signature"
WEBHOOK_EVENT = "auditor.regression"
WEBHOOK_SCHEMA = "auditor.notification/1"
SMTP_SUBMISSION_PORT = 587
USER_AGENT = f"auditor/{__version__} (notification)"
MAX_REPLY_LINES = 100  # an EHLO reply has a dozen; smtplib alone would take them without end
MAX_URL_FILE_BYTES = 4096
WEBHOOK_FILE_VAR = "AUDITOR_NOTIFY_WEBHOOK_FILE"
SECRET_FIELDS = ("webhook_secret", "smtp_user", "smtp_password")
T = TypeVar("T")


class NotifyError(Exception):
    """One channel could not deliver; the message is one line for stderr."""


@dataclass(frozen=True, repr=False)
class NotifyConfig:
    webhook: str | None = None
    webhook_secret: str | None = None
    email: str | None = None
    smtp_host: str | None = None  # HOST[:PORT]
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None

    @classmethod
    def load(cls, flags: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None,
             file: Mapping[str, str] | None = None) -> NotifyConfig:
        """From `flags` (keys `webhook`, `email`; None = not given), then the environment, then `file` (the
        config file's `[notify]` table, see `auditor.settings.notify_file_settings`)."""
        env = os.environ if environ is None else environ
        given = {k: v for k, v in (flags or {}).items() if v}
        table = file or {}

        def pick(key: str, var: str) -> str | None:
            return given.get(key) or env.get(var) or table.get(key) or None

        webhook = (given.get("webhook") or env.get("AUDITOR_NOTIFY_WEBHOOK")
                   or (read_url_file(Path(env[WEBHOOK_FILE_VAR]), WEBHOOK_FILE_VAR) if env.get(WEBHOOK_FILE_VAR)
                       else None)
                   or table.get("webhook")
                   or (read_url_file(Path(table["webhook_file"]), "[notify] webhook_file")
                       if table.get("webhook_file") else None))
        return cls(
            webhook=webhook,
            webhook_secret=env.get("AUDITOR_WEBHOOK_SECRET") or None,
            email=pick("email", "AUDITOR_NOTIFY_EMAIL"),
            smtp_host=pick("smtp_host", "AUDITOR_SMTP_HOST"),
            smtp_user=env.get("AUDITOR_SMTP_USER") or None,
            smtp_password=env.get("AUDITOR_SMTP_PASSWORD") or None,
            smtp_from=pick("smtp_from", "AUDITOR_SMTP_FROM"),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or self.email)

    def validate(self) -> None:
        """Refuse a configuration that could never deliver, before a long scan rather than after it."""
        if self.webhook:
            parts = urlsplit(self.webhook)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"--notify-webhook / AUDITOR_NOTIFY_WEBHOOK: expected an http(s) URL, "
                                  f"got {redact(self.webhook)!r}")
        for name, value in (("--notify-email / AUDITOR_NOTIFY_EMAIL", self.email),
                            ("AUDITOR_SMTP_FROM", self.smtp_from)):
            if value is not None and not _looks_like_address(value):
                raise ConfigError(f"{name}: expected one e-mail address, got {value!r}")
        if self.email:
            if not self.smtp_host:
                raise ConfigError("--notify-email needs AUDITOR_SMTP_HOST=HOST[:PORT] or smtp_host in the config "
                                  "file's [notify] table (the SMTP server to send through, with STARTTLS)")
            try:
                parse_host_port(self.smtp_host, SMTP_SUBMISSION_PORT)
            except ValueError as exc:
                raise ConfigError(f"AUDITOR_SMTP_HOST: expected HOST[:PORT], got {self.smtp_host!r}") from exc
            if bool(self.smtp_user) != bool(self.smtp_password):
                raise ConfigError("AUDITOR_SMTP_USER and AUDITOR_SMTP_PASSWORD go together: set both or neither")

    def __repr__(self) -> str:
        # Tracebacks and debuggers print reprs: secrets masked, the webhook URL without its credentials.
        def shown(name: str, value: str | None) -> str | None:
            if value is None:
                return None
            return MASK if name in SECRET_FIELDS else redact(value) if name == "webhook" else value

        inner = ", ".join(f"{f.name}={shown(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"NotifyConfig({inner})"


def read_url_file(path: Path, origin: str) -> str:
    """The one URL in `path`, a file only its owner may read (it stands for a bearer secret)."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read(MAX_URL_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path} ({origin}): cannot read the webhook URL file ({exc.strerror})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} ({origin}): other users may read this file (mode {stat.S_IMODE(mode):04o}); "
                          f"chmod 600 {path}")
    lines = raw.decode("utf-8", "replace").split()
    if len(raw) > MAX_URL_FILE_BYTES or len(lines) != 1:
        raise ConfigError(f"{path} ({origin}): expected one URL on one line")
    return lines[0]


def _looks_like_address(text: str) -> bool:
    # Not a full RFC 5322 parser: enough to refuse header injection and obvious typos.
    local, at, domain = text.partition("@")
    return bool(at and local and "." in domain) and not any(c.isspace() or c in "<>,;\"" for c in text)


# -- the message ------------------------------------------------------------------------------------

_WORDS = {
    "en": {
        "subject": "[auditor] {n} regression(s) since audit {before}",
        "intro": "auditor found {n} regression(s) between two audits of the same providers.",
        "audits": "Audits compared: {before} (before) and {after} (after).",
        "report": "Full report: auditor report --db {db} --audit {after}",
        "diff": "This comparison again: auditor diff --db {db} {before} {after}",
        "files": "Reports written by this run:",
        "lab": "Note: these are lab audits (a simulation), not measurements of the real providers.",
    },
    "fr": {
        "subject": "[auditor] {n} régression(s) depuis l'audit {before}",
        "intro": "auditor a trouvé {n} régression(s) entre deux audits des mêmes fournisseurs.",
        "audits": "Audits comparés : {before} (avant) et {after} (après).",
        "report": "Rapport complet : auditor report --db {db} --audit {after}",
        "diff": "Cette comparaison à nouveau : auditor diff --db {db} {before} {after}",
        "files": "Rapports écrits par cette exécution :",
        "lab": "Note : audits du laboratoire (une simulation), pas des mesures des vrais fournisseurs.",
    },
}


def message_text(diff: AuditDiff, *, lang: str, db: Path, reports: Sequence[Path] = (), lab: bool = False) -> str:
    """The e-mail body: what to do first, then the diff (providers with regressions first), then how to see
    everything."""
    w = _WORDS[lang]
    n = len(diff.of_kind("regression"))
    ids = {"before": diff.before_id, "after": diff.after_id, "db": db, "n": n}
    lines = [w["intro"].format(**ids), w["audits"].format(**ids)]
    if lab:
        lines.append(w["lab"])
    lines += ["", render_text(diff, lang).rstrip("\n"), "", w["report"].format(**ids), w["diff"].format(**ids)]
    if reports:
        lines += [w["files"], *(f"  {p}" for p in reports)]
    return "\n".join(lines) + "\n"


def webhook_body(diff: AuditDiff, *, lang: str, reports: Sequence[Path] = (), lab: bool = False) -> bytes:
    """The JSON document POSTed to the webhook: the audit ids, the counts and the whole diff."""
    document: dict[str, Any] = {
        "schema": WEBHOOK_SCHEMA,
        "event": WEBHOOK_EVENT,
        "before_id": diff.before_id,
        "after_id": diff.after_id,
        "lab": lab,
        "counts": {k: len(diff.of_kind(k)) for k in ("regression", "improvement", "neutral")},
        "text": render_text(diff, lang),
        "reports": [str(p) for p in reports],
        "diff": diff.model_dump(mode="json"),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def signature(body: bytes, secret: str) -> str:
    """The `X-Auditor-Signature` value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# -- the network ------------------------------------------------------------------------------------


async def _address(host: str, settings: Settings) -> str:
    """The address our resolver gives for `host` (IPv4 first), or an IP literal as is."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        resolver = Resolver(settings.resolver_address(), timeout=settings.timeout)
        v4, v6 = await resolver.addresses(host)
    except (DnsError, AuditorError) as exc:
        raise NotifyError(f"cannot resolve {host}: {exc}") from exc
    if not (v4 or v6):
        raise NotifyError(f"cannot resolve {host}: the name has no address")
    return (v4 or v6)[0]


def _too_late(what: str, deadline: float) -> NotifyError:
    return NotifyError(f"{what}: no complete answer within the {deadline:.0f} s deadline")


def _within(seconds: float, coroutine: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(seconds):
            return await coroutine

    return asyncio.run(bounded())


async def _post(url: str, body: bytes, settings: Settings, secret: str | None) -> int:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    ip = await _address(host, settings)
    port = settings.port(parts.port or (443 if parts.scheme == "https" else 80))
    netloc = f"[{ip}]" if ":" in ip else ip
    target = f"{parts.scheme}://{netloc}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT,
               "Content-Type": "application/json; charset=utf-8"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    shown = redact(url)
    try:
        client = httpx.AsyncClient(verify=ssl_context(settings.ca_bundle), timeout=settings.timeout,
                                   trust_env=False, follow_redirects=False)
        # The status line is the answer; the body is left unread (no trickle, no gzip bomb to inflate).
        async with client, client.stream("POST", target, content=body, headers=headers,
                                         extensions={"sni_hostname": host}) as response:
            status = response.status_code
    except httpx.HTTPError as exc:
        raise NotifyError(f"webhook {shown}: {type(exc).__name__}: {redact(str(exc))}"[:300]) from exc
    if not 200 <= status < 300:
        raise NotifyError(f"webhook {shown}: answered HTTP {status}")
    return status


def send_webhook(url: str, body: bytes, settings: Settings, secret: str | None) -> int:
    """POST `body` within `settings.notify_deadline`; return the HTTP status (2xx), or raise NotifyError."""
    try:
        return _within(settings.notify_deadline, _post(url, body, settings, secret))
    except TimeoutError as exc:
        raise _too_late(f"webhook {redact(url)}", settings.notify_deadline) from exc


class _ReplyTooLong(Exception):
    """Not an OSError (smtplib's SMTPException is one): smtplib would report it as a disconnection."""


class _ReplyLines:
    """The file smtplib reads replies from, refusing a reply of more than MAX_REPLY_LINES lines (smtplib
    caps each line at 8 KiB but not their number)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readline(self, size: int = -1) -> bytes:
        self.count += 1
        if self.count > MAX_REPLY_LINES:
            raise _ReplyTooLong(f"reply longer than {MAX_REPLY_LINES} lines")
        return self.raw.readline(size)

    def close(self) -> None:
        self.raw.close()


class _Watchdog:
    """Shuts the SMTP connection down when the deadline passes: smtplib's timeout is per read, and a
    server sending one byte a second would otherwise hold it for ever. Works through STARTTLS, since it
    holds its own descriptor of the same socket."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic()
        self.fired = False
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def arm(self, sock: socket.socket) -> None:
        self._sock = sock.dup()
        self._timer = threading.Timer(self.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._sock is not None:
            self._sock.close()


class _PinnedSMTP(smtplib.SMTP):
    """smtplib connecting to the address our resolver found; the name it was given stays for STARTTLS's
    SNI and certificate check (smtplib would otherwise resolve it with the system resolver). Replies are
    capped (`_ReplyLines`) and the whole session bounded (`_Watchdog`)."""

    def __init__(self, ip: str, watchdog: _Watchdog, **kwargs: Any) -> None:
        self._pinned_ip = ip
        self._watchdog = watchdog
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((self._pinned_ip, port), min(timeout, self._watchdog.remaining()),
                                        self.source_address)
        self._watchdog.arm(sock)
        return sock

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:  # smtplib makes it here too, and again after STARTTLS
            self.file = _ReplyLines(self.sock.makefile("rb"))
        if isinstance(self.file, _ReplyLines):
            self.file.count = 0
        return super().getreply()


def build_email(config: NotifyConfig, subject: str, text: str) -> EmailMessage:
    local = socket.gethostname() or "localhost"
    msg = EmailMessage()
    msg["From"] = config.smtp_from or f"auditor@{local}"
    msg["To"] = config.email or ""
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=local)  # with a domain: make_msgid would otherwise look up our FQDN
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg.set_content(text, cte="quoted-printable")  # 7-bit clean for any relay, French accents included
    return msg


def send_email(msg: EmailMessage, config: NotifyConfig, settings: Settings) -> None:
    """Submit over SMTP with STARTTLS required (certificate checked against the CA bundle), then AUTH when
    credentials are set. Raises NotifyError."""
    host, port = parse_host_port(config.smtp_host or "", SMTP_SUBMISSION_PORT)
    host = host.rstrip(".")
    watchdog = _Watchdog(time.monotonic() + settings.notify_deadline)
    port = settings.port(port)
    try:
        ip = _within(watchdog.remaining(), _address(host, settings))
    except TimeoutError as exc:
        raise _too_late(f"SMTP {host}:{port}", settings.notify_deadline) from exc
    try:
        _submit(msg, config, settings, ip, host, port, watchdog)
    finally:
        watchdog.disarm()


def _submit(msg: EmailMessage, config: NotifyConfig, settings: Settings, ip: str, host: str, port: int,
            watchdog: _Watchdog) -> None:
    try:
        with _PinnedSMTP(ip, watchdog, host=host, port=port, timeout=settings.timeout,
                         local_hostname=socket.gethostname() or "localhost") as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise NotifyError(f"SMTP {host}:{port} does not offer STARTTLS; refusing to send in clear")
            smtp.starttls(context=ssl_context(settings.ca_bundle))
            smtp.ehlo()
            if config.smtp_user and config.smtp_password:
                smtp.login(config.smtp_user, config.smtp_password)
            smtp.send_message(msg)
    except NotifyError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise NotifyError(f"SMTP {host}:{port}: certificate not valid ({exc.verify_message})") from exc
    except _ReplyTooLong as exc:
        raise NotifyError(f"SMTP {host}:{port}: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        if watchdog.fired:
            raise _too_late(f"SMTP {host}:{port}", settings.notify_deadline) from exc
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotifyError(f"SMTP {host}:{port}: {reason}"[:300]) from exc


def deliver(diff: AuditDiff, config: NotifyConfig, settings: Settings, *, reports: Sequence[Path] = ()) -> list[str]:
    """Send every configured notification; return one line per channel that failed (empty: all sent).

    A failure does not stop the other channel and is not an exception: the caller reports it on stderr and
    keeps the exit code that describes the audit (1: regression), so cron mail still reaches someone.
    """
    failures: list[str] = []
    lab = settings.lab
    if config.webhook:
        try:
            body = webhook_body(diff, lang=settings.lang, reports=reports, lab=lab)
            send_webhook(config.webhook, body, settings, config.webhook_secret)
        except NotifyError as exc:
            failures.append(f"notification by webhook failed: {exc}")
    if config.email:
        try:
            n = len(diff.of_kind("regression"))
            subject = _WORDS[settings.lang]["subject"].format(n=n, before=diff.before_id)
            db = settings.db.expanduser().resolve()  # absolute: the commands in the mail work from any directory
            text = message_text(diff, lang=settings.lang, db=db, reports=reports, lab=lab)
            send_email(build_email(config, subject, text), config, settings)
        except NotifyError as exc:
            failures.append(f"notification by e-mail failed: {exc}")
    return failures
