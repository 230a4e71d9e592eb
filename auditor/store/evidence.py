"""Content addressing for evidence: the same facts always give the same bytes, hence the same hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept as is: equal JSON values give equal strings.

    `value` must already be JSON-compatible (a pydantic `model_dump(mode="json")`), so that what is
    hashed is exactly what is stored and what a reader can re-hash.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evidence_hash(body: str) -> str:
    """SHA-256 (hex) of the canonical JSON text, as stored in `evidence.hash`."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
