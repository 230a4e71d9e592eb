"""Errors the command line turns into one-line messages and documented exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_SCAN_FAILED = 3


class AuditorError(Exception):
    """Base of every error the CLI reports as one line, without a traceback."""

    exit_code = EXIT_USAGE


class ConfigError(AuditorError):
    """Bad user input: a settings value, a catalog entry, an unreadable file."""


class CatalogError(ConfigError):
    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class NetworkUnavailable(AuditorError):
    """The scan could not run at all (no route, no resolver): exit 3, not a report of false failures."""

    exit_code = EXIT_SCAN_FAILED


class DiskFull(AuditorError):
    """No space left where we write: the run could not finish (exit 3); what was stored before is intact."""

    exit_code = EXIT_SCAN_FAILED


class VantageLimited(AuditorError):
    """This vantage point cannot test what the run needs (e.g. outbound port 25 blocked): exit 3, with the
    way out, rather than a report that blames the providers for our network."""

    exit_code = EXIT_SCAN_FAILED
