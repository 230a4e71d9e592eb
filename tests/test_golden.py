"""Golden files: the real pipeline's findings and scores for chosen providers, scanned from the lab.

A failure here means the pipeline's output changed. If the change is meant, run `make goldens` and review the
diff of tests/golden/ before committing it (see tests/goldens.py for what is kept and how it is normalised).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from goldens import CASES, GOLDEN, PROFILES, documents

from auditor.findings import Audit, ProviderResult, Score
from auditor.scoring import load_criteria, load_profile, score_provider


@pytest.fixture(scope="module")
def audit(cases_audit: Audit) -> Audit:
    return cases_audit


@pytest.fixture(scope="module")
def produced(audit: Audit) -> dict[str, Any]:
    return documents(audit)


def stored(name: str) -> Any:
    path = GOLDEN / name
    if not path.exists():
        pytest.fail(f"missing golden file {path}: run `make goldens` and review the result")
    return json.loads(path.read_text(encoding="utf-8"))


def golden_names() -> list[str]:
    names = [f"{case}.findings.json" for case in CASES]
    names += [f"{case}.{profile}.score.json" for case in CASES for profile in PROFILES]
    return names + [f"ranking.{profile}.json" for profile in PROFILES]


@pytest.mark.parametrize("name", golden_names())
def test_pipeline_output_matches_the_golden_file(produced: dict[str, Any], name: str) -> None:
    assert produced[name] == stored(name), f"{name} drifted from the pipeline's output (make goldens)"


def test_no_orphan_golden_files() -> None:
    assert {p.name for p in GOLDEN.glob("*.json")} == set(golden_names())


def test_every_point_lost_has_a_reason(audit: Audit) -> None:
    criteria = load_criteria()
    for result in audit.providers:
        for profile in PROFILES:
            for row in score_provider(result, load_profile(profile), criteria).criteria:
                if row.points < row.max:
                    assert row.reason and row.details, (result.id, profile, row.id)
                if row.status == "not_verified":
                    assert row.points == 0


def golden_score(case: str, profile: str) -> Score:
    return Score.model_validate(stored(f"{case}.{profile}.score.json"))


def test_golden_scores_rescore_from_golden_findings() -> None:
    """Scoring alone, without the lab: the stored findings give the stored scores (up to the rank, which needs
    the other providers)."""
    criteria = load_criteria()
    for case in CASES:
        checks = stored(f"{case}.findings.json")
        result = ProviderResult.model_validate({"id": case, "name": case, "kind": _kind(case), "checks": checks})
        for profile in PROFILES:
            expected = golden_score(case, profile).model_copy(update={"rank": None, "rank_of": None})
            assert score_provider(result, load_profile(profile), criteria) == expected, (case, profile)


def _kind(case: str) -> str:
    ranking = stored("ranking.rgpd.json")
    return next(line["kind"] for line in ranking if line["id"] == case)
