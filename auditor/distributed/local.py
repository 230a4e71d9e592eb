"""A broker and workers on this machine: Debian's `redis-server` with an ACL user (no default user), append-only
persistence and optionally TLS, on a free loopback port; `auditor worker` processes. For the tests, the bench
and a first try (docs/distributed.md); production brokers are configured by hand (README)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

READY_TIMEOUT = 60.0  # seconds for redis-server or a worker to be ready (a loaded 2-core machine is slow)
WORKER_READY = "consuming"  # what a worker prints once connected (auditor.distributed.worker.serve)


def redis_server() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tls:
    cert: Path  # the server's chain (leaf first)
    key: Path
    ca: Path  # what clients check it against


@dataclass
class LocalRedis:
    """redis-server on 127.0.0.1:`port` for user `user` only; `tls`: TLS only (`rediss://`)."""

    workdir: Path
    password: str
    user: str = "auditor"
    tls: Tls | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def url(self, password: str | None = None) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.user}:{self.password if password is None else password}@127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        server = redis_server()
        if server is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        args = [server, "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "", "--appendonly", "yes",
                "--appendfsync", "always", "--protected-mode", "yes", "--user", "default", "off",
                "--user", self.user, "on", f">{self.password}", "~*", "&*", "+@all"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                     "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        return args

    def start(self) -> LocalRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}): see {self.workdir / 'redis.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not listen on port {self.port} within {READY_TIMEOUT:g}s")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the append-only file is flushed), as an administrator's restart does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class LocalWorker:
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if WORKER_READY in self.text():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"auditor worker exited ({self.proc.returncode}): {self.text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"auditor worker not ready within {timeout:g}s: {self.text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # the tests' workers hold nothing worth a clean shutdown
        self.proc.wait()


def start_worker(url: str, key_file: Path, log: Path, *, vantage: str | None = None, flags: list[str] | None = None,
                 env: dict[str, str] | None = None) -> LocalWorker:
    """`auditor worker` in its own process (the broker URL in its environment, not in `ps`); not waited for."""
    args = [sys.executable, "-m", "auditor", "worker", "--key-file", str(key_file), *(flags or [])]
    if vantage:
        args += ["--vantage", vantage]
    out: IO[bytes] = log.open("wb")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {}), "AUDITOR_BROKER": url})
    out.close()
    return LocalWorker(proc, log)
