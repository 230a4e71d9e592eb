"""Text from scanned data made safe to show: one line, no control or bidirectional characters, bounded length;
URLs only when they are plain http(s) links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

# --- cleaning hostile text -------------------------------------------------------------------------------

# C0/C1 controls, zero-width and bidirectional overrides: they can reorder or hide text in a report a
# client will trust (e.g. a host name that reads differently from what it is).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
SUMMARY_LIMIT = 300
EXCERPT_LIMIT = 240
NAME_LIMIT = 120


def clean(text: Any, limit: int = SUMMARY_LIMIT) -> str:
    """One line of displayable text from untrusted input: no controls, collapsed spaces, capped length."""
    line = _SPACES.sub(" ", _INVISIBLE.sub("\ufffd", str(text))).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def safe_url(url: Any) -> str | None:
    """The URL when it is a plain http(s) link fit for an href, else None (then shown as text only)."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    url = url.strip()
    if _INVISIBLE.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None
