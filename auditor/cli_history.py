"""`auditor history`, `auditor diff`, `auditor prune`: reading and trimming the audit database.

Registered on the main app by `register(app)` (one line in cli.py). Settings (db, lang) come from
`auditor.settings.load_settings`: flags, then AUDITOR_* variables, then the config file. Read commands never
create a database: a mistyped `--db` is an error (exit 2), not a new empty file.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.console import fail, warn
from auditor.errors import AuditorError, ConfigError
from auditor.settings import DEMO_DB_NAME, Settings, default_db, load_settings
from auditor.store import AuditSummary, Store

Db = Annotated[Path | None, typer.Option(help="SQLite database of audits (default: AUDITOR_DB, the config "
                                              "file, else ~/.local/share/auditor/audits.sqlite).")]
Config = Annotated[Path | None, typer.Option(help="TOML config file (default: ~/.config/auditor/config.toml).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ALL = 1_000_000  # list_audits takes a limit; "every audit" in practice



def _settings(config: Path | None, **flags: Any) -> Settings:
    return load_settings({k: v for k, v in flags.items() if v is not None}, config=config)


def existing_db(settings: Settings) -> Path:
    """The database to read: `settings.db`, except that while the default one does not exist yet and
    `auditor demo` left its own (reports/demo.sqlite), the demo's is read, and stderr says so."""
    path = settings.db.expanduser()
    demo = settings.reports_dir / DEMO_DB_NAME
    if settings.db == default_db() and not path.exists() and demo.is_file():
        warn(f"no audit database at {path} yet: reading the demo's, {demo} (pass --db FILE to choose)")
        return demo
    return path


def open_existing(path: Path) -> Store:
    """Open a database that must already exist (Store.open would create one at a mistyped path)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{path}: no audit database here; run `auditor scan` first or pass --db FILE")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not an audit database; pass --db FILE")
    return Store.open(path)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _table(header: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    ]


# -- history ----------------------------------------------------------------------------------------


def _summary_row(a: AuditSummary) -> list[str]:
    return [a.audit_id, a.started_at, a.finished_at or "-", "complete" if a.complete else "incomplete",
            "yes" if a.lab else "no", str(a.providers), a.profile]


def history(
    db: Db = None,
    provider: Annotated[str | None, typer.Option(help="Show this provider's score and grade over time.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many audits, newest first.")] = 50,
    as_json: AsJson = False,
    config: Config = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check the signed chain of audits: exit 1 when an audit "
                                                         "was altered or removed (docs/evidence.md).")] = False,
    public_key: Annotated[Path | None, typer.Option(help="With --verify: the key every link must be signed by "
                                                          "(PEM; default: whichever key signed it).")] = None,
) -> None:
    """List the stored audits, newest first; with --provider, that provider's score over time."""
    if verify:
        _verify_history(db, config, public_key, as_json)
        return
    try:
        settings = _settings(config, db=db)
        db_path = existing_db(settings)
        with open_existing(db_path) as store:
            if provider is None:
                audits = store.list_audits(limit)
                scores = None
            else:
                scores = store.history(provider)
                if not scores:
                    raise ConfigError(f"no complete audit in {db_path} includes provider {provider!r}; "
                                      "`auditor history` lists the audits")
                scores = scores[-limit:]
    except AuditorError as exc:
        fail(exc)
    if scores is not None:
        if as_json:
            _print_json({"db": str(db_path), "provider": provider, "scores": [
                {"audit_id": r.audit_id, "started_at": r.started_at, "value": r.value, "grade": r.grade}
                for r in scores]})
            return
        typer.echo(f"{provider}: score under each audit's own profile, oldest first (complete audits only)")
        rows = [[r.started_at, r.audit_id, "-" if r.value is None else f"{r.value:.1f}", r.grade or "-"]
                for r in scores]
        for line in _table(["STARTED", "AUDIT", "SCORE", "GRADE"], rows, right=frozenset({2})):
            typer.echo(line)
        return
    if as_json:
        _print_json({"db": str(db_path), "audits": [a.model_dump(mode="json") for a in audits]})
        return
    if not audits:
        typer.echo(f"{db_path}: no audits yet")
        return
    header = ["AUDIT", "STARTED", "FINISHED", "STATE", "LAB", "PROVIDERS", "PROFILE"]
    for line in _table(header, [_summary_row(a) for a in audits], right=frozenset({5})):
        typer.echo(line)


