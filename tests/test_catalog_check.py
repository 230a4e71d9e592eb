"""`auditor catalog check`: validity, the freshness table, its warnings and its exit codes."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from auditor.catalog import load_catalog, parse_catalog
from auditor.catalog_freshness import review, review_provider, table

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.datetime.now(dt.UTC).date()
FRESH = (TODAY - dt.timedelta(days=30)).isoformat()

CATALOG = f"""\
schema: auditor.providers/1
providers:
  - id: fresh
    name: Fresh Mail
    kind: mail
    verified: {FRESH}
    company: {{legal_name: Fresh GmbH, country: DE, dpf_certified: not_applicable}}
    mail_domains: [fresh.example]
    published:
      - domain: fresh.example
        observed: {FRESH}
        source: https://scan.example.org/fresh.example
        dnssec: true
    claims:
      - name: 2fa
        claimed: true
        evidence_url: https://fresh.example/security
        evidence_text: "Two-factor authentication with TOTP"
        checked: {FRESH}
  - id: stale
    name: Stale Mail
    kind: mail
    verified: 2020-01-15
    company: {{legal_name: Stale SAS, country: FR, dpf_certified: not_applicable}}
    mail_domains: [stale.example]
    published:
      - domain: stale.example
        source: https://scan.example.org/stale.example
        dane: true
    claims:
      - name: e2ee
        claimed: true
        evidence_url: https://blog.example.org/stale-review
        evidence_text: "Stale Mail encrypts end to end"
        checked: 2019-06
      - name: hds
        claimed: true
        evidence_url: https://stale.example/hds
        evidence_text: "HDS certified"
        attestation: {{body: Example Ministry, valid_until: 2020-07}}
"""


def auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_fresh_provider_has_no_warnings_and_counts_its_evidence() -> None:
    fresh, stale = review(parse_catalog(CATALOG, "c.yaml"), TODAY)
    assert fresh.warnings == [] and fresh.claims == {"stated": 1} and fresh.oldest_check == FRESH
    assert stale.claims == {"third_party": 1, "expired": 1} and stale.oldest_check == "2019-06"
    joined = "\n".join(stale.warnings)
    assert "verified: 2020-01-15 is older than 12 months" in joined
    assert "claim e2ee checked: 2019-06 is older than 12 months" in joined
    assert "claim e2ee: only a third party's page supports it (https://blog.example.org/stale-review)" in joined
    assert "claim hds checked: no date" in joined
    assert "published stale.example observed: no date" in joined
    assert len(stale.warnings) == 5


def test_dates_in_the_future_and_month_precision() -> None:
    provider = parse_catalog(CATALOG, "c.yaml").providers[0]
    later = review_provider(provider.model_copy(update={"verified": "2999-01-01"}), TODAY)
    assert any("2999-01-01 is in the future" in w for w in later.warnings)
    # a month counts until its last day: 12 months after the end of 2025-01 is still fresh on 2026-01-30
    month = review_provider(provider.model_copy(update={"verified": "2025-01"}), dt.date(2026, 1, 30))
    assert not [w for w in month.warnings if w.startswith("verified")]
    assert review_provider(provider.model_copy(update={"verified": "2025-01"}), dt.date(2026, 2, 1)).warnings


def test_a_role_basis_without_its_french_text_is_a_warning() -> None:
    from auditor.catalog import DataRole

    provider = parse_catalog(CATALOG, "c.yaml").providers[0]
    english_only = provider.model_copy(update={"role": DataRole(value="processor", basis="offers a DPA")})
    assert ("role: `basis` has no French text (`basis_fr`); the French report leaves it out"
            in review_provider(english_only, TODAY).warnings)
    both = provider.model_copy(update={"role": DataRole(value="processor", basis="offers a DPA",
                                                        basis_fr="propose un accord de sous-traitance")})
    assert review_provider(both, TODAY).warnings == []
    # the shipped catalog gives every basis in French
    shipped = review(load_catalog(ROOT / "providers.yaml"), TODAY)
    assert not [w for r in shipped for w in r.warnings if "basis_fr" in w]


def test_table_has_one_row_per_provider() -> None:
    text = table(review(parse_catalog(CATALOG, "c.yaml"), TODAY))
    lines = text.splitlines()
    assert lines[0].split() == ["id", "verified", "oldest", "check", "claims", "by", "evidence", "kind", "warnings"]
    assert lines[1].split()[:3] == ["fresh", FRESH, FRESH] and lines[1].split()[-1] == "0"
    assert lines[2].split()[:3] == ["stale", "2020-01-15", "2019-06"] and lines[2].split()[-1] == "5"
    assert "third_party 1, expired 1" in lines[2]


def test_cli_prints_table_and_warnings_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    result = auditor("catalog", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "oldest check" in result.stdout and "claims by evidence kind" in result.stdout
    assert "stale: claim e2ee: only a third party's page supports it" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith(f"{path}: 2 providers, valid; 5 warnings as of ")


def test_cli_json(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    result = auditor("catalog", "check", str(path), "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["valid"] is True and document["warnings"] == 5 and document["max_age_days"] == 365
    fresh, stale = document["providers"]
    assert fresh == {"id": "fresh", "kind": "mail", "name": "Fresh Mail", "verified": FRESH, "oldest_check": FRESH,
                     "claims": {"stated": 1}, "warnings": []}
    assert stale["claims"] == {"third_party": 1, "expired": 1} and len(stale["warnings"]) == 5


def test_cli_invalid_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(CATALOG.replace("verified: 2020-01-15", "verified: last year"), encoding="utf-8")
    for args in ([str(path)], [str(path), "--json"]):
        result = auditor("catalog", "check", *args)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith(f"auditor: {path}:") and "YYYY-MM-DD" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_real_catalog_every_entry_dated_where_it_was_re_checked() -> None:
    """The shipped catalog: every claim with a recorded phrase was read on a known date, and no fact is stale
    without saying so (the table is the closing note of issue 13)."""
    rows = review(load_catalog(ROOT / "providers.yaml"), TODAY)
    assert len(rows) == 18
    catalog = load_catalog(ROOT / "providers.yaml")
    for provider in catalog.providers:
        for claim in provider.claims:
            if claim.evidence_text:
                assert claim.checked, f"{provider.id}: claim {claim.name} has a phrase but no checked date"
