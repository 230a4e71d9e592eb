"""`make bench`: how fast `auditor` is at scale, against its critical-path bound and against peer tools.

For each workload (the catalog; N synthetic domains) and each RTT (0 and 50 ms, through the lab's latency
relay), the lab runs in one process and the scan in another; we record wall time, domains per minute, the
p50/p95 of per-provider completion, the scanner's peak RSS and CPU, and what the relays carried. Then, on
the same lab endpoints, testssl.sh (Debian package) and checkdmarc (PyPI) do the equivalent work.
Results go to reports/bench-<date>.md.

Run as root with `unshare` available, the whole benchmark re-executes itself in a private network
namespace whose only interface is loopback: nothing can leave the machine, whatever a peer tool tries.

The critical-path lower bound (one STARTTLS MX, every independent step in parallel, RTT = round trip):

    B_min    = 7 RTT   MX query (1) -> A query (1) -> TCP connect + banner (2: the handshake, then the
                       banner's way back) -> EHLO (1) -> STARTTLS (1) -> TLS 1.3 handshake (1)
    B_design = (8 + 5 ceil(H / P)) RTT
                       B_min + QUIT (1), then the TLS scan: H handshakes on fresh connections (connect +
                       banner 2, EHLO 1, STARTTLS 1, handshake 1 = 5 RTT each), at most P at once
                       (tls_connections). H is measured: the connections the relay saw on the endpoint, minus
                       our own STARTTLS probe (sslyze's connectivity test, one probe per version, one per
                       key-exchange family of the versions that answered, and the suites of the families
                       that answered one by one). Their order only adds to this bound.

The workload's bound is the largest B_design over its MX endpoints (with unlimited parallelism the slowest
endpoint finishes last). At 0 ms RTT the bound is CPU: the scanner's and the lab's CPU seconds are reported
next to it (both share the machine's cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.lab.synthetic import write_synthetic  # noqa: E402
from auditor.lab.world import LAB_CATALOG, OVERLAY  # noqa: E402
from auditor.settings import Settings  # noqa: E402

PY = sys.executable
NETNS_ENV = "AUDITOR_BENCH_NETNS"
PEER_VENV = ROOT / ".venv-bench"
B_MIN_RTTS = 7
TLS_CONNECTIONS = int(Settings.model_fields["tls_connections"].default)  # P: handshakes at once per TLS scan
SMTP_LAB_PORT = 2525
NETWORK = {True: "a private network namespace, loopback only", False: "loopback"}
TUNING: dict[str, Any] = {}  # settings changed from the defaults (--tls-connections, --tls-scans, …)


@dataclass
class Measure:
    workload: str
    rtt_ms: float
    domains: int = 0
    providers: int = 0
    wall: float | None = None
    p50: float | None = None
    p95: float | None = None
    rss_mb: float | None = None
    cpu_s: float | None = None
    lab_cpu_s: float | None = None
    lab_startup: float | None = None
    bound_min: float | None = None
    bound_design: float | None = None
    handshakes: int | None = None  # sslyze connections to the busiest MX endpoint
    errors: int = 0
    crashes: int = 0
    note: str = ""
    relays: list[dict[str, Any]] = field(default_factory=list)
    top_errors: list[Any] = field(default_factory=list)

    @property
    def per_minute(self) -> float | None:
        return self.domains / self.wall * 60 if self.wall else None


# --- isolation and peers ---------------------------------------------------------------------------------
def isolate() -> None:
    """Re-execute inside a new network + mount namespace with only loopback up (root + unshare)."""
    if os.environ.get(NETNS_ENV) or os.geteuid() != 0 or not shutil.which("unshare"):
        return
    script = "ip link set lo up && exec \"$0\" \"$@\""
    os.environ[NETNS_ENV] = "1"
    os.execvp("unshare", ["unshare", "--net", "--mount", "--", "sh", "-c", script, PY, *sys.argv])


def isolated() -> bool:
    return os.environ.get(NETNS_ENV) == "1"


def testssl_path() -> str | None:
    return shutil.which("testssl") or shutil.which("testssl.sh")


def checkdmarc_path() -> str | None:
    exe = PEER_VENV / "bin" / "checkdmarc"
    return str(exe) if exe.exists() else shutil.which("checkdmarc")


# --- the lab and the scanner as processes ----------------------------------------------------------------
class LabProcess:
    def __init__(self, catalogs: list[Path], overlay: Path, net: int, rtt: float, *, dns_port: int = 5353,
                 forward: bool = False) -> None:
        cmd = [PY, str(ROOT / "bench" / "labproc.py"), "--overlay", str(overlay), "--net", str(net),
               "--rtt", str(rtt), "--dns-port", str(dns_port)]
        for c in catalogs:
            cmd += ["--catalog", str(c)]
        if forward:
            cmd.append("--forward")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the lab did not start ({' '.join(cmd)})")
        self.info: dict[str, Any] = json.loads(line)

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        line = self.proc.stdout.readline()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its handle
        return json.loads(line) if line else {}


def scanner(mode: str, settings: dict[str, Any], args: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({**settings, **TUNING}, f)
    t0 = time.monotonic()
    try:
        out = subprocess.run([PY, str(ROOT / "bench" / "scanproc.py"), mode, "--settings", f.name, *args],
                             capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(f.name)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"scanner {mode} failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_wall"] = time.monotonic() - t0
    return result


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def bounds(rtt_s: float, carried: list[dict[str, Any]], mx_names: set[str]) -> tuple[float, float, int]:
    """(B_min, B_design, H of the busiest MX endpoint) for this RTT, from the relay counts."""
    mx = [r for r in carried if r["port"] == SMTP_LAB_PORT and r["name"] in mx_names and r["connections"]]
    h = max((r["connections"] - 1 for r in mx), default=0)
    design = 8 + 5 * math.ceil(h / int(TUNING.get("tls_connections", TLS_CONNECTIONS)))
    return B_MIN_RTTS * rtt_s, design * rtt_s, h


def measure(name: str, catalogs: list[Path], overlay: Path, rtt: float, net: int, timeout: float) -> Measure:
    m = Measure(name, rtt)
    lab = LabProcess(catalogs, overlay, net, rtt)
    try:
        m.lab_startup = lab.info["startup"]
        args = [a for c in catalogs for a in ("--catalog", str(c))]
        try:
            r = scanner("scan", lab.info["overrides"], args, timeout)
        except subprocess.TimeoutExpired:
            m.note = f"not finished within {timeout:.0f}s"
            return m
        m.wall, m.domains, m.providers = r["wall"], r["domains"], r["providers"]
        m.p50, m.p95 = _quantile(r["done"], 0.5), _quantile(r["done"], 0.95)
        m.rss_mb, m.cpu_s, m.errors, m.crashes = r["peak_rss_mb"], r["cpu_s"], r["errors"], r["crashes"]
        m.top_errors = r.get("top_errors", [])
    finally:
        stopped = lab.stop()
        carried = stopped.get("relays", [])
        m.lab_cpu_s = stopped.get("cpu_s")
    m.relays = carried
    if rtt > 0:
        mx_names = set(lab.info["smtp_hosts"])
        m.bound_min, m.bound_design, m.handshakes = bounds(rtt / 1000, carried, mx_names)
    return m


# --- peers -----------------------------------------------------------------------------------------------
@dataclass
class PeerRun:
    tool: str
    rtt_ms: float
    work: str
    seconds: float | None
    ours: float | None  # our scanner process, start to exit (as the peer is timed)
    ours_work: float | None = None  # the same work inside that process, without start-up and imports
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.ours if self.seconds and self.ours else None


def _ours(result: dict[str, Any]) -> tuple[float, float]:
    return result["process_wall"], result["wall"]


def _timed(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[float | None, str]:
    t0 = time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f}s"
    seconds = time.monotonic() - t0
    if out.returncode == 0 or " Done " in out.stdout:  # testssl.sh exits non-zero after a complete run
        return seconds, ""
    last = [ln for ln in (out.stderr or out.stdout).splitlines() if ln.strip()][-1:] or [""]
    return seconds, f"exit {out.returncode}: {last[0][:120]}".replace("|", "/")


def _testssl_args(ip: str, host: str, lab_port: int, starttls: bool) -> list[str]:
    """testssl.sh's protocols (-p), server defaults and certificate (-S) and ciphers per protocol (-E)."""
    return ["--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--ip", ip, "-p", "-S", "-E",
            *(["-t", "smtp"] if starttls else []), f"{host}:{lab_port}"]