def _verify_history(db: Path | None, config: Path | None, public_key: Path | None, as_json: bool) -> None:
    from auditor.evidence.keys import fingerprint, load_public
    from auditor.evidence.seal import verify_history

    try:
        settings = _settings(config, db=db)
        db_path = existing_db(settings)
        pinned = load_public(public_key) if public_key is not None else None
        with open_existing(db_path) as store:
            check = verify_history(store, pinned)
    except AuditorError as exc:
        fail(exc)
    if as_json:
        _print_json({"db": str(db_path), "intact": check.intact, "links": check.links, "sealed": check.sealed,
                     "pruned": check.pruned, "unsealed_before_chain": check.unsealed_old,
                     "incomplete": check.incomplete, "keys": sorted(fingerprint(k) for k in check.keys),
                     "problems": check.problems})
    else:
        keys = ", ".join(sorted(fingerprint(k) for k in check.keys)) or "none yet"
        typer.echo(f"{db_path}: {check.links} links; {check.sealed} audits match their seal, {check.pruned} pruned "
                   f"(recorded), {check.unsealed_old} stored before sealing began, {check.incomplete} incomplete "
                   f"(never sealed); signed by {keys}")
        typer.echo("history intact" if check.intact else f"history NOT intact: {len(check.problems)} problem(s)")
    if not check.intact:
        for problem in check.problems:
            warn(problem)
        raise typer.Exit(1)


# -- diff -------------------------------------------------------------------------------------------


def _latest_like(store: Store, audit_id: str) -> str:
    """The latest complete audit with the same lab flag as `audit_id` (the lab and the Internet are two
    different worlds: comparing them reports every difference between the worlds)."""
    audits = store.list_audits(ALL)
    lab = next((a.lab for a in audits if a.audit_id == audit_id), False)
    return next((a.audit_id for a in audits if a.complete and a.lab == lab), audit_id)


def _pair(store: Store, a: str | None, b: str | None) -> tuple[str, str]:
    if a is not None and b is not None:
        return store.resolve_id(a), store.resolve_id(b)
    if a is not None:
        before = store.resolve_id(a)
        return before, _latest_like(store, before)
    after = store.resolve_id(None)
    previous = store.previous_complete(after)
    if previous is None:
        raise ConfigError(f"{store.path}: only one complete audit ({after}); nothing to compare yet")
    return previous, after


def diff(
    a: Annotated[str | None, typer.Argument(help="The older audit (id or unique prefix).", show_default=False)] = None,
    b: Annotated[str | None, typer.Argument(help="The newer audit (id or unique prefix).", show_default=False)] = None,
    db: Db = None,
    as_json: AsJson = False,
    lang: Annotated[str | None, typer.Option(help="Language of the text: fr or en.")] = None,
    config: Config = None,
) -> None:
    """What changed between two audits: regressions, improvements, other changes.

    No id: the last two complete audits (of the same kind, lab or real). One id: from that audit to the
    latest complete one. Exit 0 whatever changed (use `scan --cron` for an exit code on regressions).
    """
    from auditor.diff import diff_audits, render_text

    try:
        settings = _settings(config, db=db, lang=lang)
        db_path = existing_db(settings)
        with open_existing(db_path) as store:
            before_id, after_id = _pair(store, a, b)
            result = diff_audits(store.load_audit(before_id), store.load_audit(after_id))
    except AuditorError as exc:
        fail(exc)
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        typer.echo(render_text(result, settings.lang), nl=False)


# -- prune ------------------------------------------------------------------------------------------


def prune(
    keep: Annotated[int | None, typer.Option(min=0, help="Keep the N most recent complete audits.")] = None,
    older_than: Annotated[int | None, typer.Option(min=0, metavar="DAYS",
                                                   help="Delete audits started more than DAYS days ago.")] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Delete old audits (and evidence no other audit uses); print what was deleted.

    The deletion is recorded, signed, in the history chain, so `history --verify` tells pruning from tampering.

    The latest complete audit (and the latest complete lab audit) is never deleted: it is what the next diff
    compares against. With both options, an audit survives if either keeps it.
    """
    from auditor.evidence.seal import record_prune

    if keep is None and older_than is None:
        warn("prune needs --keep N or --older-than DAYS (or both: an audit survives if either keeps it)")
        raise typer.Exit(2)
    try:
        settings = _settings(config, db=db)
        db_path = existing_db(settings)
        with open_existing(db_path) as store:
            started = {s.audit_id: s for s in store.list_audits(ALL)}
            deleted = store.prune(keep=keep, older_than=timedelta(days=older_than) if older_than is not None else None,
                                  record=record_prune(settings))
    except AuditorError as exc:
        fail(exc)
    for audit_id in deleted:
        s = started.get(audit_id)
        what = f" (started {s.started_at}, {'complete' if s.complete else 'incomplete'})" if s else ""
        typer.echo(f"deleted audit {audit_id}{what}")
    typer.echo(f"{db_path}: {len(deleted)} audit(s) deleted, {len(started) - len(deleted)} kept")


def register(app: typer.Typer) -> None:
    """Add history, diff and prune to the main app."""
    app.command("history")(history)
    app.command("diff")(diff)
    app.command("prune")(prune)
