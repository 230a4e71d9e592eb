"""The client report in a real headless Chromium: offline, script-free, complete in French and English, and
printed to PDF with one new page per section.

Chromium is driven over its DevTools protocol through `--remote-debugging-pipe` (two pipes, NUL-separated
JSON messages): standard library only, no driver package. PDF pages and named destinations are read by a
small parser below (Chromium's PDF writer emits no object streams, and the test checks that it still
doesn't), so no PDF library is needed either.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from auditor.catalog import load_catalog
from auditor.findings import Audit, Status
from auditor.lab import Lab
from auditor.lab.ca import HOSTILE_PAYLOADS
from auditor.lab.world import LAB_CATALOG
from auditor.report import Branding, render_audit_html
from auditor.report.i18n import LANGS, Translator
from auditor.report.pdf import find_chromium, headless_flags, print_to_pdf
from auditor.scan import run_scan
from auditor.scoring import score_audit
from auditor.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (`make test` installs it: apt-get install chromium)")

REAL = ["posteo", "threema"]
LAB_ONLY = ["hostile", "exemplary", "offshore", "legacytls"]
WIDTHS = {"desktop": 1280, "phone": 390}


# --- a minimal DevTools client over pipes ----------------------------------------------------------------

class Browser:
    """One headless Chromium; `send` a command, collect `events`. Messages are JSON, each ending in NUL."""

    def __init__(self, chromium: str, profile: Path) -> None:
        # Chromium reads commands from fd 3 and writes replies to fd 4. The pipe ends are moved above 10
        # first, so that bash's `3<&N 4>&M` cannot clobber one with the other (dash refuses fds above 9).
        to_browser_r, self._w = (self._high(fd) for fd in os.pipe())
        self._r, from_browser_w = (self._high(fd) for fd in os.pipe())
        args = [chromium, *headless_flags(), f"--user-data-dir={profile}", "--remote-debugging-pipe",
                "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}', "bash", *args],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    @staticmethod
    def _high(fd: int) -> int:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def _read_one(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no message from Chromium")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_one(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        """The first event `method` not seen yet (events before it stay in `events`)."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        for e in self.events[:seen]:
            if e.get("method") == method and not e.get("_taken"):
                e["_taken"] = True
                return e
        while True:
            event = self._read_one(deadline)
            self.events.append(event)
            if event.get("method") == method:
                event["_taken"] = True
                return event

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


# Set before any page script could run: an alert (or any probe call) marks the page as compromised.
PROBE = """
window.__pwned = false;
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function () { window.__pwned = true; };
}
"""


