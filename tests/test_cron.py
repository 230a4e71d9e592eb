"""`auditor scan --cron` end to end: real scans of lab providers, a changed world, the diff, the exit code,
the signed webhook and the STARTTLS e-mail received by the lab's servers, the lock, and a SIGKILL mid-scan.

Two labs are built: the stock world, then a copy of `world.yaml` where the reference provider
`exemplary` changed in three ways (one MX moved to a host in the US, MTA-STS mode enforce -> testing,
the 2FA claim page rewritten). The cron runs are real `auditor` processes.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from auditor.diff import AuditDiff, diff_audits
from auditor.lab import Lab
from auditor.lab.world import LAB_CATALOG, OVERLAY
from auditor.notify import NotifyConfig, deliver
from auditor.settings import load_settings
from auditor.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from labscan import start_lab

ROOT = Path(__file__).resolve().parent.parent
AUDITOR = ROOT / ".venv" / "bin" / "auditor"
PROVIDERS = ["exemplary", "nostarttls", "offshore"]
SECRET = "lab-webhook-secret"
WEBHOOK = "http://hooks.lab.example/auditor/regressions"
DPO = "dpo@posteo.de"
SMTP_HOST = "mx01.posteo.de:25"  # the lab's port map sends :25 to the lab SMTP port
US_MX = "mx-us.exemplary.example"


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """No AUDITOR_* from the developer's shell, no ~/.config/auditor/config.toml; audits marked as lab ones
    whatever the flags say (a lab audit must never read as a measurement of the real world)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"), AUDITOR_LAB="true", **extra)
    return env


