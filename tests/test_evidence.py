"""The evidence bundle and the tamper-evident history, on audits of real lab scans.

Two audits of two catalog providers (with claim pages) are scanned against the session lab into a fresh
database; bundles are exported and checked with the real CLI (`auditor evidence verify`), then damaged the way
an attacker or an accident would: one byte, an item removed or added, another key, a hostile zip; the
database is altered, an audit removed, links reordered, and `history --verify` must say so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_cron import AUDITOR, ROOT, clean_env

from auditor.catalog import load_catalog
from auditor.lab import Lab
from auditor.pipeline import execute
from auditor.settings import PACKAGED_CATALOG, Settings
from auditor.store import Store

PROVIDERS = ["posteo", "tuta"]


@dataclass
class Scanned:
    db: Path
    env: dict[str, str]
    audits: list[str]  # oldest first
    bundle: Path


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUDITOR), *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def scan(lab: Lab, db: Path) -> str:
    providers = load_catalog(PACKAGED_CATALOG).select(PROVIDERS)
    return execute(Settings(**lab.overrides(), timeout=3.0, db=db), providers, quiet=True).audit_id


@pytest.fixture(scope="module")
def scanned(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    tmp = tmp_path_factory.mktemp("evidence")
    db = tmp / "audits.sqlite"
    audits = [scan(lab, db), scan(lab, db)]
    env = clean_env(tmp)
    bundle = tmp / "bundle.zip"
    result = cli(env, "evidence", "export", "--db", str(db), "--audit", audits[0], "-o", str(bundle))
    assert result.returncode == 0, result.stderr
    return Scanned(db, env, audits, bundle)


def copy_db(scanned: Scanned, tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / "copy.sqlite"
    with closing(sqlite3.connect(scanned.db)) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)
    shutil.copy(f"{scanned.db}.signing-key", f"{db}.signing-key")
    return db


def rewrite(bundle: Path, out: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> Path:
    """A copy of `bundle` with entries replaced (None: removed) and added, each with a consistent CRC."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = change.get(info.filename, src.read(info)) if info.filename in change else src.read(info)
            if data is not None:
                dst.writestr(info.filename, data)
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return out


