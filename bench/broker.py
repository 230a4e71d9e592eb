"""`make bench` broker rows: N synthetic domains through a real broker with 1, 2 and 4 workers, then the
kill-a-worker run (docs/distributed.md).

    python bench/broker.py --size 120 [--workers 1,2,4] [--no-kill] [--out reports/bench-broker-<date>.md]

The lab runs in a process of its own (bench/labproc.py), redis-server and every `auditor worker` in theirs;
the coordinator is this process. For each row: wall time, units per minute, the sum of the units' own run
times (what the workers print), the broker's overhead per unit ((workers × wall − Σ unit time) / units: the
time a worker slot spent on anything but running units, queue latency, reports and the idle tail included),
the median and longest unit
and the CPU seconds of the workers, the coordinator, the lab and redis (from /proc). On a 2-core machine the
gain from more workers is bounded by CPU: the row says how busy the cores were (CPU seconds / (2 × wall)).

The kill run starts 2 workers and kills (SIGKILL) the one that starts the first unit after a quarter of the
units are finished; it reports units sent, finished, redelivered and lost (which must be 0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.catalog import load_catalog  # noqa: E402
from auditor.distributed.campaign import Stats  # noqa: E402
from auditor.distributed.coordinator import CampaignOptions, Coordinator  # noqa: E402
from auditor.distributed.local import LocalRedis, LocalWorker, start_worker  # noqa: E402
from auditor.distributed.messages import Report  # noqa: E402
from auditor.lab.synthetic import write_synthetic  # noqa: E402
from auditor.settings import Settings  # noqa: E402

CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")
UNIT_TIME = re.compile(r"findings in ([0-9.]+)s")
DEADLINE = 3600.0
PROVIDER_DEADLINE = 20  # workers hand a dead worker's unit on after 2 × this (the kill run waits that long)


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


@dataclass
class Row:
    name: str
    workers: int
    units: int
    wall: float
    unit_times: list[float]
    cpu_workers: float
    cpu_coordinator: float
    cpu_lab: float
    cpu_redis: float
    stats: Stats | None = None
    load: float = 0.0  # the machine's 1-minute load average when the row started (others' work included)

    @property
    def unit_sum(self) -> float:
        return sum(self.unit_times)

    def cells(self) -> list[str]:
        times = self.unit_times or [float("nan")]
        per_min = self.units / self.wall * 60
        overhead = (self.workers * self.wall - self.unit_sum) / self.units * 1000 if self.workers else float("nan")
        cpu = self.cpu_workers + self.cpu_coordinator + self.cpu_lab + self.cpu_redis
        return [self.name, str(self.workers or "in-process"), str(self.units), f"{self.wall:.1f}", f"{per_min:.0f}",
                f"{self.unit_sum:.1f}", f"{statistics.median(times):.2f}", f"{times[-1]:.1f}",
                "—" if not self.workers else f"{overhead:.0f}",
                f"{self.cpu_workers:.1f}", f"{self.cpu_coordinator:.1f}", f"{self.cpu_lab:.1f}",
                f"{self.cpu_redis:.1f}", f"{cpu / (CORES * self.wall):.0%}", f"{self.load:.1f}"]


def start_lab(catalog: Path, overlay: Path, net: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "labproc.py"), "--catalog", str(catalog),
                             "--overlay", str(overlay), "--net", str(net)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def lab_flags(overrides: dict[str, Any]) -> list[str]:
    ports = ",".join(f"{k}={v}" for k, v in sorted(overrides["port_map"].items()))
    flags = ["--resolver", overrides["resolver"], "--port-map", ports, "--ca-bundle", overrides["ca_bundle"],
             "--trust-anchor", overrides["trust_anchor"], "--geoip-db", overrides["geoip_db"], "--lab",
             "--reference-domains", ",".join(overrides["reference_domains"]),
             "--resolver-candidates", ",".join(overrides["resolver_candidates"])]
    if overrides.get("pki_roots"):
        flags += ["--pki-roots", ",".join(f"{k}={v}" for k, v in overrides["pki_roots"].items())]
    return flags


def unit_seconds(workers: list[LocalWorker]) -> list[float]:
    """Each unit's own run time, as its worker printed it."""
    return sorted(float(m) for w in workers for m in UNIT_TIME.findall(w.text()))


