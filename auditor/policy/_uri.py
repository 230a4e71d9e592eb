"""Validation of report destinations (`mailto:` and `https:` URIs) in TLS-RPT and DMARC records."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

from auditor.policy._common import ascii_lower, is_domain, shorten

# RFC 3986 characters: unreserved, reserved and '%' (checked separately as pct-encoded).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+|\"[^\"\\]*\"")
_PORT = re.compile(r"[0-9]{1,5}")
MAX_URI = 2048


def uri_problem(uri: str, schemes: tuple[str, ...] = ("mailto", "https")) -> str | None:
    """None when `uri` is a syntactically valid `mailto:` or `https:` URI, else why not (one sentence).

    Deliberately stricter than RFC 3986 in one way: an address or host must be a real mail address or
    DNS name, since a report destination that cannot receive is as good as none.
    """
    if not isinstance(uri, str) or not uri:
        return "empty URI"
    if len(uri) > MAX_URI:
        return f"URI longer than {MAX_URI} characters"
    if not uri.isascii() or not _URI_CHARS.fullmatch(uri):
        return f"{shorten(uri, 60)} contains characters not allowed in a URI (spaces, non-ASCII, …)"
    if _PCT.search(uri):
        return f"{shorten(uri, 60)} has a '%' that is not followed by two hex digits"
    scheme_match = _SCHEME.match(uri)
    if scheme_match is None:
        return f"{shorten(uri, 60)} has no scheme (expected {' or '.join(s + ':' for s in schemes)})"
    scheme = ascii_lower(scheme_match.group(1))
    if scheme not in schemes:
        return f"{shorten(uri, 60)}: scheme {scheme!r} is not {' or '.join(s + ':' for s in schemes)}"
    rest = uri[scheme_match.end():]
    if scheme == "mailto":
        return _mailto_problem(uri, rest)
    return _https_problem(uri, rest)


def _mailto_problem(uri: str, rest: str) -> str | None:
    addresses, _, _query = rest.partition("?")
    if not addresses:
        return f"{shorten(uri, 60)} has no address"
    for address in addresses.split(","):
        decoded = unquote(address)
        local, at, domain = decoded.rpartition("@")
        if not at or not local or not _LOCAL_PART.fullmatch(local):
            return f"{shorten(uri, 60)}: {shorten(decoded, 40)} is not a mail address"
        if not is_domain(domain.rstrip(".")) and not _is_address_literal(domain):
            return f"{shorten(uri, 60)}: {shorten(domain, 40)} is not a domain name"
    return None


def _is_address_literal(domain: str) -> bool:
    if not (domain.startswith("[") and domain.endswith("]")):
        return False
    try:
        ipaddress.ip_address(domain[1:-1].removeprefix("IPv6:"))
    except ValueError:
        return False
    return True


def _https_problem(uri: str, rest: str) -> str | None:
    if not rest.startswith("//"):
        return f"{shorten(uri, 60)} is not an absolute https:// URL"
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, bracket, port = hostport[1:].partition("]")
        port = port.removeprefix(":") if bracket else ""
        if not bracket or not _is_address_literal(f"[{host}]"):
            return f"{shorten(uri, 60)} has an invalid IPv6 host"
    else:
        host, _, port = hostport.partition(":")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not is_domain(host.rstrip(".")):
                return f"{shorten(uri, 60)}: {shorten(host, 40)} is not a host name"
    if port and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        return f"{shorten(uri, 60)} has an invalid port"
    return None
