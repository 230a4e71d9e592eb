"""`auditor report`: a stored audit rendered for a client, re-scored under any profile without scanning.

Registered on the main app by `register(app)` (one line in cli.py). The database, reports directory and
language come from `load_settings` (flags, AUDITOR_* variables, config file); the profile defaults to the
audit's own, so a report of an old audit says what that audit said unless asked otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli_history import existing_db, open_existing
from auditor.console import fail
from auditor.errors import AuditorError, ConfigError
from auditor.findings import Audit
from auditor.report.context import MAX_LOGO_BYTES, Branding, logo_data_uri
from auditor.report.export import FORMATS, check_format, check_lang, default_path, write_with_annex
from auditor.settings import load_settings, report_file_settings
from auditor.store import Store

if TYPE_CHECKING:
    from auditor.scoring.models import Profile

# Plain strings, checked by hand: typer's own choice errors print a multi-line box, the CLI promises one line.
FormatOpt = Annotated[str, typer.Option("--format", envvar="AUDITOR_FORMAT",
                                        help=f"Output format: {', '.join(FORMATS)}.")]
TEXT_LIMIT = 200  # a firm or client name; longer is a mistake (and would overflow the cover)
LIST_LIMIT = 30  # recipients, signature lines



def branding_from(flags: dict[str, Any], config: Path | None) -> Branding:
    """Branding from the flags given, else the config file's `[report]` table."""
    table = report_file_settings(config)
    merged = {**table, **{k: v for k, v in flags.items() if v not in (None, [], ())}}
    for key in ("author", "version", "controller"):
        text = merged.get(key)
        if text is not None and len(text) > TEXT_LIMIT:
            raise ConfigError(f"{key} is {len(text)} characters long; the limit is {TEXT_LIMIT}")
    lists = {k: tuple(str(v)[:TEXT_LIMIT] for v in merged.get(k) or ())[:LIST_LIMIT]
             for k in ("distribution", "signature")}
    logo = merged.get("logo")
    base = _branding(merged.get("firm"), merged.get("client"), Path(logo) if logo else None)
    return base.model_copy(update={"author": merged.get("author") or None, "version": merged.get("version") or None,
                                   "controller": merged.get("controller") or None, **lists})


def _branding(firm: str | None, client: str | None, logo: Path | None) -> Branding:
    for flag, text in (("--firm", firm), ("--client", client)):
        if text is not None and len(text) > TEXT_LIMIT:
            raise ConfigError(f"{flag} is {len(text)} characters long; the limit is {TEXT_LIMIT}")
    data: bytes | None = None
    if logo is not None:
        try:
            size = logo.stat().st_size
            if size > MAX_LOGO_BYTES:  # before reading: a mistaken path to a video should not fill memory
                raise ConfigError(f"{logo}: logo is {size} bytes; the limit is {MAX_LOGO_BYTES}")
            data = logo.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{logo}: cannot read the logo ({exc.strerror})") from exc
        try:
            logo_data_uri(data)
        except ConfigError as exc:
            raise ConfigError(f"{logo}: {exc}") from exc
    return Branding(firm=firm or None, client=client or None, logo=data)


def _scored(store: Store, audit_id: str, name: str, from_file: Profile | None) -> Audit:
    """The audit with scores under profile `name`: the stored ones when the store has them for every
    provider, else computed now from the stored findings (no scan). A profile read from a file is always
    applied: its id may shadow a built-in profile's stored scores."""
    from auditor.scoring import load_profile, rank_within_kinds, score_audit

    audit = store.load_audit(audit_id, profile=name)
    if from_file is None and all(p.score for p in audit.providers):
        # scores stored before ranks were kept: rank them within their kind, scores unchanged
        return audit.model_copy(update={"providers": rank_within_kinds(audit.providers)})
    return score_audit(audit, from_file or load_profile(name))


