"""Units through a real broker: Debian's redis-server started here (ACL user, no default user, append-only
file; TLS with a lab-CA certificate), real `auditor worker` processes, the real lab. Nothing is mocked.

Timing is never asserted: every wait is bounded by the campaign's deadline, generous for a loaded machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labscan import ROOT

from auditor.catalog import load_catalog
from auditor.distributed.campaign import UNIT_CHECK, Ledger, Stats
from auditor.distributed.coordinator import CampaignOptions, Coordinator
from auditor.distributed.engine import make_app
from auditor.distributed.local import LocalRedis, LocalWorker, Tls, redis_server, start_worker
from auditor.distributed.messages import (
    UNIT_LABEL,
    BadMessage,
    Report,
    Unit,
    load_key,
    open_report,
    reply_queue,
    sign,
    signed_report,
    unit_queue,
)
from auditor.errors import ConfigError
from auditor.findings import Audit
from auditor.lab import Lab
from auditor.lab.ca import LabCA
from auditor.lab.world import LAB_CATALOG
from auditor.scan import run_scan
from auditor.settings import Settings
from auditor.store import Store

needs_redis = pytest.mark.skipif(redis_server() is None, reason="redis-server is not installed (make test installs it)")

KEY = "k" * 16 + "e" * 16 + "y" * 16  # 48 characters, as `openssl rand -hex 24` would give
OTHER_KEY = b"another key, of 32 characters..."
PASSWORD = "broker-pw-Xq7"
PROVIDERS = ["posteo", "tuta", "signal", "mailbox-org"]  # each unit takes about a second on the lab
DEADLINE = 240.0  # the campaign's: long enough for a loaded machine, and the test never hangs beyond it
# Workers hand a dead worker's unit to another after the provider deadline plus as much again: 2 × 15 s.
TIMEOUT = 5.0  # one network operation, on both sides: loopback answers in milliseconds, unless the machine is loaded
WORKER_ENV = {"AUDITOR_PROVIDER_DEADLINE": "15", "AUDITOR_TIMEOUT": str(TIMEOUT)}


def _key_file(tmp: Path) -> Path:
    path = tmp / "broker.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    started = LocalRedis(tmp_path_factory.mktemp("redis"), PASSWORD).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _key_file(tmp_path_factory.mktemp("key"))


class Workers:
    """Workers started by one test, all killed at its end."""

    def __init__(self, lab: Lab, key_file: Path, tmp: Path) -> None:
        self.lab, self.key_file, self.tmp = lab, key_file, tmp
        self.started: list[LocalWorker] = []

    def start(self, url: str, count: int = 1, *, vantage: str | None = None, flags: list[str] | None = None
              ) -> list[LocalWorker]:
        new = [start_worker(url, self.key_file, self.tmp / f"worker-{len(self.started) + i}.log", vantage=vantage,
                            flags=[*self.lab.flags().split(), *(flags or [])], env=WORKER_ENV)
               for i in range(count)]
        self.started += new
        for w in new:
            w.wait_ready()
        return new


@pytest.fixture
def workers(lab: Lab, key_file: Path, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(lab, key_file, tmp_path)
    try:
        yield pool
    finally:
        for w in pool.started:
            w.stop()


def _providers(ids: list[str]) -> list:
    return load_catalog(ROOT / "providers.yaml").select(ids)


def _campaign(broker: LocalRedis, lab_settings: Settings, ids: list[str], **options: object) -> tuple[Audit, Stats]:
    coordinator = Coordinator(CampaignOptions(url=broker.url(), key=KEY.encode(), deadline=DEADLINE, **options),
                              _providers(ids), lab_settings)
    return coordinator.run(), coordinator.stats


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True,
                          timeout=DEADLINE + 60, env={**os.environ, **(env or {})}, cwd=ROOT)


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "not within the time allowed"
        time.sleep(0.2)


def _keys(audit: Audit, pid: str) -> list[tuple[str, str, str | None, str | None]]:
    provider = next(p for p in audit.providers if p.id == pid)
    return [(c.id, c.subject, c.target, c.vantage) for c in provider.checks]


def _verdicts(audit: Audit, pid: str) -> set[tuple[str, str, str | None, str]]:
    provider = next(p for p in audit.providers if p.id == pid)
    return {(c.id, c.subject, c.target, c.status.value) for c in provider.checks}


@needs_redis
def test_two_workers_give_the_in_process_findings(lab: Lab, lab_settings: Settings, broker: LocalRedis,
                                                  key_file: Path, workers: Workers, tmp_path: Path) -> None:
    """`scan --broker` through two workers stores one audit whose findings are those of the in-process scan."""
    started = workers.start(broker.url(), 2)
    db = tmp_path / "audits.sqlite"
    only = [f"--only={p}" for p in PROVIDERS]
    run = _cli("scan", *lab.flags().split(), *only, "--key-file", str(key_file), "--db", str(db), "--reports-dir",
               str(tmp_path), "--broker-deadline", str(DEADLINE), env={"AUDITOR_BROKER": broker.url()})
    assert run.returncode == 0, run.stderr
    assert PASSWORD not in run.stdout + run.stderr + "".join(w.text() for w in started)
    assert "consuming auditor.units on redis://***@127.0.0.1" in started[0].text()
    assert f"{len(PROVIDERS)} units, {len(PROVIDERS)} sent, {len(PROVIDERS)} finished" in run.stderr
    assert "0 lost" in run.stderr
    with Store.open(db) as store:
        distributed = store.load_audit()
    local = asyncio.run(run_scan(_providers(PROVIDERS), lab_settings.model_copy(update={"timeout": TIMEOUT})))
    assert sorted(p.id for p in distributed.providers) == sorted(PROVIDERS)
    assert distributed.vantage.lab and distributed.vantage.port25 is True
    for pid in PROVIDERS:
        assert _verdicts(distributed, pid) == _verdicts(local, pid), pid
        assert next(p for p in distributed.providers if p.id == pid).score is not None


@needs_redis
def test_a_bulk_campaign_through_the_broker(lab: Lab, broker: LocalRedis, key_file: Path, workers: Workers,
                                            tmp_path: Path) -> None:
    """`scan --domains FILE --broker`: each domain travels to a worker as a campaign target (not a catalog
    entry, whose id cannot hold dots) and comes back unscored, its catalog-only checks skipped."""
    workers.start(broker.url(), 1)
    listing = tmp_path / "domains.txt"
    listing.write_text("# two of the lab's mail domains\nposteo.de\ntutanota.de\n")
    db = tmp_path / "audits.sqlite"
    run = _cli("scan", *lab.flags().split(), "--domains", str(listing), "--key-file", str(key_file), "--db", str(db),
               "--reports-dir", str(tmp_path), "--broker-deadline", str(DEADLINE), env={"AUDITOR_BROKER": broker.url()})
    assert run.returncode == 0, run.stderr
    with Store.open(db) as store:
        audit = store.load_audit()
    assert [p.id for p in audit.providers] == ["posteo.de", "tutanota.de"]
    for result in audit.providers:
        checks = {c.id: c for c in result.checks}
        assert result.score is None and checks["jurisdiction.company"].status.value == "skip"
        assert checks["smtp.starttls"].status.value == "pass" and "scan.unit" not in checks


@needs_redis
def test_a_worker_killed_mid_unit_has_its_unit_finished_by_another(
        lab_settings: Settings, broker: LocalRedis, workers: Workers) -> None:
    """kill -9 of the worker running a unit: the broker redelivers it (late acknowledgement), the other worker
    finishes it, nothing is lost and no finding is there twice."""
    started = workers.start(broker.url(), 2)
    by_pid = {w.pid: w for w in started}
    killed: list[str] = []

    def kill_first_runner(report: Report) -> None:
        if report.kind == "started" and not killed:
            pid = int(report.worker.rsplit("/", 1)[1])
            os.kill(by_pid[pid].pid, signal.SIGKILL)
            killed.append(report.unit)

    audit, stats = _campaign(broker, lab_settings, PROVIDERS, observer=kill_first_runner)
    assert killed
    assert stats.finished == len(PROVIDERS) and stats.lost == 0 and stats.errors == 0, stats
    assert stats.redelivered >= 1, stats
    for p in audit.providers:
        keys = _keys(audit, p.id)
        assert len(keys) == len(set(keys)), p.id
        assert not [c for c in p.checks if c.id == UNIT_CHECK]


@needs_redis
def test_the_broker_restarted_mid_campaign(lab_settings: Settings, broker: LocalRedis, workers: Workers,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """redis-server stopped and started again after the first result: queued units survive (append-only file),
    workers and coordinator reconnect, the campaign completes."""
    workers.start(broker.url(), 2)
    restarted: list[bool] = []

    def restart_once(report: Report) -> None:
        if report.kind == "result" and not restarted:
            restarted.append(True)
            broker.restart()

    audit, stats = _campaign(broker, lab_settings, [*PROVIDERS, "proton", "infomaniak"], observer=restart_once)
    assert restarted
    assert stats.finished == 6 and stats.lost == 0 and stats.errors == 0, stats
    assert len(audit.providers) == 6
    assert PASSWORD not in capsys.readouterr().err


@needs_redis
def test_a_unit_failing_every_time_ends_as_an_error_with_its_reason(
        lab: Lab, broker: LocalRedis, key_file: Path, workers: Workers, tmp_path: Path) -> None:
    """A worker whose CA bundle was broken after it started fails the unit each time: after --attempts failures
    the provider carries an error finding with the reason, never a silent loss."""
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(lab.ca_bundle.read_bytes())
    workers.start(broker.url(), 1, flags=["--ca-bundle", str(bundle)])
    bundle.write_text("not a certificate\n")
    db = tmp_path / "audits.sqlite"
    run = _cli("scan", "--only", "posteo", "--key-file", str(key_file), "--db", str(db), "--reports-dir",
               str(tmp_path), "--attempts", "2", "--lab", env={"AUDITOR_BROKER": broker.url()})
    assert run.returncode == 0, run.stderr
    assert "1 units, 2 sent, 0 finished, 1 ended in error" in run.stderr and "0 lost" in run.stderr
    with Store.open(db) as store:
        audit = store.load_audit()
    [finding] = [c for c in audit.providers[0].checks if c.id == UNIT_CHECK]
    assert finding.status == "error"
    assert "failed 2 times" in finding.summary and "no certificate" in finding.summary


@needs_redis
def test_forged_and_stale_reports_are_refused_or_ignored(
        lab_settings: Settings, broker: LocalRedis, workers: Workers, capsys: pytest.CaptureFixture[str]) -> None:
    """Once a unit is finished: the same result signed with the right key (a stale or duplicate one) is ignored,
    and one signed with another key is refused and said; neither adds a finding. A unit signed with another
    key is never run by a worker."""
    [worker] = workers.start(broker.url(), 1)
    app = make_app(broker.url())
    injected: list[str] = []

    def inject(report: Report) -> None:
        if report.kind != "result" or injected:
            return
        assert report.result is not None
        result = json.loads(json.dumps(report.result))
        result["checks"].append({**result["checks"][0], "id": "injected.finding", "summary": "injected"})
        stale = report.model_copy(update={"result": result})
        with app.producer_or_acquire() as producer:
            for body in (signed_report(KEY.encode(), stale), signed_report(OTHER_KEY, stale)):
                producer.publish(body, exchange="", routing_key=reply_queue(report.campaign), serializer="json")
            forged = Unit(campaign=report.campaign, unit="proton@*", attempt=1,
                          provider=_providers(["proton"])[0].model_dump(mode="json"))
            app.send_task("auditor.unit", args=[sign(OTHER_KEY, UNIT_LABEL, forged.model_dump(mode="json"))],
                          queue=unit_queue(None))
        injected.append(report.unit)

    audit, stats = _campaign(broker, lab_settings, ["posteo", "tuta", "signal"], observer=inject)
    assert injected
    assert stats.finished == 3 and stats.lost == 0 and stats.duplicates >= 1 and stats.refused == 1, stats
    assert "HMAC mismatch" in capsys.readouterr().err
    assert not [c for p in audit.providers for c in p.checks if c.id == "injected.finding"]
    _wait_for(lambda: "refused a unit that is not ours" in worker.text())
    assert "HMAC mismatch" in worker.text() and "unit proton@*" not in worker.text()


@needs_redis
def test_a_wrong_broker_password_is_one_line_and_exit_3(broker: LocalRedis, key_file: Path, lab: Lab) -> None:
    wrong = broker.url(password="not-the-password")
    scan = _cli("scan", "--only", "posteo", "--key-file", str(key_file), env={"AUDITOR_BROKER": wrong})
    worker = _cli("worker", *lab.flags().split(), "--key-file", str(key_file), env={"AUDITOR_BROKER": wrong})
    for run in (scan, worker):
        assert run.returncode == 3, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.startswith("auditor:")]
        assert lines and "cannot use the broker" in lines[-1] and "invalid username-password" in lines[-1], run.stderr
        assert "Traceback" not in run.stderr and "not-the-password" not in run.stderr



@needs_redis
def test_no_worker_ends_at_the_deadline_and_the_units_expire(lab: Lab, broker: LocalRedis, key_file: Path,
                                                              workers: Workers, tmp_path: Path) -> None:
    """Nobody consumes the vantage's queue: the scan ends at its deadline with one line, exit 3, nothing stored;
    a worker that comes later drops the expired unit instead of running it for a campaign that has ended."""
    db = tmp_path / "audits.sqlite"
    run = _cli("scan", "--only", "posteo", "--vantage", "lonely", "--broker-deadline", "3", "--key-file",
               str(key_file), "--db", str(db), "--reports-dir", str(tmp_path), env={"AUDITOR_BROKER": broker.url()})
    assert run.returncode == 3, run.stderr
    assert "no worker returned a result within the 3s deadline" in run.stderr and "nothing stored" in run.stderr
    assert "Traceback" not in run.stderr
    [late] = workers.start(broker.url(), 1, vantage="lonely")
    app = make_app(broker.url())
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        # Taken off the queue and acknowledged (kombu's `unacked` table): dropped, or else run to the end.
        _wait_for(lambda: client.llen("auditor.units.lonely") == 0 and client.hlen("unacked") == 0)
    assert "unit posteo@lonely" not in late.text()
    with Store.open(db) as store:
        assert store.list_audits() == []


@needs_redis
def test_an_interrupted_scan_leaves_no_work_behind(lab_settings: Settings, broker: LocalRedis,
                                                   workers: Workers) -> None:
    """Ctrl-C after the first result: the campaign's queued units are revoked, the worker runs none of them."""
    [worker] = workers.start(broker.url(), 1)
    ids = [p.id for p in load_catalog(ROOT / "providers.yaml").providers][:8]

    def interrupt(report: Report) -> None:
        if report.kind == "result":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _campaign(broker, lab_settings, ids, observer=interrupt)
    app = make_app(broker.url())
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        _wait_for(lambda: client.llen("auditor.units") == 0 and client.hlen("unacked") == 0)
    # the first unit, and at most the one the worker had in hand when the revocation came
    assert worker.text().count("findings in") <= 2, worker.text()

