"""Secrets out of what we print: the user name, password or token and the query string of every URL.

Why: a webhook URL is often a bearer secret (`https://user:token@hooks.example/x?key=…`), and whatever a
cron job prints on stderr is mailed. The host and path stay, so the message still says where it went.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://[userinfo@]host[:port][/path][?query][#fragment]; quotes and brackets end a URL inside a message.
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#'\"<>]*@)?"
                  r"(?P<rest>[^\s?#'\"<>]*)(?P<query>\?[^\s#'\"<>]*)?(?P<fragment>#[^\s'\"<>]*)?")


def _masked(part: str | None, lead: str) -> str:
    """`?***` for a query (`#***` for a fragment), keeping the punctuation of the sentence around the URL."""
    if not part:
        return ""
    kept = part.rstrip(".,:;!)")
    return f"{lead}{MASK}{part[len(kept):]}"


def _mask(match: re.Match[str]) -> str:
    userinfo = f"{MASK}@" if match["userinfo"] else ""
    return (f"{match['scheme']}{userinfo}{match['rest']}{_masked(match['query'], '?')}"
            f"{_masked(match['fragment'], '#')}")


def redact(text: str) -> str:
    """`text` with the userinfo, query and fragment of every URL in it replaced by `***`."""
    return _URL.sub(_mask, text)
