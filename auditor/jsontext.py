"""JSON documents written a part at a time: a document whose one big list (an audit's providers, a manifest's
items) is laid out item by item, byte for byte what `json.dumps` of the whole document gives."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def part_text(value: Any, *, sort_keys: bool = True) -> str:
    """One value laid out with a two-space indent (keys sorted unless told), no final newline: a part of a document."""
    return json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False)


def spliced(head: dict[str, Any], key: str, parts: Iterable[str], *, sort_keys: bool = True) -> Iterator[str]:
    """The text of `head` with `head[key]` a list of the already laid out `parts` (`part_text`), piece by piece:
    exactly `json.dumps({**head, key: [...]}, indent=2, …) + "\n"`, without ever holding the whole list.

    Why it is exact: with an indent, json.dumps puts each top-level key on a line of its own indented by two
    spaces (nested ones by four or more, and strings never hold a raw newline), and a list's items one per
    line, each indented by the list's depth: a part laid out alone and shifted by four spaces is the same text.
    """
    text = part_text({**head, key: []}, sort_keys=sort_keys) + "\n"
    marker = f"\n  {json.dumps(key)}: []"
    before, found, after = text.partition(marker)
    if not found:
        raise ValueError(f"{key!r} is not a key of the document")
    yield before + marker[:-1]
    empty = True
    for part in parts:
        yield ("\n" if empty else ",\n") + in_list(part)
        empty = False
    yield ("]" if empty else "\n  ]") + after


def in_list(part: str) -> str:
    """A part (`part_text`) as an item of a top-level key's list: every line shifted by four spaces."""
    return "\n".join("    " + line for line in part.split("\n"))