def scan_args(lab: Lab, db: Path, reports: Path, *more: str, providers: list[str] = PROVIDERS) -> list[str]:
    only = [arg for pid in providers for arg in ("--only", pid)]
    return [str(AUDITOR), "scan", "--providers", str(LAB_CATALOG), *only, "--db", str(db),
            "--reports-dir", str(reports), "--lang", "en", *lab.flags().split(), *more]


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def changed_overlay(path: Path) -> Path:
    """world.yaml with `exemplary` changed: MX moved to the US, MTA-STS testing, 2FA claim page rewritten."""
    world = yaml.safe_load(OVERLAY.read_text(encoding="utf-8"))
    ex = world["providers"]["exemplary"]
    ex["mx"] = [{"host": "mx1.exemplary.example", "pref": 10}, {"host": US_MX, "pref": 20}]
    ex.setdefault("hosts", {})[US_MX] = {"country": "US", "org": "Transatlantic Relay Inc. (lab)", "asn": 64513}
    ex["mta_sts"] = {**ex["mta_sts"], "mode": "testing"}
    ex["claims"] = {"2fa": "changed"}
    path.write_text(yaml.safe_dump(world, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def restart_on(net: int, **kwargs: object) -> Lab:
    """A new lab on the same 127.<net>/16 (same addresses) when it is free again, else on another one."""
    try:
        return Lab(net=net, **kwargs).start()  # type: ignore[arg-type]
    except OSError:
        return start_lab(**kwargs)


@dataclass
class Story:
    tmp: Path
    db: Path
    reports: Path
    env: dict[str, str]
    first: subprocess.CompletedProcess[str]
    unchanged: subprocess.CompletedProcess[str]
    changed: subprocess.CompletedProcess[str]
    changed_seconds: float
    lab: Lab  # the changed world, still running
    baseline_db: Path  # the database as it was before the changed world was scanned


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("cron")
    db, reports = tmp / "audits.sqlite", tmp / "reports"
    env = clean_env(tmp)
    first_lab = start_lab()
    try:
        first = run(scan_args(first_lab, db, reports, "--cron"), env)
        unchanged = run(scan_args(first_lab, db, reports, "--cron"), env)
    finally:
        first_lab.stop()
    baseline_db = tmp / "baseline.sqlite"
    with sqlite3.connect(db) as source, sqlite3.connect(baseline_db) as copy:
        source.backup(copy)  # a consistent copy, for the notification-failure test
    lab = restart_on(first_lab.net, overlay=changed_overlay(tmp / "world-changed.yaml"))
    try:
        notify_env = {**env, "AUDITOR_NOTIFY_WEBHOOK": WEBHOOK, "AUDITOR_WEBHOOK_SECRET": SECRET,
                      "AUDITOR_NOTIFY_EMAIL": DPO, "AUDITOR_SMTP_HOST": SMTP_HOST,
                      "AUDITOR_SMTP_FROM": "auditor@cabinet-dpo.example"}
        t0 = time.monotonic()
        changed = run(scan_args(lab, db, reports, "--cron"), notify_env)
        seconds = time.monotonic() - t0
        yield Story(tmp, db, reports, env, first, unchanged, changed, seconds, lab, baseline_db)
    finally:
        lab.stop()


def test_first_and_unchanged_cron_runs_are_silent(story: Story) -> None:
    for result in (story.first, story.unchanged):
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    with Store.open(story.db) as store:
        audits = store.list_audits()
    assert len(audits) == 3 and all(a.complete and a.lab and a.providers == 3 for a in audits)


def test_changed_world_exits_1_and_prints_the_diff(story: Story) -> None:
    result = story.changed
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""  # both notifications went out
    out = result.stdout
    assert out.startswith("Changes from audit ")
    assert "REGRESSION" in out and "servers now in US, outside the EU/EEA" in out
    assert "MTA-STS mode enforce → testing" in out and "claim no longer verified" in out
    assert "report: " in out  # where the full reports of this run are


def regressions(diff: AuditDiff) -> set[tuple[str, str]]:
    return {(c.provider, c.check) for c in diff.of_kind("regression")}


def test_diff_reports_exactly_the_changes_as_regressions(story: Story) -> None:
    result = run([str(AUDITOR), "diff", "--db", str(story.db), "--json"], story.env)
    assert result.returncode == 0, result.stderr
    diff = AuditDiff.model_validate(json.loads(result.stdout))
    measured = regressions(diff) - {("exemplary", "score")}
    # the MX moved to the US: where the data is, and the transfer it makes (Chapter V), both regress
    assert measured == {("exemplary", "hosting.summary"), ("exemplary", "transfer"), ("exemplary", "mta_sts"),
                        ("exemplary", "claim.2fa")}
    # The score may follow (a grade lost, a new blocker): it is a consequence, never another provider's.
    assert all(c.provider == "exemplary" for c in diff.changes if c.kind != "neutral")
    by_check = {c.check: c for c in diff.of_kind("regression")}
    assert by_check["hosting.summary"].after["value"]["outside_eu_eea"] == ["US"]
    assert by_check["mta_sts"].after["value"]["mode"] == "testing"
    mx = next(c for c in diff.changes if c.check == "dns.mx")
    assert mx.kind == "neutral" and US_MX in mx.message  # the move itself; STARTTLS works on the new host


def test_webhook_arrives_signed(story: Story) -> None:
    [hook] = [r for r in story.lab.requests if r.host == "hooks.lab.example"]
    assert (hook.method, hook.path, hook.scheme) == ("POST", "/auditor/regressions", "http")
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook.headers["x-auditor-signature"], expected)
    document = json.loads(hook.body)
    assert document["event"] == "auditor.regression" and document["lab"] is True
    diff = AuditDiff.model_validate(document["diff"])
    assert (document["before_id"], document["after_id"]) == (diff.before_id, diff.after_id)
    assert document["counts"]["regression"] == len(diff.of_kind("regression")) >= 3
    with Store.open(story.db) as store:
        assert diff.after_id == store.list_audits(1)[0].audit_id


def test_email_arrives_over_starttls(story: Story) -> None:
    [mail] = [m for m in story.lab.mailbox if DPO in m.rcpt_to]
    assert mail.server == "mx01.posteo.de" and mail.tls is True
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert msg["To"] == DPO and msg["From"] == "auditor@cabinet-dpo.example"
    assert msg["Subject"].startswith("[auditor] ") and "regression(s) since audit " in msg["Subject"]
    body = msg.get_content().replace("\r\n", "\n")
    (story.tmp / "regression-mail.txt").write_bytes(mail.data)  # kept for a human to read
    with Store.open(story.db) as store:
        after, before = (a.audit_id for a in store.list_audits(2))
    assert f"Audits compared: {before} (before) and {after} (after)." in body
    assert f"auditor report --db {story.db} --audit {after}" in body
    diff_at = body.index("Changes from audit")
    assert body.index("REGRESSION") > diff_at and "\nexemplary\n" in body[diff_at:]


def test_notification_failures_are_reported_and_keep_exit_1(story: Story) -> None:
    db = story.tmp / "failing.sqlite"
    shutil.copyfile(story.baseline_db, db)
    # Port 9 of the sink refuses; the URL's credentials and query must not reach stderr (cron mails it).
    env = {**story.env, "AUDITOR_NOTIFY_WEBHOOK": "http://alice:s3cr3t@hooks.lab.example:9/hook?key=k3y",
           "AUDITOR_NOTIFY_EMAIL": DPO, "AUDITOR_SMTP_HOST": "mx.nostarttls.example:25"}
    result = run(scan_args(story.lab, db, story.reports, "--cron"), env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("auditor: notification by webhook failed: webhook "
                               "http://***@hooks.lab.example:9/hook?***: ConnectError")
    assert "s3cr3t" not in result.stderr and "k3y" not in result.stderr
    assert lines[1] == ("auditor: notification by e-mail failed: SMTP mx.nostarttls.example:"
                        f"{story.lab.port(25)} does not offer STARTTLS; refusing to send in clear")
    assert not [m for m in story.lab.mailbox if m.server == "mx.nostarttls.example"]


def test_unresolvable_webhook_is_one_line(story: Story) -> None:
    settings = load_settings(story.lab.overrides(), environ={})
    diff = AuditDiff(before_id="a", after_id="b", before_started_at="x", after_started_at="y", changes=[])
    [failure] = deliver(diff, NotifyConfig(webhook="http://nowhere.lab.example/hook"), settings)
    assert failure.startswith("notification by webhook failed: cannot resolve nowhere.lab.example")


def test_notification_settings_are_checked_before_scanning(tmp_path: Path) -> None:
    env = clean_env(tmp_path, AUDITOR_NOTIFY_EMAIL=DPO)
    result = run([str(AUDITOR), "scan", "--providers", str(LAB_CATALOG), "--only", "exemplary", "--db",
                  str(tmp_path / "a.sqlite"), "--cron"], env, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("auditor: --notify-email needs AUDITOR_SMTP_HOST=HOST[:PORT] or smtp_host in the "
                             "config file's [notify] table (the SMTP server to send through, with STARTTLS)\n")
    assert not (tmp_path / "a.sqlite").exists()


@pytest.mark.parametrize(("table", "error"), [
    (f'email = "{DPO}"', "--notify-email needs AUDITOR_SMTP_HOST"),  # read from the file, checked before scanning
    ('smtp_password = "hunter2"', "[notify] smtp_password is a secret: set AUDITOR_SMTP_PASSWORD in the environment"),
])
def test_notification_settings_from_the_config_file(tmp_path: Path, table: str, error: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[notify]\n{table}\n")
    result = run([str(AUDITOR), "scan", "--providers", str(LAB_CATALOG), "--only", "exemplary", "--db",
                  str(tmp_path / "a.sqlite"), "--cron", "--config", str(config)], clean_env(tmp_path), timeout=30)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert error in result.stderr and not (tmp_path / "a.sqlite").exists()


def test_deliver_checks_the_smtp_certificate(story: Story) -> None:
    """STARTTLS to a server whose certificate is not trusted by the CA bundle: refused, nothing sent."""
    settings = load_settings({**story.lab.overrides(), "ca_bundle": None, "lang": "fr"}, environ={})
    config = NotifyConfig(email=DPO, smtp_host=SMTP_HOST)
    diff = AuditDiff(before_id="a", after_id="b", before_started_at="x", after_started_at="y", changes=[])
    before = len(story.lab.mailbox)
    [failure] = deliver(diff, config, settings)
    assert failure.startswith("notification by e-mail failed: SMTP mx01.posteo.de:")
    assert "certificate not valid" in failure
    assert len(story.lab.mailbox) == before


def test_second_concurrent_cron_run_refuses_with_the_lock_message(story: Story, tmp_path: Path) -> None:
    db = tmp_path / "audits.sqlite"
    lock = tmp_path / "audits.sqlite.lock"
    # The first run must still be scanning when the second starts, however loaded the machine: its only
    # provider's mail domain is a lab name whose DNS server never answers, so it waits out `--timeout`.
    slow = tmp_path / "slow.yaml"
    slow.write_text("schema: auditor.providers/1\nproviders:\n  - {id: slow, name: Slow, kind: mail, "
                    "company: {legal_name: Slow, country: DE}, mail_domains: [timeout.dnsfail.example]}\n")
    args = scan_args(story.lab, db, tmp_path / "reports", "--cron", "--timeout", "6", providers=[])
    args[args.index(str(LAB_CATALOG))] = str(slow)
    holder = subprocess.Popen(args, env=story.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.05)
        assert lock.read_text().strip() == str(holder.pid)
        t0 = time.monotonic()
        second = run(args, story.env, timeout=30)
        assert time.monotonic() - t0 < 10  # it did not wait for the first
        assert holder.poll() is None, "the first run finished too early for this test"
        assert second.returncode == 3 and second.stdout == ""
        assert second.stderr == f"auditor: another auditor scan holds the lock {lock} (pid {holder.pid})\n"
        _out, err = holder.communicate(timeout=120)
        assert holder.returncode == 0, err
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert lock.read_text() == ""  # released on exit: no pid left to mislead the next message


def provider_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM providers").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigkill_mid_scan_leaves_a_sound_database_and_an_incomplete_audit(story: Story, tmp_path: Path) -> None:
    db = tmp_path / "killed.sqlite"
    # dnsfail's resolver timeouts keep the scan going well after the quick providers are stored.
    args = scan_args(story.lab, db, tmp_path / "reports", "--cron", "--timeout", "5",
                     providers=[*PROVIDERS, "dnsfail"])
    proc = subprocess.Popen(args, env=story.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and provider_rows(db) == 0 and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the scan finished before it could be killed"
        stored = provider_rows(db)
        assert 1 <= stored < 4
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Store.open(db) as store:
        assert store.integrity_check() == "ok"
        [audit] = store.list_audits()
        assert not audit.complete and audit.finished_at is None and 1 <= audit.providers < 4
        loaded = store.load_audit(audit.audit_id)
        assert not loaded.complete and all(p.checks for p in loaded.providers)
    # The next cron run is not blocked by the dead run's lock, and has nothing complete to compare with.
    again = run(scan_args(story.lab, db, tmp_path / "reports", "--cron"), story.env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    history = run([str(AUDITOR), "history", "--db", str(db), "--json"], story.env)
    states = [a["complete"] for a in json.loads(history.stdout)["audits"]]
    assert states == [True, False]


def test_improvements_are_printed_exit_0_and_not_notified(story: Story, tmp_path: Path) -> None:
    """The world set back (on another lab network: addresses differ, which must not read as a change)."""
    db = tmp_path / "reverted.sqlite"
    with sqlite3.connect(story.db) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    reverted = start_lab()
    try:
        env = {**story.env, "AUDITOR_NOTIFY_WEBHOOK": WEBHOOK, "AUDITOR_NOTIFY_EMAIL": DPO,
               "AUDITOR_SMTP_HOST": SMTP_HOST}
        result = run(scan_args(reverted, db, tmp_path / "reports", "--cron"), env)
        (story.tmp / "improvement-output.txt").write_text(result.stdout)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith("Changes from audit ") and "0 regression(s)" in result.stdout
        assert "improved" in result.stdout and "REGRESSION" not in result.stdout
        assert "MTA-STS mode testing → enforce" in result.stdout
        assert not [r for r in reverted.requests if r.host == "hooks.lab.example"] and not reverted.mailbox
    finally:
        reverted.stop()


def test_https_webhook_and_french_mail(story: Story) -> None:
    """deliver() on its own: an https webhook (SNI and certificate checked against the lab CA) and the mail
    in French; then the same webhook with the system CA bundle, which must refuse the lab's certificate."""
    settings = load_settings({**story.lab.overrides(), "lang": "fr"}, environ={})
    with Store.open(story.db) as store:
        after, before = (a.audit_id for a in store.list_audits(2))
        diff = diff_audits(store.load_audit(before), store.load_audit(after))
    url = "https://webmail.exemplary.example/"  # the lab answers any method on a known page
    config = NotifyConfig(webhook=url, webhook_secret=SECRET, email="rssi@posteo.de", smtp_host=SMTP_HOST)
    assert deliver(diff, config, settings) == []
    [hook] = [r for r in story.lab.requests if r.method == "POST" and r.host == "webmail.exemplary.example"]
    assert hook.scheme == "https" and json.loads(hook.body)["text"].startswith("Changements de l'audit")
    assert hook.headers["x-auditor-signature"] == "sha256=" + hmac.new(SECRET.encode(), hook.body,
                                                                       hashlib.sha256).hexdigest()
    [mail] = [m for m in story.lab.mailbox if "rssi@posteo.de" in m.rcpt_to]
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert msg["Subject"] == f"[auditor] {len(diff.of_kind('regression'))} régression(s) depuis l'audit {before}"
    assert "RÉGRESSION" in msg.get_content() and "Rapport complet : auditor report" in msg.get_content()
    untrusted = load_settings({**story.lab.overrides(), "ca_bundle": None}, environ={})
    [failure] = deliver(diff, NotifyConfig(webhook=url), untrusted)
    assert failure.startswith(f"notification by webhook failed: webhook {url}: ConnectError")
    assert "CERTIFICATE_VERIFY_FAILED" in failure


def test_baseline_skips_a_narrower_hand_run_audit(story: Story, tmp_path: Path) -> None:
    """full (cron) -> `--only nostarttls` (by hand) -> full (cron): the second cron run compares with the
    first, not with the hand run that did not look at `exemplary` at all."""
    from auditor.pipeline import cron_diff

    with Store.open(story.db) as store:
        stock, changed = (store.load_audit(a.audit_id) for a in store.list_audits(2)[::-1])
    narrow = stock.model_copy(update={"audit_id": "20300101T000001Z-aaaaaa", "started_at": "2030-01-01T00:00:01Z",
                                      "providers": [p for p in stock.providers if p.id == "nostarttls"]})
    first = stock.model_copy(update={"audit_id": "20300101T000000Z-aaaaaa", "started_at": "2030-01-01T00:00:00Z"})
    latest = changed.model_copy(update={"audit_id": "20300101T000002Z-aaaaaa", "started_at": "2030-01-01T00:00:02Z"})
    db = tmp_path / "baseline.sqlite"
    with Store.open(db) as store:
        for audit in (first, narrow, latest):
            store.save(audit)
    diff = cron_diff(db, latest.audit_id, set(PROVIDERS))
    assert diff is not None and diff.before_id == first.audit_id
    assert ("exemplary", "mta_sts") in regressions(diff)
    # A narrow cron job compared with a full audit: the providers it did not select are not "removed".
    narrow_diff = cron_diff(db, narrow.audit_id, {"nostarttls"})
    assert narrow_diff is not None and narrow_diff.before_id == first.audit_id and narrow_diff.changes == []
