"""One bulk campaign through the real CLI against the synthetic lab, for its wall time and peak RSS.

    python bench/campaign.py --domains 1000 [--work DIR] [--keep]

Builds the synthetic world of N domains, starts the lab in this process (its memory is not the scanner's),
runs `/usr/bin/time -v auditor scan --domains FILE --json …` in a child process and prints one JSON line:
wall seconds, peak RSS of the scan (MB), the JSON document's size, and the scan's exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.lab.free_net import start_free
from auditor.lab.synthetic import domain_name, write_synthetic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    catalog, overlay = write_synthetic(work, args.domains)
    listing = work / "domains.txt"
    listing.write_text("".join(f"{domain_name(k)}\n" for k in range(args.domains)))
    t0 = time.monotonic()
    lab = start_free(catalogs=[catalog], overlay=overlay)
    built = time.monotonic() - t0
    try:
        db, out = work / "audits.sqlite", work / "campaign.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "auditor", "scan", *shlex.split(lab.flags()),
               "--domains", str(listing), "--db", str(db), "--reports-dir", str(work / "reports"),
               "--json", str(out), "--timeout", "3"]
        t1 = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
        wall = time.monotonic() - t1
    finally:
        lab.stop()
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    print(json.dumps({"domains": args.domains, "lab_build_s": round(built, 1), "wall_s": round(wall, 1),
                      "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
                      "json_mb": round(out.stat().st_size / 2**20, 1) if out.exists() else None,
                      "exit": done.returncode, "work": str(work),
                      "stderr_tail": done.stderr.splitlines()[-25:] if done.returncode else []}))


if __name__ == "__main__":
    main()
