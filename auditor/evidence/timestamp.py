"""RFC 3161 time-stamps of a manifest: proof from a third party that the manifest existed at a given time.

The request and the verification go through `rfc3161-client` (Trail of Bits, used by sigstore): SHA-256
imprint, a nonce, the TSA's certificate requested in the token. The query goes through auditor's own HTTP
client (our resolver, the CA bundle, the port map, size caps), never a library's own network stack. A token
is checked against the roots of `tsa_ca` (default: the CA bundle): signature, chain, the critical
`timeStamping` usage, the imprint and the nonce.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from auditor.errors import AuditorError
from auditor.net.certs import load_bundle
from auditor.net.dns import Resolver
from auditor.net.http import HttpFetcher
from auditor.redact import redact
from auditor.settings import Settings

MAX_TOKEN = 64 * 1024  # a TimeStampResp with its certificates is a few KiB
QUERY_TYPE = "application/timestamp-query"


class TimestampError(Exception):
    """No usable time-stamp: the TSA could not be reached, refused, or its token does not check out."""


@dataclass(frozen=True)
class Stamp:
    time: str  # genTime, RFC 3339 UTC
    tsa: str  # the TSA certificate's subject
    serial: int


def roots_for(settings: Settings) -> list[x509.Certificate]:
    return roots_from(settings.tsa_ca or settings.ca_bundle or Path(certifi.where()))


def roots_from(path: Path) -> list[x509.Certificate]:
    try:
        return load_bundle(path)
    except (OSError, ValueError) as exc:
        raise TimestampError(f"{path}: not a readable PEM bundle of time-stamping roots ({exc})") from exc


def _decode(token: bytes) -> TimeStampResponse:
    try:
        return decode_timestamp_response(token)
    except Exception as exc:  # the parser's errors on garbage are not all ValueError
        raise TimestampError(f"not an RFC 3161 time-stamp response ({str(exc)[:120]})") from exc


def imprint_of(token: bytes) -> bytes:
    """The hash a token time-stamps (no trust implied: use `check` for that)."""
    return bytes(_decode(token).tst_info.message_imprint.message)


def check(token: bytes, body: bytes, roots: list[x509.Certificate], nonce: int | None = None) -> Stamp:
    """Verify a TimeStampResp over SHA-256(`body`) against `roots`; raise TimestampError saying why not."""
    if not roots:
        raise TimestampError("no root to check the time-stamp against")
    response = _decode(token)
    builder = VerifierBuilder(roots=list(roots))
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(response, body)
    except VerificationError as exc:
        raise TimestampError(f"the time-stamp does not verify: {exc}") from exc
    info = response.tst_info
    signer = next((c for c in map(x509.load_der_x509_certificate, response.signed_data.certificates)
                   if _time_stamping(c)), None)
    when = info.gen_time.astimezone(dt.UTC) if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=dt.UTC)
    return Stamp(when.strftime("%Y-%m-%dT%H:%M:%SZ"), signer.subject.rfc4514_string() if signer else "unknown",
                 int(info.serial_number))


def _time_stamping(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return x509.oid.ExtendedKeyUsageOID.TIME_STAMPING in usage


async def _ask(url: str, query: bytes, settings: Settings) -> bytes:
    try:
        resolver = Resolver(settings.resolver_address(), timeout=settings.timeout)
    except AuditorError as exc:  # no resolver configured on this machine
        raise TimestampError(f"time-stamping authority {redact(url)}: {exc}") from exc
    http = HttpFetcher(resolver, ca_bundle=settings.ca_bundle, timeout=settings.timeout, port_map=settings.port_map)
    try:
        result = await http.post(url, query, max_bytes=MAX_TOKEN, headers={"Content-Type": QUERY_TYPE})
    finally:
        await http.aclose()
    shown = redact(url)
    if result.error is not None:
        raise TimestampError(f"time-stamping authority {shown}: {result.error}")
    if result.status != 200:
        raise TimestampError(f"time-stamping authority {shown} answered HTTP {result.status}")
    if result.truncated:
        raise TimestampError(f"time-stamping authority {shown}: answer larger than {MAX_TOKEN} bytes")
    return result.body


def stamp(body: bytes, settings: Settings) -> tuple[bytes, Stamp]:
    """Ask `settings.tsa_url` to time-stamp SHA-256(`body`); the token (TimeStampResp DER) once verified."""
    assert settings.tsa_url is not None
    request = (TimestampRequestBuilder().data(body).hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
               .cert_request(cert_request=True).build())
    try:
        token = asyncio.run(asyncio.wait_for(_ask(settings.tsa_url, request.as_bytes(), settings),
                                             settings.timeout * 3))
    except TimeoutError as exc:
        raise TimestampError(f"time-stamping authority {redact(settings.tsa_url)}: no answer within "
                             f"{settings.timeout * 3:g} s") from exc
    return token, check(token, body, roots_for(settings), nonce=request.nonce)