@needs_redis
def test_tls_broker_and_two_vantages_that_disagree(lab: Lab, lab_settings: Settings, key_file: Path,
                                                   workers: Workers, tmp_path: Path) -> None:
    """rediss:// with a certificate from the lab CA; a worker in each of the lab's geo-DNS views ("eu", "us"):
    one audit, each measured finding tagged with the vantage that measured it, where they disagree kept."""
    ca = LabCA(tmp_path / "ca")
    cert = ca.issue(["127.0.0.1", "localhost"])
    tls = LocalRedis(tmp_path / "redis-tls", PASSWORD, tls=Tls(cert.chain_file, cert.key_file, ca.bundle)).start()
    try:
        assert tls.url().startswith("rediss://")
        for view in ("eu", "us"):
            workers.start(tls.url(), 1, vantage=view,
                          flags=["--broker-ca", str(ca.bundle), "--resolver", lab.view_resolver(view)])
        coordinator = Coordinator(CampaignOptions(url=tls.url(), key=KEY.encode(), vantages=["eu", "us"],
                                                  ca_file=ca.bundle, deadline=DEADLINE),
                                  load_catalog(LAB_CATALOG).select(["geodns"]), lab_settings)
        audit = coordinator.run()
    finally:
        tls.stop()
    assert coordinator.stats.finished == 2 and coordinator.stats.lost == 0
    assert [v.name for v in audit.vantages] == ["eu", "us"]
    assert [v.resolver for v in audit.vantages] == [lab.view_resolver("eu"), lab.view_resolver("us")]
    seen = {(c.vantage, c.subject, c.value["country"]) for c in audit.providers[0].checks
            if c.id == "hosting.location" and c.subject == "mx.geodns.example"}
    assert seen == {("eu", "mx.geodns.example", "DE"), ("us", "mx.geodns.example", "US")}