def load_for_report(db: Path, audit_id: str | None, profile: str | None) -> tuple[Audit, Audit | None]:
    """(the audit, the previous complete one or None), both scored under the same profile (`profile`, else
    the audit's own), so that score changes in the report are the providers' doing, not the scoring's."""
    from auditor.scoring import load_profile

    from_file: Profile | None = None
    if profile is not None:
        loaded = load_profile(profile)  # an unknown name or a bad file: ConfigError, exit 2
        from_file = loaded if loaded.id != profile else None
    with open_existing(db) as store:
        full_id = store.resolve_id(audit_id)
        name = from_file.id if from_file else profile or store.load_audit(full_id).profile
        audit = _scored(store, full_id, name, from_file)
        previous_id = store.previous_complete(full_id)
        previous = _scored(store, previous_id, name, from_file) if previous_id else None
    return audit, previous


def seal_text(db: Path, audit_id: str) -> str | None:
    """The audit's seal for the cover (None: not sealed, e.g. stored before sealing existed)."""
    from auditor.evidence.seal import seal_line

    with open_existing(db) as store:
        return seal_line(store, audit_id)


def report(
    db: Annotated[Path | None, typer.Option(help="SQLite database of audits (default: AUDITOR_DB, the config "
                                                 "file, else ~/.local/share/auditor/audits.sqlite).")] = None,
    audit: Annotated[str | None, typer.Option(help="Audit id or unique prefix (default: the latest complete).")]
    = None,
    profile: Annotated[str | None, typer.Option(envvar="AUDITOR_PROFILE",
                                                help="Re-score under this profile (rgpd, sante, or a YAML "
                                                     "file); default: the audit's own.")] = None,
    lang: Annotated[str | None, typer.Option(help="Report language: fr or en.")] = None,
    fmt: FormatOpt = "html",
    output: Annotated[Path | None, typer.Option(help="Write here (default: reports/<audit-id>-<profile>-"
                                                     "<lang>.<ext>).")] = None,
    firm: Annotated[str | None, typer.Option(help="Who the report is from (the DPO's firm), on the cover "
                                                   "(\\[report] firm).")] = None,
    client: Annotated[str | None, typer.Option(help="Who the report is for, on the cover (\\[report] client).")]
    = None,
    logo: Annotated[Path | None, typer.Option(help="PNG or JPEG logo for the cover, at most 512 KiB (\\[report] "
                                                   "logo).")] = None,
    author: Annotated[str | None, typer.Option(help="The report's author, on the cover and the sign-off page "
                                                    "(\\[report] author).")] = None,
    report_version: Annotated[str | None, typer.Option("--report-version", help="The report's own version, e.g. "
                                                       "1.0 (\\[report] version).")] = None,
    controller: Annotated[str | None, typer.Option(help="Who authorised the distribution: the controller, not the "
                                                        "DPO (\\[report] controller).")] = None,
    distribution: Annotated[list[str] | None, typer.Option(help="A recipient the controller authorised; repeat "
                                                                "for each (\\[report] distribution).")] = None,
    annex: Annotated[bool, typer.Option("--annex/--no-annex", help="Also write the technical annex (raw evidence) "
                                        "next to an html, pdf or md report: <name>-annex.<ext>.")] = True,
    reports_dir: Annotated[Path | None, typer.Option(help="Where reports go by default (reports/).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file (default: ~/.config/auditor/config.toml).")]
    = None,
) -> None:
    """Render a stored audit (HTML, PDF, Markdown, CSV or JSON) with the changes since the previous audit.

    An html, pdf or md report comes with its technical annex (<name>-annex.<ext>); one path per line is printed,
    the report first. Branding and distribution come from the flags, else the config file's \\[report] table.
    """
    try:
        chosen = check_format(fmt)
        settings = load_settings({k: v for k, v in {"db": db, "lang": lang, "reports_dir": reports_dir}.items()
                                  if v is not None}, config=config)
        language = check_lang(settings.lang)
        branding = branding_from({"firm": firm, "client": client, "logo": logo, "author": author,
                                  "version": report_version, "controller": controller,
                                  "distribution": distribution}, config)
        db_path = existing_db(settings)  # once: it says on stderr when it falls back to the demo's database
        loaded, previous = load_for_report(db_path, audit, profile)
        branding = branding.model_copy(update={"seal": seal_text(db_path, loaded.audit_id)})
        out = output or default_path(settings.reports_dir, loaded, language, chosen)
        written = write_with_annex(loaded, chosen, out, language, branding=branding, previous=previous, annex=annex)
    except AuditorError as exc:
        fail(exc)
    for path in written:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
