"""PDF from the HTML report, printed by headless Chromium: the very file a DPO opens is what goes to paper.

Why Chromium and not a Python PDF library: the report's print stylesheet (A4 pages, a new page per section,
repeated table headers, running audit id) is written for a browser's print engine, and a DPO's own
"print to PDF" must give the same document. The browser is started for one page and cannot reach the
network: the report has no external resource (its CSP says so) and every host name resolves to nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from auditor.errors import EXIT_SCAN_FAILED, AuditorError
from auditor.files import write_private

# Names the browser goes by on Debian, Ubuntu and elsewhere; AUDITOR_CHROMIUM names another.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PDF_TIMEOUT_S = 180.0  # a large catalog prints in seconds; this only stops a hung browser

# Headless, with nothing running in the background and no network.
HEADLESS_FLAGS = (
    "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # belt and braces: no host name resolves
)


def headless_flags(euid: int | None = None) -> tuple[str, ...]:
    """HEADLESS_FLAGS, plus `--no-sandbox` only for root (`euid`, default ours): Chromium refuses to start
    its sandbox as root, and the page it renders carries text from remote servers, so everyone else keeps
    the sandbox."""
    root = (os.geteuid() if euid is None else euid) == 0
    return (*HEADLESS_FLAGS, "--no-sandbox") if root else HEADLESS_FLAGS


class ChromiumMissing(AuditorError):
    """No Chromium to print with: the PDF cannot be made on this machine (exit 3, like a scan that cannot run)."""

    exit_code = EXIT_SCAN_FAILED


class PdfFailed(AuditorError):
    exit_code = EXIT_SCAN_FAILED


def find_chromium() -> str | None:
    """The Chromium executable: $AUDITOR_CHROMIUM when set, else the first known name on PATH."""
    explicit = os.environ.get("AUDITOR_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() and os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    found = find_chromium()
    if found is None:
        raise ChromiumMissing(
            "PDF export needs Chromium, which is not installed (apt-get install chromium, "
            "or set AUDITOR_CHROMIUM to its path); use --format html and print from a browser instead"
        )
    return found


def print_to_pdf(html_file: Path, pdf_file: Path, *, chromium: str | None = None,
                 timeout: float = PDF_TIMEOUT_S) -> Path:
    """Print `html_file` (a report written to disk) to `pdf_file` with headless Chromium; returns `pdf_file`.

    Page size and margins come from the report's own `@page` rules; Chromium's date/URL header and footer
    are turned off (the report prints its own running header). Chromium prints into a private temporary
    directory; the PDF is then written 0600 (auditor.files). Raises ChromiumMissing or PdfFailed.
    """
    browser = chromium or require_chromium()
    with tempfile.TemporaryDirectory(prefix="auditor-chromium-") as tmp:
        # A fresh profile each time: no state shared with the user's browser, nothing left behind.
        printed = Path(tmp) / "report.pdf"
        args = [browser, *headless_flags(), f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
                f"--print-to-pdf={printed}", html_file.resolve().as_uri()]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise ChromiumMissing(f"cannot run Chromium at {browser}: {exc.strerror}") from exc
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not finish printing {html_file} within {timeout:.0f} s") from exc
        pdf = printed.read_bytes() if printed.is_file() else b""
    if done.returncode != 0 or pdf[:5] != b"%PDF-":
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no message")
        raise PdfFailed(f"Chromium could not print {html_file} (exit {done.returncode}): {last[:200]}")
    return write_private(pdf_file, pdf)


def html_to_pdf(html: str, pdf_file: Path, *, chromium: str | None = None) -> Path:
    """Write `html` next to nothing (a private temporary file) and print it to `pdf_file`."""
    browser = chromium or require_chromium()  # fail before writing anything
    with tempfile.TemporaryDirectory(prefix="auditor-report-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(html, encoding="utf-8")
        return print_to_pdf(source, pdf_file, chromium=browser)
