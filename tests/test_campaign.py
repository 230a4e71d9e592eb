"""Bulk campaigns (`auditor scan --domains FILE`, auditor/campaign.py): the file format, a real scan of the
synthetic lab by a real `auditor scan` process, its interruption (SIGINT, SIGTERM) and `--resume`."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from labscan import start_lab

from auditor.campaign import (
    CampaignTarget,
    campaign_provider,
    parse_domains,
    provider_from_json,
    providers_from_domains,
)
from auditor.catalog import Provider
from auditor.errors import ConfigError
from auditor.findings import ProviderResult, Status
from auditor.lab import Lab
from auditor.lab.synthetic import domain_name, write_synthetic
from auditor.scan import in_window, run_scan
from auditor.settings import load_settings
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = 40


# --- the file format (a pure parser) ----------------------------------------------------------------------
def test_domain_file_comments_blank_lines_case_and_duplicates() -> None:
    text = "# campaign of the week\n\nExample.ORG\nmail.example.net.  # trailing comment\nexample.org\n"
    assert parse_domains(text, "d.txt") == ["example.org", "mail.example.net"]


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("example.org\nnot a domain\n", 2, "several words"),
    ("example.org\n\n# c\nbad_name.example\n", 4, "bad_name.example"),
    ("localhost\n", 1, "fully qualified"),
    ("# only comments\n\n", None, "no domain"),
])
def test_bad_domain_file_is_one_line_with_its_fix(text: str, line: int | None, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_domains(text, "d.txt")
    message = str(info.value)
    assert message.startswith(f"d.txt:{line}: " if line else "d.txt: ") and fragment in message
    assert "fix: " in message and "\n" not in message


def test_campaign_target_is_a_provider_named_by_its_domain() -> None:
    target = campaign_provider("mail.example.org")
    assert (target.id, target.kind, target.mail_domains, target.endpoints, target.claims) == (
        "mail.example.org", "mail", ["mail.example.org"], [], [])
    shipped = json.loads(json.dumps(target.model_dump(mode="json")))  # to a worker and back (auditor.distributed)
    assert provider_from_json(shipped) == target and isinstance(provider_from_json(shipped), CampaignTarget)
    entry = {k: v for k, v in shipped.items() if k != "campaign"} | {"id": "example-org"}
    assert type(provider_from_json(entry)) is Provider  # a catalog entry stays one
    with pytest.raises(ValueError):
        provider_from_json({**entry, "id": "example.org"})  # a catalog id is a slug, not a domain


# --- the window and the caps -----------------------------------------------------------------------------
def test_lru_forgets_the_least_recently_used_beyond_its_cap() -> None:
    from auditor.lru import Lru

    cache: Lru[str, int] = Lru(3)
    for i, key in enumerate("abc"):
        cache[key] = i
    assert cache.get("a") == 0  # read: now the most recent
    cache["d"] = 3
    assert list(cache) == ["c", "a", "d"] and "b" not in cache and cache.get("b", -1) == -1
    cache["c"] = 9  # rewritten: the most recent again
    cache["e"] = 4
    assert list(cache) == ["d", "c", "e"] and len(cache) == 3
    with pytest.raises(ValueError):
        Lru(0)


def test_window_bounds_units_in_flight_and_starts_each_once() -> None:
    import asyncio

    started: list[int] = []
    live = peak = 0

    async def run(unit: int) -> None:
        nonlocal live, peak
        started.append(unit)
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.001 * (unit % 3))
        live -= 1

    asyncio.run(in_window(range(50), 4, run))
    assert sorted(started) == list(range(50)) and peak == 4


# --- real scans of the synthetic lab by a real `auditor scan` process ---------------------------------------
@pytest.fixture(scope="module")
def synthetic_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path]]:
    work = tmp_path_factory.mktemp("campaign")
    catalog, overlay = write_synthetic(work, DOMAINS, cluster_count=4)
    lab = start_lab(catalogs=[catalog], overlay=overlay)
    listing = work / "domains.txt"
    listing.write_text("# the synthetic lab's domains\n" + "".join(f"{domain_name(k)}\n" for k in range(DOMAINS)))
    try:
        yield lab, listing
    finally:
        lab.stop()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    return {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}


def _scan(lab: Lab, listing: Path, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "auditor", "scan", *shlex.split(lab.flags()), "--domains", str(listing),
            "--db", str(db), "--reports-dir", str(db.parent / "reports"), "--timeout", "3", *extra]


def _stored(db: Path) -> list[tuple[str, str, int]]:
    """(audit id, provider id, position) of every stored provider; nothing while the file does not exist."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute("SELECT audit_id, provider_id, position FROM providers").fetchall()
        except sqlite3.OperationalError:  # the schema is being created
            return []


