"""The lab in a process of its own for benchmarks: its CPU and memory are not counted as the scanner's.

    python bench/labproc.py --catalog A.yaml [--catalog B.yaml] [--overlay W.yaml] --net 90 --rtt 50

Prints one JSON line (settings overrides, start-up time, sizes), runs until stdin closes, then prints a
second JSON line with what the latency relays carried (connections per address:port), and stops.
`--forward` also listens on 0.0.0.0:443 and :25 and forwards each connection to the lab's mapped port
on the address the client dialled (for peer tools that cannot be told a port: checkdmarc's MTA-STS fetch).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import resource
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.lab import Lab
from auditor.lab.relay import relays
from auditor.lab.world import OVERLAY


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def _forwarders(port_map: dict[int, int]) -> None:
    """Well-known port -> lab port, same destination address, in a thread of its own."""
    async def serve(target: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("sockname")[0]
        try:
            up_reader, up_writer = await asyncio.open_connection(ip, target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def main() -> None:
        for src, dst in port_map.items():
            await asyncio.start_server(functools.partial(serve, dst), "0.0.0.0", src, reuse_address=True)
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()


def _cpu() -> float:
    """This process's CPU seconds, every thread (servers, relays) included."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", action="append", type=Path, required=True)
    ap.add_argument("--overlay", type=Path, default=OVERLAY)
    ap.add_argument("--net", type=int, default=90)
    ap.add_argument("--rtt", type=float, default=0.0)
    ap.add_argument("--dns-port", type=int, default=5353)
    ap.add_argument("--forward", action="store_true")
    args = ap.parse_args()
    lab = Lab(catalogs=args.catalog, overlay=args.overlay, net=args.net, rtt_ms=args.rtt, dns_port=args.dns_port)
    lab.start()
    try:
        if args.forward:
            _forwarders({443: lab.port(443), 25: lab.port(25)})
        overrides = {k: (str(v) if isinstance(v, Path) else v) for k, v in lab.overrides().items()}
        overrides["port_map"] = {str(k): v for k, v in lab.port_map.items()}
        names = {h.ip: h.name for h in lab.world.hosts.values()}
        print(json.dumps({"overrides": overrides, "startup": lab.startup_seconds, "hosts": len(lab.world.hosts),
                          "zones": len(lab.zones.zones), "dns": f"{lab.dns_address}:{lab.dns_port}",
                          "names": names, "ca_bundle": str(lab.ca_bundle),
                          "smtp_hosts": sorted(h.name for h in lab.world.hosts.values() if h.smtp)}), flush=True)
        cpu0 = _cpu()
        sys.stdin.read()
        cpu = _cpu() - cpu0
        carried: list[dict[str, Any]] = [
            {"host": r.host, "name": names.get(r.host, r.host), "port": r.port, "connections": r.connections,
             "datagrams": r.datagrams} for r in relays(lab._servers)]
        print(json.dumps({"relays": carried, "cpu_s": cpu}), flush=True)
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