def peers(rtt: float, net: int, endpoints: list[tuple[str, int, bool]], timeout: float, *,
          every_mx: bool) -> list[PeerRun]:
    """testssl.sh on each endpoint vs our endpoint audit (and, with `every_mx`, on every MX of the catalog at
    once in its parallel mass-testing mode vs ours on the same); checkdmarc on the catalog's mail domains vs
    our policy probes. The lab listens for DNS on port 53 and forwards 25/443 (checkdmarc cannot take ports)."""
    runs: list[PeerRun] = []
    catalogs = [ROOT / "providers.yaml", LAB_CATALOG]
    lab = LabProcess(catalogs, OVERLAY, net, rtt, dns_port=53 if isolated() else 5353, forward=isolated())
    try:
        settings = lab.info["overrides"]
        names = {v: k for k, v in lab.info["names"].items()}
        testssl = testssl_path()
        for host, port, starttls in endpoints:
            if host not in names:
                continue
            ip, lab_port = names[host], int(settings["port_map"][str(port)])
            spec = f"{host}:{port}{':starttls' if starttls else ''}"
            ours = _ours(scanner("endpoints", settings, ["--endpoint", spec], timeout))
            work = f"{host}:{port}{' STARTTLS' if starttls else ''}: protocols, ciphers per protocol, certificate"
            if testssl is None:
                runs.append(PeerRun("testssl.sh", rtt, work, None, *ours, note="not installed"))
                continue
            seconds, note = _timed([testssl, *_testssl_args(ip, host, lab_port, starttls)], timeout)
            runs.append(PeerRun("testssl.sh", rtt, work, seconds, *ours, note=note))
        if every_mx:
            mx = [h for h in lab.info["smtp_hosts"] if h in names]
            ours = _ours(scanner("endpoints", settings, [a for h in mx for a in ("--endpoint", f"{h}:25:starttls")],
                                 timeout))
            work = f"every MX of the catalog ({len(mx)} STARTTLS endpoints), testssl.sh --parallel --file"
            if testssl is None:
                runs.append(PeerRun("testssl.sh", rtt, work, None, *ours, note="not installed"))
            else:
                listing = Path(tempfile.mkdtemp()) / "mx.txt"
                smtp_port = int(settings["port_map"]["25"])
                listing.write_text("".join(" ".join(_testssl_args(names[h], h, smtp_port, True)) + "\n" for h in mx))
                seconds, note = _timed([testssl, "--parallel", "--file", str(listing)], timeout)
                runs.append(PeerRun("testssl.sh", rtt, work, seconds, *ours, note=note))
        domains = _catalog_domains(catalogs)
        ours = _ours(scanner("policy", settings, [a for d in domains for a in ("--domain", d)], timeout))
        work = f"{len(domains)} mail domains: MX, SPF, DMARC, MTA-STS, TLS-RPT"
        checkdmarc = checkdmarc_path()
        if checkdmarc is None or not isolated():
            why = "not installed" if checkdmarc is None else "needs the private network namespace (root + unshare)"
            runs.append(PeerRun("checkdmarc", rtt, work, None, *ours, note=why))
        else:
            resolv = Path(tempfile.mkdtemp()) / "resolv.conf"
            resolv.write_text(f"nameserver {lab.info['dns'].split(':')[0]}\noptions timeout:2 attempts:1\n")
            subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)  # this namespace only
            env = {**os.environ, "REQUESTS_CA_BUNDLE": lab.info["ca_bundle"], "SSL_CERT_FILE": lab.info["ca_bundle"]}
            scratch = Path(tempfile.mkdtemp())
            listing = scratch / "domains.txt"
            listing.write_text("\n".join(domains) + "\n")
            # The domain list first: -n takes every argument after it as a nameserver.
            seconds, note = _timed([checkdmarc, str(listing), "-t", "5", "-o", str(scratch / "checkdmarc.json"),
                                    "-n", lab.info["dns"].split(":")[0]], timeout, env)
            subprocess.run(["umount", "/etc/resolv.conf"], check=False)
            runs.append(PeerRun("checkdmarc", rtt, work, seconds, *ours, note=note))
    finally:
        lab.stop()
    return runs