def _mx_questions(lab: Lab) -> dict[str, int]:
    return {d: lab.questions[(f"{d}.", "MX")] for d in (domain_name(k) for k in range(DOMAINS))}


def _timed_scan(lab: Lab, providers: list[Provider], **overrides: object) -> tuple[float, list[ProviderResult]]:
    settings = load_settings({**lab.overrides(), **overrides}, environ={})
    results: list[ProviderResult] = []
    started = time.monotonic()
    asyncio.run(run_scan(providers, settings, on_provider=results.append, keep=False))
    return time.monotonic() - started, results


def test_a_units_deadline_starts_when_the_unit_does(synthetic_lab: tuple[Lab, Path]) -> None:
    """One unit at a time, with a provider deadline a few times one unit's duration: the run outlasts the
    deadline several times over, yet no unit ends in `scan.deadline` (a deadline counted from the scan's start,
    as before the window, would cut every unit after the first few)."""
    lab, listing = synthetic_lab
    providers = list(providers_from_domains(listing))
    _timed_scan(lab, providers[:1])  # caches warm (root keys, the lab's TLD), as the later units find them
    unit, _ = _timed_scan(lab, providers[1:2])
    deadline = max(4 * unit, 1.5)
    count = min(len(providers) - 2, math.ceil(2.5 * deadline / max(unit, 0.01)) + 1)
    elapsed, results = _timed_scan(lab, providers[2:2 + count], units_in_flight=1, provider_deadline=deadline)
    assert len(results) == count
    assert elapsed > deadline, f"{count} units took {elapsed:.1f}s, not more than one deadline ({deadline:.1f}s)"
    cut = [f.summary for r in results for f in r.checks if f.id == "scan.deadline"]
    assert not cut, cut