# The ledger's and the messages' rules alone (pure: no broker).

def _report(kind: str, unit: str = "posteo@*", attempt: int = 1, **fields: object) -> Report:
    return Report(kind=kind, campaign="c1", unit=unit, attempt=attempt, worker="h/1", **fields)  # type: ignore[arg-type]


def _ledger(attempts: int = 3) -> Ledger:
    return Ledger("c1", _providers(["posteo"]), [None], attempts)


def test_deliveries_that_vanish_end_as_an_error_after_the_attempts() -> None:
    """A unit whose every worker dies (no failure report, no result) is given up, not redelivered for ever."""
    ledger = _ledger(attempts=2)
    assert ledger.on_report(_report("started"))[0] == "started"
    assert ledger.on_report(_report("started", redelivered=True))[0] == "started"
    outcome, state = ledger.on_report(_report("started", redelivered=True))
    assert outcome == "gave_up" and state.result is not None
    assert "2 deliveries of this unit ended without a result" in state.result.checks[0].summary
    assert ledger.stats.redelivered == 2 and ledger.stats.lost == 0 and not ledger.open


def test_a_failure_of_an_older_attempt_changes_nothing() -> None:
    ledger = _ledger()
    assert ledger.on_report(_report("failure", reason="boom"))[0] == "retry"
    assert ledger.on_report(_report("failure", reason="late copy of attempt 1"))[0] == "stale"
    assert ledger.units["posteo@*"].attempt == 2 and ledger.units["posteo@*"].failures == ["boom"]