def _catalog_domains(catalogs: list[Path]) -> list[str]:
    from auditor.catalog import load_catalog

    return [d for c in catalogs for p in load_catalog(c).providers for d in p.mail_domains]


# --- report ----------------------------------------------------------------------------------------------
def _f(v: float | None, digits: int = 1, unit: str = "") -> str:
    return "—" if v is None else f"{v:.{digits}f}{unit}"


def render(measures: list[Measure], peer_runs: list[PeerRun], started: float, argv: list[str]) -> str:
    cores = os.cpu_count() or 1
    lines = [
        f"# auditor benchmark — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `make bench` (`python bench/run.py {' '.join(argv)}`). Machine: {cores} cores, Python "
        f"{sys.version.split()[0]}. Network: {NETWORK[isolated()]}; latency from the lab's relay "
        "(auditor/lab/relay.py). Lab and scanner run in separate processes; RSS"
        f" and CPU are the scanner's. Settings: defaults except {TUNING or 'none'}.",
        "",
        "| workload | RTT | lab build | domains | wall | domains/min | p50 / p95 per provider | peak RSS |"
        " CPU scanner / lab | B_min | B_design (H) | wall / B_design | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measures:
        ratio = m.wall / m.bound_design if m.wall and m.bound_design else None
        lines.append(
            f"| {m.workload} | {m.rtt_ms:g} ms | {_f(m.lab_startup, 1, ' s')} | {m.domains} | {_f(m.wall, 1, ' s')} | "
            f"{_f(m.per_minute, 0)} | "
            f"{_f(m.p50, 1)} / {_f(m.p95, 1)} s | {_f(m.rss_mb, 0, ' MB')} | "
            f"{_f(m.cpu_s, 1)} / {_f(m.lab_cpu_s, 1)} s | "
            f"{_f(m.bound_min, 2, ' s')} | {_f(m.bound_design, 2, ' s')}"
            f"{f' ({m.handshakes})' if m.handshakes is not None else ''} | {_f(ratio, 1, '×')} | "
            f"{m.errors}{f', {m.crashes} probe crash/deadline' if m.crashes else ''}"
            f"{f' — {m.note}' if m.note else ''} |")
    if peer_runs:
        lines += ["", "## Peer tools on the same lab endpoints", "",
                  "Both sides timed the same way: a process, from start to exit. In brackets, our time without"
                  " the interpreter start-up and imports (~1 s).", "",
                  "| tool | RTT | work | peer | auditor | peer / auditor | note |", "|---|---|---|---|---|---|---|"]
        for p in peer_runs:
            lines.append(f"| {p.tool} | {p.rtt_ms:g} ms | {p.work} | {_f(p.seconds, 1, ' s')} | "
                         f"{_f(p.ours, 2, ' s')} ({_f(p.ours_work, 2, ' s')}) | {_f(p.ratio, 1, '×')} | {p.note} |")
    bound_text = (__doc__ or "").split("The critical-path lower bound", 1)[-1].strip()
    lines += ["", "## Bounds", "", "The critical-path lower bound " + bound_text, "",
              f"Total benchmark time: {time.monotonic() - started:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="100,1000", help="synthetic domain counts, comma-separated")
    ap.add_argument("--rtts", default="0,50", help="round-trip times in ms, comma-separated")
    ap.add_argument("--no-catalog", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--peer-rtts", default="0,50")
    ap.add_argument("--no-mass-peer", action="store_true", help="skip testssl.sh on every MX at once (minutes)")
    ap.add_argument("--timeout", type=float, default=1500, help="seconds one measurement may take")
    ap.add_argument("--out", type=Path, default=None)
    knobs = ("per_host", "tls_connections", "tls_scans", "dns_in_flight", "probe_deadline", "units_in_flight")
    for knob in knobs:
        kind = float if knob == "probe_deadline" else int
        ap.add_argument("--" + knob.replace("_", "-"), type=kind, help=f"experiment: the {knob} setting")
    args = ap.parse_args()
    for knob in knobs:
        if getattr(args, knob) is not None:
            TUNING[knob] = getattr(args, knob)
    isolate()
    started = time.monotonic()
    rtts = [float(r) for r in args.rtts.split(",") if r]
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    workloads: list[tuple[str, list[Path], Path]] = []
    if not args.no_catalog:
        workloads.append(("catalog", [ROOT / "providers.yaml", LAB_CATALOG], OVERLAY))
    for n in (int(s) for s in args.sizes.split(",") if s):
        cat, ov = write_synthetic(work, n)
        workloads.append((f"{n:,} synthetic domains in-process", [cat], ov))
    measures: list[Measure] = []
    net = 90
    for name, catalogs, overlay in workloads:
        for rtt in rtts:
            net += 1
            print(f"bench: {name} at {rtt:g} ms …", file=sys.stderr, flush=True)
            m = measure(name, catalogs, overlay, rtt, net, args.timeout)
            print(f"bench:   lab {_f(m.lab_startup, 1, ' s')}, scan {_f(m.wall, 1, ' s')}, {_f(m.rss_mb, 0, ' MB')}, "
                  f"{m.errors} errors ({m.crashes} deadline/crash) {m.note}", file=sys.stderr, flush=True)
            for text, count in m.top_errors:
                print(f"bench:     {count} × {text}", file=sys.stderr, flush=True)
            measures.append(m)
    peer_runs: list[PeerRun] = []
    if not args.no_peers:
        endpoints = [("mx01.posteo.de", 25, True), ("mail.tutanota.de", 25, True), ("posteo.de", 443, False)]
        for rtt in (float(r) for r in args.peer_rtts.split(",") if r):
            net += 1
            print(f"bench: peers at {rtt:g} ms …", file=sys.stderr, flush=True)
            chosen = endpoints if rtt == 0 else endpoints[:1]  # testssl.sh at 50 ms takes minutes per endpoint
            peer_runs += peers(rtt, net, chosen, args.timeout, every_mx=not args.no_mass_peer)
    text = render(measures, peer_runs, started, sys.argv[1:])
    out = args.out or ROOT / "reports" / f"bench-{dt.date.today():%Y-%m-%d}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    (out.with_suffix(".json")).write_text(json.dumps({"measures": [m.__dict__ for m in measures],
                                                      "peers": [p.__dict__ for p in peer_runs]}, default=str))
    shutil.rmtree(work, ignore_errors=True)
    print(text)
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
