"""The one way the command line speaks on stderr: `auditor: …`, one line, secrets redacted."""

from __future__ import annotations

from typing import NoReturn

import typer

from auditor.errors import AuditorError
from auditor.redact import redact


def warn(text: str) -> None:
    """One line on stderr, prefixed `auditor: `, with URL credentials and query strings masked."""
    typer.echo(f"auditor: {redact(text)}", err=True)


def fail(exc: AuditorError) -> NoReturn:
    """Report `exc` as one line and exit with its documented code."""
    warn(str(exc))
    raise typer.Exit(exc.exit_code)
