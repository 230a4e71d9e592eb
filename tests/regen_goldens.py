"""Rewrite tests/golden/ from the real pipeline: start the lab, scan the golden cases, score them, write.

    make goldens            # or: .venv/bin/python tests/regen_goldens.py

Review the diff before committing: a golden file changes when the pipeline's output does, and the change must
be the one you meant. Files of cases no longer listed are removed.
"""

from __future__ import annotations

import sys

from goldens import GOLDEN, documents, scan_cases, text_of
from labscan import start_lab

from auditor.settings import load_settings


def main() -> int:
    lab = start_lab()
    try:
        audit = scan_cases(load_settings({**lab.overrides(), "timeout": 3.0}, environ={}))
    finally:
        lab.stop()
    files = documents(audit)
    GOLDEN.mkdir(exist_ok=True)
    for stale in sorted(set(p.name for p in GOLDEN.glob("*.json")) - set(files)):
        (GOLDEN / stale).unlink()
        print(f"removed {stale}")
    for name, value in sorted(files.items()):
        path = GOLDEN / name
        text = text_of(value)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
