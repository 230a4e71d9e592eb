"""Tell someone when a cron audit finds a regression: a signed JSON webhook and/or a plain-text e-mail.

Both go through the program's one way to the network: names are resolved by `auditor.net.dns.Resolver`
with the configured resolver, the connection goes to that address (the name is kept for SNI, certificate
checks and the Host header), well-known ports go through the port map, and certificates are judged
against the configured CA bundle. That is also what lets the lab's servers receive them in tests.

Where the settings come from (highest first): `--notify-webhook` / `--notify-email` when the command line
passes them, then `AUDITOR_NOTIFY_WEBHOOK`, `AUDITOR_NOTIFY_EMAIL`, `AUDITOR_SMTP_HOST` (HOST[:PORT], port
587 by default), `AUDITOR_SMTP_FROM`, then the config file's `[notify]` table (`webhook`, `email`,
`smtp_host`, `smtp_from`). Secrets come from the environment only, never from flags (which other users can
read in `ps`) nor from the config file: `AUDITOR_WEBHOOK_SECRET` (HMAC-SHA256 key), `AUDITOR_SMTP_USER`
and `AUDITOR_SMTP_PASSWORD`.

A notification that fails is reported, never raised: the audit is stored and the exit code still says
what the audit found (see `deliver`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from auditor import __version__
from auditor.diff import AuditDiff, render_text
from auditor.errors import AuditorError, ConfigError
from auditor.net.dns import DnsError, Resolver
from auditor.net.http import ssl_context
from auditor.settings import Settings, parse_host_port

SIGNATURE_HEADER = "X-Auditor-Signature"
WEBHOOK_EVENT = "auditor.regression"
WEBHOOK_SCHEMA = "auditor.notification/1"
SMTP_SUBMISSION_PORT = 587
USER_AGENT = f"auditor/{__version__} (notification)"


class NotifyError(Exception):
    """One channel could not deliver; the message is one line for stderr."""


@dataclass(frozen=True)
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

        def pick(key: str, var: str) -> str | None:
            return given.get(key) or env.get(var) or (file or {}).get(key) or None

        return cls(
            webhook=pick("webhook", "AUDITOR_NOTIFY_WEBHOOK"),
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
                                  f"got {self.webhook!r}")
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


def _address(host: str, settings: Settings) -> str:
    """The address our resolver gives for `host` (IPv4 first), or an IP literal as is."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        resolver = Resolver(settings.resolver_address(), timeout=settings.timeout)
        v4, v6 = asyncio.run(resolver.addresses(host))
    except (DnsError, AuditorError) as exc:
        raise NotifyError(f"cannot resolve {host}: {exc}") from exc
    if not (v4 or v6):
        raise NotifyError(f"cannot resolve {host}: the name has no address")
    return (v4 or v6)[0]


def send_webhook(url: str, body: bytes, settings: Settings, secret: str | None) -> int:
    """POST `body`; return the HTTP status (2xx), or raise NotifyError."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    ip = _address(host, settings)
    port = settings.port(parts.port or (443 if parts.scheme == "https" else 80))
    netloc = f"[{ip}]" if ":" in ip else ip
    target = f"{parts.scheme}://{netloc}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT,
               "Content-Type": "application/json; charset=utf-8"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    try:
        with httpx.Client(verify=ssl_context(settings.ca_bundle), timeout=settings.timeout, trust_env=False,
                          follow_redirects=False) as client:
            response = client.post(target, content=body, headers=headers, extensions={"sni_hostname": host})
    except httpx.HTTPError as exc:
        raise NotifyError(f"webhook {url}: {type(exc).__name__}: {exc}"[:300]) from exc
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"webhook {url}: answered HTTP {response.status_code}")
    return response.status_code


class _PinnedSMTP(smtplib.SMTP):
    """smtplib connecting to the address our resolver found; the name it was given stays for STARTTLS's
    SNI and certificate check (smtplib would otherwise resolve it with the system resolver)."""

    def __init__(self, ip: str, **kwargs: Any) -> None:
        self._pinned_ip = ip
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._pinned_ip, port), timeout, self.source_address)


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
    ip = _address(host, settings)
    port = settings.port(port)
    try:
        with _PinnedSMTP(ip, host=host, port=port, timeout=settings.timeout,
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
    except (smtplib.SMTPException, OSError) as exc:
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