class Page:
    """A fresh tab with everything a test needs to see: console, exceptions, requests, dialogs."""

    def __init__(self, browser: Browser) -> None:
        self.b = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.cmd(f"{domain}.enable")
        self.cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})

    def cmd(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.b.send(method, params, session=self.session)

    def mine(self, method: str) -> list[dict[str, Any]]:
        return [e.get("params", {}) for e in self.b.events
                if e.get("sessionId") == self.session and e.get("method") == method]

    def open(self, url: str, width: int) -> None:
        self.cmd("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
        self.cmd("Page.navigate", {"url": url})
        while True:  # the load event of this session's page
            event = self.b.wait_for("Page.loadEventFired")
            if event.get("sessionId") == self.session:
                break

    def eval(self, expression: str) -> Any:
        reply = self.cmd("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        shot = self.cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self) -> list[str]:
        errors = [f"console.{c['type']}: {c.get('args')}" for c in self.mine("Runtime.consoleAPICalled")
                  if c["type"] in ("error", "assert")]
        errors += [f"exception: {e['exceptionDetails'].get('text')}" for e in self.mine("Runtime.exceptionThrown")]
        errors += [f"log.{e['entry']['level']}: {e['entry'].get('text')}" for e in self.mine("Log.entryAdded")
                   if e["entry"]["level"] in ("error", "warning")]
        return errors

    def requests(self) -> list[str]:
        return [r["request"]["url"] for r in self.mine("Network.requestWillBeSent")]

    def dialogs(self) -> list[dict[str, Any]]:
        return self.mine("Page.javascriptDialogOpening")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.send("Browser.getVersion")
        yield b
    finally:
        b.close()


# --- the demo-like audit ---------------------------------------------------------------------------------

def tiny_png() -> bytes:
    """A valid 2x1 PNG made here: a logo on the cover, with no file shipped for it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00" + bytes([13, 71, 161, 255, 255, 255])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def earlier(audit: Audit) -> Audit:
    """The audit as it might have been a week before: exemplary's STARTTLS failed then (a change to report)."""
    providers = []
    for p in audit.providers:
        if p.id == "exemplary":
            checks = [c.model_copy(update={"status": Status.FAIL, "value": False, "summary": "no STARTTLS"})
                      if c.id == "smtp.starttls" else c for c in p.checks]
            p = p.model_copy(update={"checks": checks})
        providers.append(p)
    return score_audit(audit.model_copy(update={"audit_id": "20261122T000000Z-0a0a0a", "providers": providers}),
                       audit.profile)


@pytest.fixture(scope="module")
def demo_audit(lab: Lab) -> Audit:
    settings = load_settings({**lab.overrides(), "timeout": 3.0}, environ={})
    providers = [*load_catalog(ROOT / "providers.yaml").select(REAL), *load_catalog(LAB_CATALOG).select(LAB_ONLY)]
    return score_audit(asyncio.run(run_scan(providers, settings)), "rgpd")


@pytest.fixture(scope="module")
def report_files(demo_audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    branding = Branding(firm="Cabinet <b>DPO</b> & Associés", client="Clinique \"Saint-Exemple\"", logo=tiny_png())
    files: dict[str, Path] = {}
    for lang in LANGS:
        html = render_audit_html(demo_audit, lang, branding=branding, previous=earlier(demo_audit))
        files[lang] = out / f"report-{lang}.html"
        files[lang].write_text(html, encoding="utf-8")
        annex = render_audit_html(demo_audit, lang, branding=branding, document="annex")
        files[f"{lang}-annex"] = out / f"report-{lang}-annex.html"
        files[f"{lang}-annex"].write_text(annex, encoding="utf-8")
    return files


def section_ids(html: str) -> list[str]:
    """The sections the print stylesheet starts on a new page (`section.major`), in document order."""
    return re.findall(r'<section class="major[^"]*" id="([^"]+)"', html)


# --- tests -----------------------------------------------------------------------------------------------

@needs_chromium
@pytest.mark.parametrize("lang", [*LANGS, *(f"{lang}-annex" for lang in LANGS)])
def test_report_in_the_browser_is_offline_script_free_and_fits_a_phone(
        browser: Browser, report_files: dict[str, Path], lang: str, tmp_path: Path) -> None:
    page = Page(browser)
    url = report_files[lang].as_uri()
    annex = lang.endswith("-annex")
    for name, width in WIDTHS.items():
        page.open(url, width)
        shot = page.screenshot(tmp_path / f"report-{lang}-{name}.png")
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
        # Nothing wider than the screen: tables wrap their text instead of pushing the page sideways.
        assert page.eval("document.documentElement.scrollWidth") <= width, (name, width)

    assert page.console_errors() == []
    leaving = [u for u in page.requests() if not u.startswith(("file://", "data:"))]
    assert leaving == [], "requests left file://"
    assert page.requests(), "the request log is empty: the Network domain did not report the page load"
    assert page.dialogs() == [] and page.eval("window.__pwned") is False
    assert page.eval("document.scripts.length") == 0
    assert page.eval("document.documentElement.lang") == lang.removesuffix("-annex")

    text = page.eval("document.body.textContent")
    assert page.eval("document.querySelectorAll('img[src=x], img[onerror], [onerror], script').length") == 0
    assert page.eval("document.querySelectorAll('b').length") == 0
    if annex:
        # The hostile provider's DNS records and certificate names are in the annex as text, not as markup.
        for payload in HOSTILE_PAYLOADS:
            assert payload.lstrip('"') in text, payload
        assert '"names": ["mx.hostile.example", "<script>alert(1)</script>"' in text  # certificate SANs
        assert "v=spf1 <script>alert(1)</script> -all" in text  # the SPF record
        return
    assert page.eval("document.querySelectorAll('img').length") == 1  # the logo, a data: URI
    assert page.eval("document.querySelector('img.logo').naturalWidth") == 2
    # Branding is scanned-text-grade too: shown, never interpreted.
    assert "Cabinet <b>DPO</b> & Associés" in text


# --- PDF: one new page per section --------------------------------------------------------------------------

def pdf_objects(pdf: bytes) -> dict[int, bytes]:
    """Object number -> body (up to `endobj`) of every object in a PDF written without object streams."""
    assert b"/ObjStm" not in pdf, "the PDF uses object streams: this parser cannot read it (use pypdf)"
    return {int(m.group(1)): m.group(2) for m in re.finditer(rb"(?s)(\d+) 0 obj\s*(.*?)endobj", pdf)}


def pdf_pages(objects: dict[int, bytes]) -> list[int]:
    """The page objects in reading order, walking the page tree from the catalog."""
    catalog = next(body for body in objects.values() if re.search(rb"/Type\s*/Catalog\b", body))
    root = int(re.search(rb"/Pages\s+(\d+) 0 R", catalog).group(1))  # type: ignore[union-attr]

    def walk(num: int) -> Iterator[int]:
        body = objects[num]
        if re.search(rb"/Type\s*/Pages\b", body):
            kids = re.search(rb"/Kids\s*\[([^\]]*)\]", body).group(1)  # type: ignore[union-attr]
            for kid in re.findall(rb"(\d+) 0 R", kids):
                yield from walk(int(kid))
        else:
            yield num

    return list(walk(root))


def pdf_destinations(objects: dict[int, bytes]) -> dict[str, int]:
    """Named destination -> page object (Chromium writes one per in-document link target, in /Dests)."""
    catalog = next(body for body in objects.values() if re.search(rb"/Type\s*/Catalog\b", body))
    ref = re.search(rb"/Dests\s+(\d+) 0 R", catalog)
    if ref is None:  # no link targets in this document
        return {}
    dests = objects[int(ref.group(1))]
    return {m.group(1).decode(): int(m.group(2)) for m in re.finditer(rb"/([\w.-]+)\s*\[(\d+) 0 R", dests)}


def pdf_layout(pdf_file: Path) -> tuple[int, dict[str, int]]:
    """(page count, section id -> 0-based page index)."""
    objects = pdf_objects(pdf_file.read_bytes())
    pages = pdf_pages(objects)
    index = {obj: i for i, obj in enumerate(pages)}
    return len(pages), {name: index[obj] for name, obj in pdf_destinations(objects).items()}


def assert_sections_start_pages(pdf_file: Path, html: str) -> tuple[int, list[int]]:
    count, where = pdf_layout(pdf_file)
    sections = section_ids(html)
    assert sections and set(sections) <= set(where), f"sections without a destination: {set(sections) - set(where)}"
    starts = [where[s] for s in sections]
    # The cover is page 1 alone; then every section begins a page of its own, in document order.
    assert starts[0] == 1 and starts == sorted(set(starts)), starts
    assert count >= len(sections) + 1 and count > starts[-1]
    return count, starts


@needs_chromium
def test_pdf_starts_every_section_on_a_new_page(report_files: dict[str, Path], tmp_path: Path) -> None:
    html_file = report_files["fr"]
    pdf = print_to_pdf(html_file, tmp_path / "report-fr.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    count, starts = assert_sections_start_pages(pdf, html_file.read_text(encoding="utf-8"))
    html = html_file.read_text(encoding="utf-8")
    assert "changes" in section_ids(html) and "p-1" in section_ids(html)
    # Pages beyond the section starts are long sections running on (provider tables): at most a few each.
    assert count <= 6 * (len(starts) + 1)


def compact_audit(demo_audit: Audit) -> Audit:
    """Two providers with a handful of findings each: a short document, quick to print section by section."""
    keep = {"dns.mx", "smtp.starttls", "spf", "dmarc"}
    providers = [p.model_copy(update={"checks": [c.model_copy(update={"evidence": {}}) for c in p.checks
                                                 if c.id in keep]})
                 for p in demo_audit.providers if p.id in ("exemplary", "offshore")]
    return score_audit(demo_audit.model_copy(update={"providers": providers}), "rgpd")


def split_sections(html: str) -> tuple[str, list[str], str]:
    """(everything before the cover, [cover, each major section], the colophon to the end)."""
    starts = [m.start() for m in re.finditer(r'<section class="(?:cover|major)', html)]
    footer = html.index('<footer class="colophon">')
    return html[:starts[0]], [html[a:b] for a, b in zip(starts, [*starts[1:], footer], strict=True)], html[footer:]


@needs_chromium
def test_pdf_page_count_is_the_sum_of_its_sections(demo_audit: Audit, tmp_path: Path) -> None:
    """Printed alone, each section takes some pages; printed together, exactly their sum: every section
    starts a new page, and none spills onto the next one's."""
    html = render_audit_html(compact_audit(demo_audit), "en")
    source = tmp_path / "whole.html"
    source.write_text(html, encoding="utf-8")
    count, starts = assert_sections_start_pages(print_to_pdf(source, tmp_path / "whole.pdf"), html)
    head, parts, tail = split_sections(html)

    def pages_alone(i: int) -> int:
        page = tmp_path / f"part-{i}.html"
        page.write_text(head + parts[i] + (tail if i == len(parts) - 1 else "</body>\n</html>\n"), encoding="utf-8")
        return pdf_layout(print_to_pdf(page, tmp_path / f"part-{i}.pdf"))[0]

    with ThreadPoolExecutor(max_workers=4) as pool:  # one browser per print: start-up time dominates
        alone = list(pool.map(pages_alone, range(len(parts))))
    assert alone[0] == 1  # the cover
    assert count == sum(alone), (count, alone)
    # And the section starts found in the whole document are where the parts say they should be.
    assert starts == [sum(alone[:i]) for i in range(1, len(alone))], (starts, alone)


# --- both languages --------------------------------------------------------------------------------------

HEADINGS = {"fr": ("Synthèse", "Classements et usages", "Méthode, périmètre et limites",
                   "Évolutions depuis l’audit précédent"),
            "en": ("Executive summary", "Method, scope and limits", "Changes since the previous audit")}


def test_demo_like_audit_renders_completely_in_both_languages(report_files: dict[str, Path]) -> None:
    # Rendering raised MissingTranslation / UndefinedError if a key were missing; check what came out.
    pages = {lang: report_files[lang].read_text(encoding="utf-8") for lang in LANGS}
    for lang, html in pages.items():
        assert f'<html lang="{lang}">' in html
        for heading in HEADINGS[lang]:
            assert heading in html, (lang, heading)
        other = "en" if lang == "fr" else "fr"
        assert HEADINGS[other][0] not in html, (lang, "contains the other language's heading")
        assert section_ids(html) == section_ids(pages["fr"])  # the same document, translated
        # No catalogue key leaked through (a key renders as itself when a fallback is used by mistake).
        assert not re.search(r">\s*(?:summary|matrix|provider|method|changes|glossary|cover)\.[a-z_]+\s*<", html)


def test_demo_like_audit_needs_no_fallback_text(demo_audit: Audit, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys built from data (claim names, countries, kinds, profiles) fall back to the raw value when a
    catalogue lacks them; in a client report that is an untranslated identifier. None may be missing."""
    misses: set[tuple[str, str]] = set()
    t_or = Translator.t_or

    def recording(self: Translator, key: str, fallback: str, /, **params: Any) -> str:
        if not self.has(key):
            misses.add((self.lang, key))
        return t_or(self, key, fallback, **params)

    monkeypatch.setattr(Translator, "t_or", recording)
    for lang in LANGS:
        render_audit_html(demo_audit, lang, previous=earlier(demo_audit))
    assert misses == set()


def test_every_catalog_claim_has_a_name_in_both_languages() -> None:
    names = {c.name for path in (ROOT / "providers.yaml", LAB_CATALOG) for p in load_catalog(path).providers
             for c in p.claims}
    for lang in LANGS:
        tr = Translator(lang)
        assert {n for n in names if not tr.has(f"claim.{n}")} == set(), lang


def test_running_header_names_the_client_with_its_spaces(demo_audit: Audit) -> None:
    html = render_audit_html(demo_audit, "fr", branding=Branding(client="Clinique du Lac"))
    # "·" is a CSS escape, which swallows one following space: the space is escaped too.
    assert f'@top-left {{ content: "Audit {demo_audit.audit_id[:16]}' in html
    assert '\\0000b7\\000020Clinique du Lac"' in html