def test_reports_of_another_campaign_unit_or_vantage_are_refused() -> None:
    ledger = _ledger()
    for bad in (_report("started").model_copy(update={"campaign": "c2"}), _report("started", unit="tuta@*"),
                _report("started", vantage_name="eu")):
        with pytest.raises(BadMessage):
            ledger.on_report(bad)
    with pytest.raises(BadMessage, match="without the worker's vantage"):
        ledger.on_report(_report("result", result={"id": "posteo", "name": "Posteo", "kind": "mail"}))
    assert ledger.open == {"posteo@*"}


def test_a_report_signed_for_a_unit_does_not_pass_as_a_report() -> None:
    body = _report("started").model_dump(mode="json")
    with pytest.raises(BadMessage, match="HMAC mismatch"):
        open_report(KEY.encode(), sign(KEY.encode(), UNIT_LABEL, body))
    assert open_report(KEY.encode(), signed_report(KEY.encode(), _report("started"))).unit == "posteo@*"
    for garbage in ([], {"mac": 3}, {"mac": "00", "v": float("nan")}):
        with pytest.raises(BadMessage):
            open_report(KEY.encode(), garbage)


def test_the_broker_key_must_be_private_and_long(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(path, {})
    path.chmod(0o600)
    assert load_key(path, {}) == KEY.encode()
    with pytest.raises(ConfigError, match="too short"):
        load_key(None, {"AUDITOR_BROKER_KEY": "short"})
    with pytest.raises(ConfigError, match="no broker key"):
        load_key(None, {})
