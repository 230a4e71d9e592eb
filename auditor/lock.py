"""One cron scan per database at a time: an `fcntl.flock` on `<db>.lock`, taken without waiting.

Why a lock when SQLite already serialises writers: a cron scan that outlives its interval would otherwise
overlap the next one, and both would diff against the same previous audit and notify twice. The second run
does not wait (cron would pile them up); it stops with one line naming the holder and exit code 3 ("the scan
could not run"). `flock` is released by the kernel when the holder dies, even by SIGKILL, so a stale lock
file never blocks the next run; the pid written in it is only there to make the message useful.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from auditor.errors import EXIT_SCAN_FAILED, AuditorError, ConfigError
from auditor.files import FILE_MODE, private_dir

MAX_LOCK_BYTES = 32  # a pid and a newline: anything longer was not written by us


class LockHeld(AuditorError):
    """Another process holds the lock: this run could not run (exit 3), it is not a usage error."""

    exit_code = EXIT_SCAN_FAILED

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path, self.pid = path, pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another auditor scan holds the lock {path} ({holder})")


def lock_path(db: Path) -> Path:
    """The lock file next to the database: `audits.sqlite` -> `audits.sqlite.lock`."""
    db = Path(db).expanduser()
    return db.with_name(db.name + ".lock")


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _holds_pid(fd: int) -> bool:
    text = os.pread(fd, MAX_LOCK_BYTES + 1, 0)
    return len(text) <= MAX_LOCK_BYTES and text.strip().isdigit()


def _check_ours(fd: int, path: Path) -> None:
    """Refuse anything at the lock's name that we would not have written: a file of another user, another
    kind, with other names (a hard link), or content other than a pid. We empty the lock file; it must be
    ours to empty."""
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"owned by uid {info.st_uid}"
    elif info.st_nlink != 1:
        problem = f"{info.st_nlink} names point to it"
    elif info.st_size and not _holds_pid(fd):  # empty: new, or released by a clean exit
        problem = "it holds something other than a process id"
    if problem:
        raise ConfigError(f"{path}: not auditor's lock file ({problem}); move it aside or pass --db FILE")
    if stat.S_IMODE(info.st_mode) != FILE_MODE:
        os.fchmod(fd, FILE_MODE)  # new (the umask applied) or left by an older auditor


class ScanLock:
    """`with ScanLock(lock_path(db)):` — raises `LockHeld` at once when another process holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            private_dir(self.path.parent)
            # No O_TRUNC: truncating before we hold the lock would erase the holder's pid. O_NOFOLLOW: a
            # symlink planted at the lock's name must not make us open (and later empty) its target.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(f"{self.path}: is a symbolic link, not auditor's lock file; remove it or "
                                  "pass --db FILE") from exc
            raise ConfigError(f"{self.path}: cannot open the lock file ({exc.strerror}); pass --db FILE") from exc
        try:
            _check_ours(fd, self.path)
        except ConfigError:
            os.close(fd)
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            pid = _holder(fd)
            os.close(fd)
            raise LockHeld(self.path, pid) from exc
        except OSError as exc:  # e.g. a file system without flock support
            os.close(fd)
            raise ConfigError(f"{self.path}: cannot lock ({exc.strerror}); pass --db FILE elsewhere") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Empty the pid before unlocking, not after: a successor may already have written its own.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ScanLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