class Bench:
    def __init__(self, size: int, work: Path) -> None:
        self.work = work
        catalog, overlay = write_synthetic(work / "synthetic", size)
        self.providers = list(load_catalog(catalog).providers)
        self.lab, info = start_lab(catalog, overlay, net=90 + secrets.randbelow(60))
        self.overrides = info["overrides"]
        self.settings = Settings(**{**self.overrides, "port_map": {int(k): v for k, v in
                                                                    self.overrides["port_map"].items()}})
        self.key = secrets.token_hex(32)
        self.key_file = work / "broker.key"
        self.key_file.write_text(self.key)
        self.key_file.chmod(0o600)
        self.redis = LocalRedis(work / "redis", secrets.token_hex(12)).start()

    def close(self) -> None:
        self.redis.stop()
        if self.lab.stdin:
            self.lab.stdin.close()
        self.lab.wait(timeout=60)

    def workers(self, count: int, tag: str) -> list[LocalWorker]:
        started = [start_worker(self.redis.url(), self.key_file, self.work / f"{tag}-{i}.log",
                                flags=lab_flags(self.overrides),
                                env={"AUDITOR_PROVIDER_DEADLINE": str(PROVIDER_DEADLINE)}) for i in range(count)]
        for w in started:
            w.wait_ready(timeout=120)
        return started

    def run(self, count: int, *, kill: bool = False) -> Row:
        workers = self.workers(count, f"w{count}{'k' if kill else ''}")
        pids = {w.pid: w for w in workers}
        killed: list[int] = []
        stats_ref: list[Coordinator] = []

        def kill_one(report: Report) -> None:
            done = stats_ref[0].stats.finished if stats_ref else 0
            if kill and not killed and report.kind == "started" and done >= len(self.providers) // 4:
                pid = int(report.worker.rsplit("/", 1)[1])
                os.kill(pids[pid].pid, signal.SIGKILL)
                killed.append(pid)

        options = CampaignOptions(url=self.redis.url(), key=self.key.encode(), deadline=DEADLINE, quiet=True,
                                  unit_timeout=2.0 * PROVIDER_DEADLINE, observer=kill_one)
        coordinator = Coordinator(options, self.providers, self.settings)
        stats_ref.append(coordinator)
        load = os.getloadavg()[0]
        cpu0 = {w.pid: cpu_of(w.pid) for w in workers}
        lab0, redis0, own0 = cpu_of(self.lab.pid), cpu_of(self.redis_pid), own_cpu()
        start = time.monotonic()
        coordinator.run()
        wall = time.monotonic() - start
        cpu_workers = sum(cpu_of(w.pid) - cpu0[w.pid] for w in workers if w.pid not in killed)
        row = Row(f"broker, {count} worker{'s' if count > 1 else ''}" + (" (one killed)" if kill else ""), count,
                  len(self.providers), wall, unit_seconds(workers), cpu_workers, own_cpu() - own0,
                  cpu_of(self.lab.pid) - lab0, cpu_of(self.redis_pid) - redis0, coordinator.stats, load)
        for w in workers:
            w.stop()
        return row

    @property
    def redis_pid(self) -> int:
        assert self.redis.proc is not None
        return self.redis.proc.pid


HEADER = ["run", "workers", "units", "wall s", "units/min", "Σ unit s", "unit p50 s", "unit max s", "overhead ms/unit",
          "CPU workers s",
          "CPU coordinator s", "CPU lab s", "CPU redis s", "cores busy", "load before"]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--size", type=int, default=120)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / f"bench-broker-{dt.date.today().isoformat()}.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="auditor-bench-broker-") as tmp:
        bench = Bench(args.size, Path(tmp))
        try:
            rows = [bench.run(int(n)) for n in args.workers.split(",")]
            if not args.no_kill:
                rows.append(bench.run(2, kill=True))
        finally:
            bench.close()
    text = [f"# Broker bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "",
            f"`python bench/broker.py --size {args.size} --workers {args.workers}`; {CORES} cores; "
            f"load average before: {load:.1f}", "", table(rows), ""]
    for r in rows:
        if r.stats:
            text.append(f"- {r.name}: {r.stats.line()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text) + "\n", encoding="utf-8")
    print("\n".join(text))
    if any(r.stats and r.stats.lost for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
