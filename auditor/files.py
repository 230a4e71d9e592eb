"""What auditor writes is private: files 0600, the directories it creates 0700, whatever the umask.

Why: the database, its WAL/SHM, the lock and every report hold scan data and the client's name, and a
shared server's default umask (022) would leave them readable by every local user. Directories that already
exist are left as they are (`reports/` in a checkout, a home directory); files are written whole to a
private temporary file and renamed over the target, so a symlink planted at the target is replaced, never
followed. A full disk is reported as such (`DiskFull`, exit 3), never as a bad file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from auditor.errors import AuditorError, ConfigError, DiskFull

FILE_MODE = 0o600
DIR_MODE = 0o700
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def disk_full(path: Path, reason: str) -> DiskFull:
    return DiskFull(f"{path}: disk full ({reason}); free some space on that file system and run again "
                    "(nothing was lost: earlier audits are intact)")


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents with mode 0700; an existing directory is left alone."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by another process meanwhile: not ours to change
        except OSError as exc:
            raise _write_error(directory, exc, "cannot create the directory") from exc
        os.chmod(directory, DIR_MODE)  # mkdir's mode passes through the umask
    return path


def create_private(path: Path) -> None:
    """Create an empty file of mode 0600 at `path` unless something is there already (which is kept)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise _write_error(path, exc, "cannot create") from exc
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes | str) -> Path:
    """Write `data` (text as UTF-8, no newline translation) to `path`, mode 0600, atomically; returns `path`."""
    return write_private_parts(path, [data])


def write_private_parts(path: Path, parts: Iterable[bytes | str]) -> Path:
    """`write_private` of the parts one after the other: a big document written as it is produced."""
    private_dir(path.parent)
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc, "cannot write") from exc
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            for part in parts:
                handle.write(part.encode("utf-8") if isinstance(part, str) else part)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _write_error(path, exc, "cannot write") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def _write_error(path: Path, exc: OSError, doing: str) -> AuditorError:
    if exc.errno in NO_SPACE:
        return disk_full(path, exc.strerror or "no space left on device")
    return ConfigError(f"{path}: {doing} ({exc.strerror or exc}); choose another place with --reports-dir, "
                       "--output or --db")


def no_space_left(path: Path) -> bool:
    """Whether the file system holding `path` has (almost) no space left for us: how a database error that
    SQLite reports only as "disk I/O error" is told apart from a damaged file."""
    try:
        found = os.statvfs(path if path.is_dir() else path.parent)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < 64 * 1024
