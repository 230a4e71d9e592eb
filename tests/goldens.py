"""Golden files from the real pipeline: which providers, how their lab findings are normalised, what is written.

A golden case is a provider scanned from the lab (providers.yaml or the lab's own catalog). For each case the
files hold its findings (`<case>.findings.json`: evidence left out, lab addresses and timestamps replaced by
placeholders) and its score under each built-in profile (`<case>.<profile>.score.json`); `ranking.<profile>.json`
holds the per-kind ranking of all cases. `tests/regen_goldens.py` (`make goldens`) writes them; `test_golden.py`
fails when the pipeline's output drifts from them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from labscan import scan_lab

from auditor.findings import Audit, Finding, ProviderResult
from auditor.scoring import load_criteria, load_profile, rank, score_audit
from auditor.settings import Settings

GOLDEN = Path(__file__).parent / "golden"
PROFILES = ("rgpd", "sante")
# providers.yaml: a provider without a parent (Posteo), a Swiss one (Proton), the MSSanté operator (Mailiz), a US
# chat (Signal), a French chat on a US-registered network (Olvid), an Irish company with a US parent (WhatsApp).
REAL = ("posteo", "proton", "mailiz", "signal", "olvid", "whatsapp")
# the lab's catalog: the reference provider, a US company with lapsed and contradicted claims, a US company
# hosting in the EU, a DPF-certified one, one whose DNS fails, one whose web front-end and MTA-STS policy
# host are abroad while its mail stays in the EU.
LAB_ONLY = ("exemplary", "offshore", "transatlantic", "dpfcloud", "dnsfail", "frontdoor")
CASES = REAL + LAB_ONLY

_LAB_IP = re.compile(r"\b127\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b")
_BUILT = re.compile(r"\bbuilt \d{9,}\b")  # the lab's GeoIP database is built at lab start


def _normal(value: Any) -> Any:
    """Lab addresses and moments replaced: the lab's network is chosen per run, certificates are issued now."""
    if isinstance(value, str):
        return _BUILT.sub("built <time>", _TIME.sub("<time>", _LAB_IP.sub("<lab-ip>", value)))
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _finding(f: Finding) -> dict[str, Any]:
    return _normal(f.model_dump(mode="json", exclude={"evidence"}))


def findings_document(result: ProviderResult) -> list[dict[str, Any]]:
    """The provider's findings in the pipeline's own order (deterministic: probes are gathered in catalog
    order), so that a score computed from the file equals the score computed from the scan."""
    return [_finding(f) for f in result.checks]


def scan_cases(settings: Settings) -> Audit:
    return scan_lab(settings, REAL, LAB_ONLY)


def documents(audit: Audit) -> dict[str, Any]:
    """Every golden file's content from one scan of the cases: file name -> JSON value."""
    criteria = load_criteria()
    files: dict[str, Any] = {}
    for result in audit.providers:
        files[f"{result.id}.findings.json"] = findings_document(result)
    for name in PROFILES:
        scored = score_audit(audit, load_profile(name, criteria), criteria)
        for result in scored.providers:
            assert result.score is not None
            files[f"{result.id}.{name}.score.json"] = _normal(result.score.model_dump(mode="json"))
        files[f"ranking.{name}.json"] = [r.model_dump(mode="json") for r in rank(scored.providers)]
    return files


def text_of(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