def verify(scanned: Scanned, bundle: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return cli(scanned.env, "evidence", "verify", str(bundle), *more)


def test_an_exported_bundle_verifies_offline_and_holds_the_evidence_as_observed(scanned: Scanned,
                                                                               tmp_path: Path) -> None:
    result = verify(scanned, scanned.bundle)
    assert result.returncode == 0, result.stderr
    assert f"intact — audit {scanned.audits[0]}" in result.stdout
    # verify needs no database: the bundle alone, in an empty directory, with no database configured
    alone = tmp_path / "alone.zip"
    shutil.copy(scanned.bundle, alone)
    assert cli(clean_env(tmp_path), "evidence", "verify", str(alone)).returncode == 0
    with zipfile.ZipFile(scanned.bundle) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
        audit = json.loads(z.read("audit.json"))
        assert manifest["audit_id"] == audit["audit_id"] == scanned.audits[0]
        assert manifest["tool_version"] == audit["tool_version"] and manifest["vantage"] == audit["vantage"]
        control = {"manifest.json", "manifest.sig", "public-key.pem"}
        assert {i["path"] for i in manifest["items"]} | control == set(names)
        # DNS answers in wire format, with the RRSIGs the DNSSEC validation rested on
        import dns.message
        import dns.rdatatype

        wires = [n for n in names if n.endswith(".dns") and "dns.dnssec" in n]
        assert wires
        message = dns.message.from_wire(z.read(wires[0]))
        assert any(rrset.rdtype == dns.rdatatype.RRSIG for rrset in message.answer)
        # certificate chains in PEM, MTA-STS policies as served
        from cryptography import x509

        pems = [n for n in names if n.endswith(".pem") and n.startswith("evidence/")]
        assert pems and x509.load_pem_x509_certificates(z.read(pems[0]))
        assert any(n.endswith("mta-sts.txt") and b"version: STSv1" in z.read(n) for n in names)
        # claim pages as fetched: the bytes the finding hashed
        claims = [c for p in audit["providers"] for c in p["checks"]
                  if c["id"].startswith("claim.") and (c["value"] or {}).get("sha256")]
        assert claims
        for claim in claims:
            page = next(n for n in names if n.startswith(f"pages/{claim['value']['sha256']}."))
            assert hashlib.sha256(z.read(page)).hexdigest() == claim["value"]["sha256"]


def test_one_changed_byte_fails_naming_the_item(scanned: Scanned, tmp_path: Path) -> None:
    with zipfile.ZipFile(scanned.bundle) as z:
        name = next(n for n in z.namelist() if n.endswith("chain.pem"))
        data = bytearray(z.read(name))
    data[40] ^= 0x01
    result = verify(scanned, rewrite(scanned.bundle, tmp_path / "t.zip", {name: bytes(data)}))
    assert result.returncode == 1
    assert f"item {name} changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_byte_flipped_in_the_zip_itself_names_the_damaged_item(scanned: Scanned, tmp_path: Path) -> None:
    raw = bytearray(scanned.bundle.read_bytes())
    with zipfile.ZipFile(scanned.bundle) as z:
        info = z.getinfo("audit.json")
    raw[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF  # inside audit.json's compressed data
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    result = verify(scanned, damaged)
    assert result.returncode == 1
    assert "audit.json" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_item_fails(scanned: Scanned, tmp_path: Path) -> None:
    result = verify(scanned, rewrite(scanned.bundle, tmp_path / "t.zip", {"vantage.json": None}))
    assert result.returncode == 1
    assert "missing item vantage.json" in result.stderr


def test_an_extra_item_fails(scanned: Scanned, tmp_path: Path) -> None:
    result = verify(scanned, rewrite(scanned.bundle, tmp_path / "t.zip", {}, {"evidence/posteo/note.txt": b"hi"}))
    assert result.returncode == 1
    assert "extra item evidence/posteo/note.txt: not in the manifest" in result.stderr


def test_a_manifest_changed_to_match_a_change_fails_its_signature(scanned: Scanned, tmp_path: Path) -> None:
    with zipfile.ZipFile(scanned.bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
        vantage = z.read("vantage.json").replace(b'"lab": true', b'"lab": false')
    for item in manifest["items"]:
        if item["path"] == "vantage.json":
            item.update(sha256=hashlib.sha256(vantage).hexdigest(), size=len(vantage))
    forged = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    result = verify(scanned, rewrite(scanned.bundle, tmp_path / "t.zip",
                                     {"vantage.json": vantage, "manifest.json": forged}))
    assert result.returncode == 1
    assert "the signature does not verify" in result.stderr


def test_the_wrong_key_fails_and_the_right_one_passes(scanned: Scanned, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    wrong = tmp_path / "wrong.pem"
    assert cli(scanned.env, "evidence", "public-key", "--db", str(other), "-o", str(wrong)).returncode == 0
    result = verify(scanned, scanned.bundle, "--public-key", str(wrong))
    assert result.returncode == 1
    assert "wrong key: the manifest is signed by SHA256:" in result.stderr
    right = tmp_path / "right.pem"
    shown = cli(scanned.env, "evidence", "public-key", "--db", str(scanned.db), "-o", str(right))
    assert shown.returncode == 0
    passed = verify(scanned, scanned.bundle, "--public-key", str(right))
    assert passed.returncode == 0 and "with the key given" in passed.stdout
    fingerprint = shown.stdout.split("fingerprint ")[1].split(" (")[0]
    assert fingerprint in passed.stdout


@pytest.mark.parametrize("make", ["garbage", "empty", "no_manifest", "directory"])
def test_what_is_not_a_bundle_is_one_line_and_exit_2(scanned: Scanned, tmp_path: Path, make: str) -> None:
    target = tmp_path / "x.zip"
    if make == "garbage":
        target.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 50)
    elif make == "empty":
        target.write_bytes(b"")
    elif make == "no_manifest":
        with zipfile.ZipFile(target, "w") as z:
            z.writestr("audit.json", "{}")
    else:
        target.mkdir()
    result = verify(scanned, target)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "not an evidence bundle" in result.stderr


def test_hostile_entries_are_refused_not_extracted(scanned: Scanned, tmp_path: Path) -> None:
    hostile = rewrite(scanned.bundle, tmp_path / "t.zip", {},
                      {"../../escape.txt": b"x", "/etc/passwd-copy": b"x", "evidence\\win.txt": b"x"})
    result = verify(scanned, hostile)
    assert result.returncode == 1
    assert result.stderr.count("unsafe name") == 3
    assert not (tmp_path.parent.parent / "escape.txt").exists()
    # a duplicated entry: which copy counts would be ambiguous
    with zipfile.ZipFile(hostile, "a") as z, pytest.warns(UserWarning):
        z.writestr("audit.json", b"{}")
    assert "appears twice" in verify(scanned, hostile).stderr


def test_a_bomb_costs_at_most_the_size_the_manifest_lists(scanned: Scanned, tmp_path: Path) -> None:
    bomb = rewrite(scanned.bundle, tmp_path / "t.zip", {"vantage.json": b"\0" * (64 * 1024 * 1024)})
    result = verify(scanned, bomb)
    assert result.returncode == 1
    assert "item vantage.json changed (larger than" in result.stderr


# -- the history ---------------------------------------------------------------------------------------------


def history_verify(scanned: Scanned, db: Path) -> subprocess.CompletedProcess[str]:
    return cli(scanned.env, "history", "--verify", "--db", str(db))


def test_the_history_of_real_scans_is_intact(scanned: Scanned) -> None:
    result = history_verify(scanned, scanned.db)
    assert result.returncode == 0, result.stderr
    assert "2 audits match their seal" in result.stdout and "history intact" in result.stdout
    with Store.open(scanned.db) as store:
        links, _ = store.chain()
    first, second = (json.loads(link.body) for link in links)
    assert first["previous"] is None and second["previous"] == links[0].hash  # each holds the previous hash


def test_an_altered_audit_is_detected(scanned: Scanned, tmp_path: Path) -> None:
    db = copy_db(scanned, tmp_path)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE findings SET status = 'pass' WHERE audit_id = ? AND status = 'fail'", (scanned.audits[0],))
    result = history_verify(scanned, db)
    assert result.returncode == 1
    assert f"audit {scanned.audits[0]} was altered in the database since it was sealed" in result.stderr
    assert "/finding.json changed" in result.stderr
    # and such a database is not exported under a seal it no longer matches
    out = cli(scanned.env, "evidence", "export", "--db", str(db), "--audit", scanned.audits[0], "-o",
              str(tmp_path / "b.zip"))
    assert out.returncode == 1 and "no longer matches its seal" in out.stderr
    assert not (tmp_path / "b.zip").exists()


def test_a_removed_audit_is_detected_and_a_pruned_one_is_not(scanned: Scanned, tmp_path: Path) -> None:
    db = copy_db(scanned, tmp_path)
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM audits WHERE id = ?", (scanned.audits[0],))
    result = history_verify(scanned, db)
    assert result.returncode == 1
    assert f"audit {scanned.audits[0]} was removed from the database (no prune recorded it)" in result.stderr

    pruned = copy_db(scanned, tmp_path / "p")
    assert cli(scanned.env, "prune", "--keep", "1", "--db", str(pruned)).returncode == 0
    result = history_verify(scanned, pruned)
    assert result.returncode == 0, result.stderr
    assert "1 pruned (recorded)" in result.stdout


def test_a_removed_link_and_reordered_links_are_detected(scanned: Scanned, tmp_path: Path) -> None:
    db = copy_db(scanned, tmp_path)
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM audits WHERE id = ?", (scanned.audits[0],))
        con.execute("DELETE FROM chain WHERE audit_id = ?", (scanned.audits[0],))
    result = history_verify(scanned, db)
    assert result.returncode == 1
    assert "links 1–1 of the chain are missing" in result.stderr
    assert "the previous link is not the one recorded" in result.stderr

    swapped = copy_db(scanned, tmp_path / "s")
    with sqlite3.connect(swapped) as con:
        for old, new in ((1, 3), (2, 1), (3, 2)):  # the two links swapped
            con.execute("UPDATE chain SET seq = ? WHERE seq = ?", (new, old))
        con.execute("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'chain'")
    result = history_verify(scanned, swapped)
    assert result.returncode == 1 and "the previous link is not the one recorded" in result.stderr

    tail = copy_db(scanned, tmp_path / "t")
    with sqlite3.connect(tail) as con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM audits WHERE id = ?", (scanned.audits[1],))
        con.execute("DELETE FROM chain WHERE audit_id = ?", (scanned.audits[1],))
    result = history_verify(scanned, tail)
    assert result.returncode == 1 and "the last 1 link(s) of the chain were removed" in result.stderr


def test_the_signing_key_is_private_and_the_history_can_be_pinned_to_it(scanned: Scanned, tmp_path: Path) -> None:
    key = Path(f"{scanned.db}.signing-key")
    assert key.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other.pem"
    assert cli(scanned.env, "evidence", "public-key", "--db", str(tmp_path / "o.sqlite"), "-o",
               str(other)).returncode == 0
    result = cli(scanned.env, "history", "--verify", "--db", str(scanned.db), "--public-key", str(other))
    assert result.returncode == 1 and "not by the key given" in result.stderr


# -- RFC 3161 time-stamps, against the lab's TSA (auditor/lab/tsa.py) ----------------------------------------


def test_the_manifest_is_time_stamped_and_verify_checks_the_token(lab: Lab, scanned: Scanned, tmp_path: Path) -> None:
    import certifi

    from auditor.evidence.timestamp import stamp

    assert lab.tsa is not None
    db = tmp_path / "tsa.sqlite"
    settings = Settings(**lab.overrides(), timeout=3.0, db=db, tsa_url=lab.tsa_url)
    before = lab.tsa.answered
    audit_id = execute(settings, load_catalog(PACKAGED_CATALOG).select(["posteo"]), quiet=True).audit_id
    assert lab.tsa.answered == before + 1  # sealing asked the TSA once
    bundle = tmp_path / "b.zip"
    assert cli(scanned.env, "evidence", "export", "--db", str(db), "-o", str(bundle)).returncode == 0
    result = verify(scanned, bundle, "--tsa-ca", str(lab.ca_bundle))
    assert result.returncode == 0, result.stderr
    assert "time-stamped" in result.stdout and "CN=Auditor Lab Time-Stamping Authority" in result.stdout
    with zipfile.ZipFile(bundle) as z:
        assert "timestamp.tsr" in z.namelist()
    # a genuine token, but for another manifest
    other, _ = stamp(b"another manifest\n", settings)
    swapped = rewrite(bundle, tmp_path / "swapped.zip", {"timestamp.tsr": other})
    for extra in ([], ["--tsa-ca", str(lab.ca_bundle)]):
        failed = verify(scanned, swapped, *extra)
        assert failed.returncode == 1 and "timestamp.tsr" in failed.stderr, failed.stderr
    # the right token, but the TSA's root is not among the roots given
    untrusted = verify(scanned, bundle, "--tsa-ca", certifi.where())
    assert untrusted.returncode == 1 and "the time-stamp does not verify" in untrusted.stderr
    # garbage instead of a token: a failed check, not a crash
    garbage = verify(scanned, rewrite(bundle, tmp_path / "g.zip", {"timestamp.tsr": b"\x30\x03\x02\x01"}),
                     "--tsa-ca", str(lab.ca_bundle))
    assert garbage.returncode == 1 and "Traceback" not in garbage.stderr
    with Store.open(db) as store:
        link = store.chain_link(audit_id)
    assert link is not None and link.timestamp is not None


def test_an_unreachable_tsa_leaves_the_audit_sealed_and_says_so(lab: Lab, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.sqlite"
    dead = f"http://127.{lab.net}.0.81/tsr"  # nothing listens there
    settings = Settings(**lab.overrides(), timeout=1.0, db=db, tsa_url=dead)
    audit_id = execute(settings, load_catalog(PACKAGED_CATALOG).select(["posteo"]), quiet=True).audit_id
    assert f"audit {audit_id} sealed without a time-stamp" in capsys.readouterr().err
    with Store.open(db) as store:
        link = store.chain_link(audit_id)
    assert link is not None and link.timestamp is None
