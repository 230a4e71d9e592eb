"""The pipeline a command runs: catalog → scan → score → store → reports. No logic of its own beyond wiring."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.catalog import Catalog, Provider, load_catalog
from auditor.errors import EXIT_OK, ConfigError
from auditor.findings import Audit, ProviderResult
from auditor.scan import run_scan
from auditor.schema import audit_document
from auditor.settings import Settings, load_settings


@dataclass(frozen=True)
class ScanRequest:
    settings: Settings
    providers: list[Provider]
    json_out: Path | None
    html_out: Path | None
    cron: bool
    default_stem: str = "audit"

    @classmethod
    def build(cls, *, catalog: Path, only: list[str], config: Path | None, json_out: Path | None,
              html_out: Path | None, cron: bool, flags: dict[str, Any]) -> ScanRequest:
        settings = load_settings(flags, config=config)
        providers = _select(load_catalog(catalog), only)
        return cls(settings, providers, json_out, html_out, cron)


def _select(catalog: Catalog, only: list[str]) -> list[Provider]:
    return catalog.select(only) if only else list(catalog.providers)


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[ProviderResult], None]]:
    """A progress bar on a terminal; nothing under cron or when stderr is not a TTY."""
    if quiet or not sys.stderr.isatty():
        yield lambda result: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]auditing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), transient=True) as bar:
        task = bar.add_task("", total=total)
        yield lambda result: bar.update(task, advance=1, description=result.id)


def write_outputs(audit: Audit, json_out: Path | None, html_out: Path | None, lang: str) -> list[Path]:
    written = []
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(audit_document(audit), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(json_out)
    if html_out:
        from auditor.report import render_audit_html

        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(render_audit_html(audit, lang=lang), encoding="utf-8")
        written.append(html_out)
    return written


def execute(settings: Settings, providers: list[Provider], *, quiet: bool) -> Audit:
    """Scan, score and store one audit; the store sees it begin, grow provider by provider, and complete."""
    from auditor.scoring import score_audit
    from auditor.store import Store

    with Store.open(settings.db) as store, _progress(len(providers), quiet) as tick:
        audit_ref: dict[str, str] = {}

        def on_start(audit: Audit) -> None:
            audit_ref["id"] = audit.audit_id
            store.begin_audit(audit)

        def on_provider(result: ProviderResult) -> None:
            store.add_provider(audit_ref["id"], result)
            tick(result)

        audit = asyncio.run(run_scan(providers, settings, on_start=on_start, on_provider=on_provider))
        audit = score_audit(audit, settings.profile)
        for p in audit.providers:
            if p.score is not None:
                store.set_score(audit.audit_id, p.id, p.score)
        store.finish_audit(audit.audit_id, audit.finished_at or "")
    return audit


def run(request: ScanRequest) -> int:
    s = request.settings
    audit = execute(s, request.providers, quiet=request.cron)
    json_out = request.json_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.json"
    html_out = request.html_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.html"
    written = write_outputs(audit, json_out, html_out, s.lang)
    if not request.cron:
        print(f"audit {audit.audit_id}: {len(audit.providers)} providers, stored in {s.db}")
        for path in written:
            print(f"wrote {path}")
    return EXIT_OK


def run_demo(*, reports_dir: Path | None, db: Path | None, lang: str | None) -> None:
    """The built-in lab, the whole catalog, reports/demo-<date>.{json,html}."""
    from auditor.lab import Lab

    catalog_path = Path("providers.yaml")
    if not catalog_path.exists():
        raise ConfigError("providers.yaml not found: run `auditor demo` from the project directory")
    providers = list(load_catalog(catalog_path).providers)
    base = load_settings({k: v for k, v in {"reports_dir": reports_dir, "lang": lang}.items() if v})
    with Lab() as lab:
        settings = load_settings({**lab.overrides(), "reports_dir": base.reports_dir, "lang": base.lang,
                                  "db": db or base.reports_dir / "demo.sqlite"})
        started = dt.datetime.now()
        audit = execute(settings, providers, quiet=False)
    stem = settings.reports_dir / f"demo-{dt.date.today().isoformat()}"
    written = write_outputs(audit, stem.with_suffix(".json"), stem.with_suffix(".html"), settings.lang)
    elapsed = (dt.datetime.now() - started).total_seconds()
    print(f"demo audit {audit.audit_id} of {len(providers)} providers against the lab in {elapsed:.1f}s "
          f"(a simulation: vantage.lab = true); stored in {settings.db}")
    for path in written:
        print(f"wrote {path}")
