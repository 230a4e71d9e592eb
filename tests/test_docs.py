"""The project carries its own documentation (issue 15): the README points into docs/, never at notes a user
of the package does not have, and docs/checks.md names every check id the code and the schema know."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.catalog import load_catalog
from auditor.lab import Lab
from auditor.scan import run_scan
from auditor.schema import VALUE_SCHEMAS, audit_document
from auditor.scoring import score_audit
from auditor.settings import PACKAGED_CATALOG, load_settings

ROOT = Path(__file__).resolve().parent.parent
# Written by engineers working in parallel; the README links them already.
COMING = {"docs/scoring.md", "docs/vantage.md", "docs/catalog.md"}


def test_readme_points_into_docs_not_at_team_notes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme and "/work/" not in readme
    links = set(re.findall(r"\]\((docs/[^)#]+)\)", readme))
    assert {"docs/checks.md", "docs/architecture.md"} <= links
    assert all((ROOT / link).is_file() for link in links - COMING)


def test_checks_doc_names_every_check() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_.<>]+)` \|", text, re.MULTILINE))
    written_by_probes = {"https.security_txt", "scan.probe", "scan.deadline", "claim.<name>"}
    assert set(VALUE_SCHEMAS) | written_by_probes <= documented


# --- every field a real document carries is documented ----------------------------------------------------

DOCUMENTED_PROVIDERS = ["olvid", "proton", "mailiz", "hushmail", "signal", "posteo"]


@pytest.fixture(scope="module")
def document(lab: Lab) -> dict[str, Any]:
    """A real audit document: catalog providers scanned in the lab, scored, as `scan --json` writes it."""
    settings = load_settings({**lab.overrides(), "timeout": 3.0}, environ={})
    audit = asyncio.run(run_scan(load_catalog(PACKAGED_CATALOG).select(DOCUMENTED_PROVIDERS), settings))
    return audit_document(score_audit(audit, "rgpd"))


def documented(text: str, key: str) -> bool:
    return f"`{key}`" in text or f'"{key}"' in text or f"`evidence.{key}`" in text


def test_checks_doc_names_every_field_of_a_real_document(document: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    doc_part = text.split("## Each check")[0]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9_.<>]+)` \|.*$", text, re.MULTILINE)}
    missing = [f"document.{k}" for k in document if not documented(doc_part, k)]
    missing += [f"vantage.{k}" for k in document["vantage"] if not documented(doc_part, k)]
    scores = [p["score"] for p in document["providers"] if p["score"]]
    fields = {("score", k) for s in scores for k in s}
    fields |= {("criteria", k) for s in scores for c in s["criteria"] for k in c}
    fields |= {("details", k) for s in scores for c in s["criteria"] for d in c["details"] for k in d}
    fields |= {("uses", k) for s in scores for u in s["uses"] for k in u}
    fields |= {("reasons", k) for s in scores for u in s["uses"] for r in u["reasons"] for k in r}
    missing += [f"{where}.{k}" for where, k in sorted(fields) if not documented(doc_part, k)]
    seen: set[str] = set()
    for p in document["providers"]:
        for f in p["checks"]:
            check = "claim.<name>" if f["id"].startswith("claim.") else f["id"]
            seen.add(check)
            row = rows.get(check, "")
            keys = list(f["value"]) if isinstance(f["value"], dict) else []
            keys += [k for k in ("foreign_operators", "attestation", "contradicted_by", "role", "access_laws")
                     if k in f["evidence"]]
            missing += [f"{check}.{k}" for k in keys if not documented(row, k)]
    assert {"transfer", "trust_space", "claim.<name>", "jurisdiction.company", "hosting.summary"} <= seen
    assert sorted(set(missing)) == []