def test_bad_domain_file_exits_2_with_one_line(tmp_path: Path) -> None:
    listing = tmp_path / "d.txt"
    listing.write_text("example.org\nexample..org\n")
    result = subprocess.run([sys.executable, "-m", "auditor", "scan", "--domains", str(listing), "--db",
                             str(tmp_path / "a.sqlite")], capture_output=True, text=True, timeout=60,
                            env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"auditor: {listing}:2: ") and "fix: " in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_campaign_resumes_without_rescanning(synthetic_lab: tuple[Lab, Path], tmp_path: Path,
                                                         sig: signal.Signals) -> None:
    lab, listing = synthetic_lab
    db = tmp_path / "campaign.sqlite"
    lab.questions.clear()
    first = subprocess.Popen(_scan(lab, listing, db, "--units-in-flight", "1"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env(tmp_path), cwd=tmp_path)
    deadline = time.monotonic() + 120
    while len(_stored(db)) < 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(sig)  # our own child, by its handle
    _, err = first.communicate(timeout=60)
    assert first.returncode != 0, "the scan finished before it could be interrupted"
    assert "Traceback" not in err
    before = _stored(db)
    assert 5 <= len(before) < DOMAINS
    [audit_id] = {a for a, _, _ in before}
    with Store.open(db) as store:
        assert not store.load_audit(audit_id).complete
    finished = {p for _, p, _ in before}
    asked_before = _mx_questions(lab)

    resumed = subprocess.run(_scan(lab, listing, db, "--resume"), capture_output=True, text=True, timeout=300,
                             env=_env(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"audit {audit_id}: {DOMAINS} providers" in resumed.stdout

    after = _stored(db)
    assert {a for a, _, _ in after} == {audit_id}  # the same audit, completed, not a new one
    positions = {p: pos for _, p, pos in after}
    assert set(positions) == {domain_name(k) for k in range(DOMAINS)}
    assert sorted(positions.values()) == list(range(DOMAINS))  # each stored once
    assert all(positions[p] == pos for _, p, pos in before)  # finished units kept where they were
    # No finished unit scanned twice: the resumed run never asked for its MX records; every other one it did.
    asked = _mx_questions(lab)
    assert all(asked[d] == asked_before[d] > 0 for d in finished), {d: asked[d] for d in finished}
    assert all(asked[d] > asked_before[d] for d in asked if d not in finished)
    with Store.open(db) as store:
        audit = store.load_audit(audit_id)
    assert audit.complete and [p.id for p in audit.providers] == sorted(positions, key=positions.__getitem__)
    for result in audit.providers:
        assert result.score is None  # a campaign is not graded (README "Bulk campaigns")
        by_id = {c.id: c for c in result.checks}
        assert by_id["jurisdiction.company"].status == Status.SKIP and by_id["transfer"].status == Status.SKIP
        assert by_id["dns.mx"].status == Status.PASS and by_id["smtp.starttls"].status == Status.PASS
        assert not [c for c in result.checks if c.id.startswith("scan.")]  # no deadline hit, no probe crash
    document = json.loads(next((db.parent / "reports").glob(f"campaign-{audit_id}.json")).read_text())
    assert [p["id"] for p in document["providers"]] == [domain_name(k) for k in range(DOMAINS)]  # file order


def test_resume_of_a_complete_audit_is_refused(synthetic_lab: tuple[Lab, Path], tmp_path: Path) -> None:
    lab, _ = synthetic_lab
    listing = tmp_path / "two.txt"
    listing.write_text(f"{domain_name(0)}\n{domain_name(1)}\n")
    db = tmp_path / "a.sqlite"
    done = subprocess.run(_scan(lab, listing, db), capture_output=True, text=True, timeout=300, env=_env(tmp_path),
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [audit_id] = {a for a, _, _ in _stored(db)}
    again = subprocess.run(_scan(lab, listing, db, "--resume", audit_id), capture_output=True, text=True,
                           timeout=120, env=_env(tmp_path), cwd=tmp_path)
    assert again.returncode == 2 and "is complete: nothing to resume" in again.stderr
    assert "Traceback" not in again.stderr
    # Without an id and nothing interrupted, a new audit is started (and says so).
    fresh = subprocess.run(_scan(lab, listing, db, "--resume"), capture_output=True, text=True, timeout=300,
                           env=_env(tmp_path), cwd=tmp_path)
    assert fresh.returncode == 0 and "no interrupted audit" in fresh.stderr
    assert len({a for a, _, _ in _stored(db)}) == 2


def test_campaign_end_phase_streamed_is_what_the_whole_audit_gives(synthetic_lab: tuple[Lab, Path],
                                                                    tmp_path: Path) -> None:
    """The end phase reads a campaign back one domain at a time (seal, JSON, HTML): each output must be the bytes
    the whole-audit code gives, and the seal must verify (history and the exported bundle, by the real CLI)."""
    from auditor.evidence.items import bundle_items, document_bytes
    from auditor.evidence.manifest import FORMAT, Manifest, manifest_items
    from auditor.evidence.seal import verify_history
    from auditor.pipeline import StoredAudit
    from auditor.report import render_audit_html
    from auditor.report.sheet import REPORT_EVIDENCE
    from auditor.report.wiring import audit_html_parts
    from auditor.schema import audit_document, document_text

    lab, listing = synthetic_lab
    db, out = tmp_path / "a.sqlite", tmp_path / "campaign.json"
    done = subprocess.run(_scan(lab, listing, db, "--json", str(out)), capture_output=True, text=True, timeout=300,
                          env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    order = parse_domains(listing.read_text(), "domains")
    with Store.open(db) as store:
        header = store.audit_header()
        audit = store.load_audit()
        check = verify_history(store)
        assert check.intact and check.sealed == 1, check.problems
        link = store.chain_link(header.audit_id)
    assert link is not None
    by_id = {p.id: p for p in audit.providers}
    whole = audit.model_copy(update={"providers": [by_id[d] for d in order]})
    stored = StoredAudit(db, header.audit_id, order)
    # The JSON document, streamed and validated part by part, is the whole document's bytes…
    streamed = "".join(document_text(header, stored.providers()))
    assert streamed == json.dumps(audit_document(whole), indent=2, ensure_ascii=False) + "\n"
    # …and the file the CLI wrote holds the same providers (its header comes from the run, not the store).
    written = json.loads(out.read_text())
    assert written["providers"] == json.loads(streamed)["providers"] and len(written["providers"]) == DOMAINS
    # The HTML report from per-domain views read twice, without the evidence it never shows.
    html = "".join(audit_html_parts(header, "en", providers=lambda: stored.providers(REPORT_EVIDENCE)))
    assert html == render_audit_html(whole, lang="en") and domain_name(DOMAINS - 1) in html
    # The manifest sealed provider by provider is the whole-audit manifest, byte for byte.
    sealed = json.loads(link.body)
    rebuilt = Manifest(**{**sealed, "format": FORMAT, "items": manifest_items(bundle_items(audit, {}))})
    assert link.body == document_bytes(rebuilt.model_dump(mode="json"))
    bundle = tmp_path / "campaign.zip"
    auditor = [sys.executable, "-m", "auditor"]
    exported = subprocess.run([*auditor, "evidence", "export", "--db", str(db), "-o", str(bundle)],
                              capture_output=True, text=True, timeout=120, env=_env(tmp_path), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    verified = subprocess.run([*auditor, "evidence", "verify", str(bundle)], capture_output=True, text=True,
                              timeout=120, env=_env(tmp_path), cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
