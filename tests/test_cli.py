"""The command line as a user meets it: help, one-line errors with the right exit codes, the offline case."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from labscan import default_net_taken

from auditor import __version__
from auditor.lab import Lab
from auditor.lab.free_net import DEFAULT_NET
from auditor.schema import validate_document

ROOT = Path(__file__).resolve().parent.parent


def auditor(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"], ["demo", "--help"], ["lab", "serve", "--help"],
                                  ["catalog", "check", "--help"], ["report", "--help"], ["history", "--help"],
                                  ["diff", "--help"], ["prune", "--help"], ["lab", "--help"], ["catalog", "--help"],
                                  ["worker", "--help"], ["evidence", "--help"], ["register", "--help"]])
def test_help_everywhere(args: list[str]) -> None:
    result = auditor(*args)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_help_shows_config_table_names() -> None:
    """Rich reads "[report]" as markup and dropped it from the help ("the config file's  table")."""
    result = auditor("report", "--help")
    text = " ".join(result.stdout.split())
    assert "[report] table" in text and "( firm)" not in text and "file's table" not in text


def test_version() -> None:
    result = auditor("--version")
    assert (result.returncode, result.stdout) == (0, f"auditor {__version__}\n")


def test_lab_serve_on_taken_addresses_is_one_line(lab: Lab) -> None:
    """The session's lab holds 127.<net>.x.y: a second one asked for the same net says so, exit 3."""
    result = auditor("lab", "serve", "--net", str(lab.net))
    assert result.returncode == 3 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"auditor: the lab's addresses 127.{lab.net}.x.y are taken (")
    assert line.endswith("): another lab (`auditor lab serve`, `auditor demo`, a test run) holds them; stop it, or "
                         "leave out --net to take free ones")


def test_lab_serve_takes_free_addresses_when_the_default_ones_are_taken() -> None:
    with default_net_taken():
        serve = subprocess.Popen([sys.executable, "-m", "auditor", "lab", "serve"], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={k: v for k, v in os.environ.items() if k != "AUDITOR_LAB_NET"})
        try:
            assert serve.stdout is not None
            first = serve.stdout.readline()
            flags = serve.stdout.readline()
        finally:
            serve.terminate()
            _out, err = serve.communicate(timeout=10)
    assert first.startswith("auditor lab: "), err
    resolver = flags.split("--resolver ")[1].split()[0]
    assert resolver.endswith(".0.53:5353") and not resolver.startswith(f"127.{DEFAULT_NET}.")
    assert "Traceback" not in err


def test_bad_catalog_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "providers.yaml"
    bad.write_text("schema: auditor.providers/1\nproviders:\n  - id: x\n    name: X\n    kind: fax\n"
                   "    company: {legal_name: X, country: DE}\n    mail_domains: [x.example]\n")
    result = auditor("scan", "--providers", str(bad), "--db", str(tmp_path / "a.sqlite"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"auditor: {bad}:5:") and "kind" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_provider_id(tmp_path: Path) -> None:
    result = auditor("scan", "--only", "nope", "--db", str(tmp_path / "a.sqlite"))
    assert result.returncode == 2 and "nope" in result.stderr and "posteo" in result.stderr


def test_bad_flag_value_is_one_line(tmp_path: Path) -> None:
    result = auditor("scan", "--port-map", "25:2525", "--db", str(tmp_path / "a.sqlite"))
    assert result.returncode == 2 and "port_map" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_resolver_exits_3_in_seconds(tmp_path: Path) -> None:
    start = time.monotonic()
    result = auditor("scan", "--resolver", "127.0.0.1:9", "--db", str(tmp_path / "a.sqlite"),
                     "--reports-dir", str(tmp_path))
    assert result.returncode == 3
    assert time.monotonic() - start < 20
    assert result.stderr.startswith("auditor: network unreachable") and len(result.stderr.splitlines()) == 1
    assert not list(tmp_path.glob("*.json"))  # no report of false failures


@pytest.fixture
def nxdomain_resolver() -> Iterator[str]:
    """A resolver like an offline sandbox's: it answers, but NXDOMAIN for every name, the root included."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = dns.message.make_response(dns.message.from_wire(data))
            reply.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    sock.close()


def test_resolver_without_internet_exits_3(tmp_path: Path, nxdomain_resolver: str) -> None:
    result = auditor("scan", "--resolver", nxdomain_resolver, "--db", str(tmp_path / "a.sqlite"),
                     "--reports-dir", str(tmp_path))
    assert result.returncode == 3
    assert "cannot resolve the root" in result.stderr and "Traceback" not in result.stderr


def test_catalog_check_lists_providers() -> None:
    result = auditor("catalog", "check", "providers.yaml")
    assert result.returncode == 0 and "18 providers, valid" in result.stdout


def test_lab_serve_flags_drive_a_real_scan(tmp_path: Path) -> None:
    """`auditor lab serve` prints the flags; `auditor scan` with them audits the lab as a simulation."""
    serve = subprocess.Popen([sys.executable, "-m", "auditor", "lab", "serve", "--net", "96"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        line = ""
        deadline = time.monotonic() + 30
        while not line.startswith("scan it with:") and time.monotonic() < deadline:
            line = serve.stdout.readline()
        flags = line.removeprefix("scan it with: auditor scan ").split()
        assert "--lab" in flags and "--resolver" in flags
        out = tmp_path / "posteo.json"
        result = auditor("scan", *flags, "--only", "posteo", "--json", str(out), "--html", str(tmp_path / "p.html"),
                         "--db", str(tmp_path / "a.sqlite"), timeout=120)
        assert result.returncode == 0, result.stderr
        document = json.loads(out.read_text())
        validate_document(document)
        assert document["vantage"]["lab"] is True
        [posteo] = document["providers"]
        assert any(c["id"] == "smtp.starttls" and c["value"] is True for c in posteo["checks"])
    finally:
        serve.terminate()
        serve.wait(timeout=10)
