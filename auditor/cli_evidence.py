"""`auditor evidence export|verify|public-key`: the signed evidence bundle (docs/evidence.md).

Registered on the main app by `register(app)` (one line in cli.py). `verify` needs neither the database nor
the network: a regulator runs it on the zip alone. Exit codes: 0 intact, 1 a check failed (named), 2 the file
is not a bundle or an option is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.cli_history import AsJson, Config, Db, existing_db, open_existing
from auditor.console import fail, warn
from auditor.errors import EXIT_USAGE, AuditorError, ConfigError
from auditor.settings import load_settings

evidence_app = typer.Typer(help="Evidence a regulator accepts: signed, time-stamped bundles of an audit.",
                           no_args_is_help=True, pretty_exceptions_show_locals=False)
PublicKey = Annotated[Path | None, typer.Option(
    help="The signer's public key (PEM) to check against, e.g. from `auditor evidence public-key`; default: the "
         "key inside the bundle (then compare its fingerprint with the report's).")]


@evidence_app.command("export")
def export_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="The zip to write.")],
    audit: Annotated[str | None, typer.Option(help="Audit id or unique prefix (default: the latest complete).")]
    = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Write an audit's evidence bundle: the audit, every piece of evidence as observed, a signed manifest."""
    from auditor.evidence.bundle import export

    try:
        settings = load_settings({k: v for k, v in {"db": db}.items() if v is not None}, config=config)
        with open_existing(existing_db(settings)) as store:
            done = export(store, audit, output, settings)
    except AuditorError as exc:
        fail(exc)
    typer.echo(f"wrote {done.path}: audit {done.audit_id}, {done.items} items, manifest sha256 "
               f"{done.manifest_sha256}")
    typer.echo(f"signed by {done.fingerprint}" + (" and time-stamped" if done.timestamped else ""))


def _verdict_json(path: Path, verdict: Any) -> dict[str, Any]:
    stamp = verdict.stamp
    return {"bundle": str(path), "intact": verdict.intact, "audit_id": verdict.audit_id, "items": verdict.items,
            "lab": verdict.lab, "manifest_sha256": verdict.manifest_sha256, "fingerprint": verdict.fingerprint,
            "key": verdict.key_source, "sealed_at": verdict.sealed_at, "previous": verdict.previous,
            "timestamp": {"time": stamp.time, "tsa": stamp.tsa} if stamp else None,
            "problems": verdict.problems, "notes": verdict.notes}


@evidence_app.command("verify")
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="The bundle (zip) to check.", show_default=False)],
    public_key: PublicKey = None,
    tsa_ca: Annotated[Path | None, typer.Option(
        help="PEM roots the time-stamp must chain to (without it, only its imprint is checked).")] = None,
    as_json: AsJson = False,
) -> None:
    """Check a bundle offline: every item's SHA-256, nothing missing or extra, the signature, the time-stamp.

    Exit 0 intact; 1 a check failed (each problem on its own line); 2 not a bundle, or a bad option.
    """
    from auditor.evidence.keys import load_public
    from auditor.evidence.timestamp import TimestampError, roots_from
    from auditor.evidence.verify import NotABundle, verify_bundle

    try:
        pinned = load_public(public_key) if public_key is not None else None
        roots = roots_from(tsa_ca) if tsa_ca is not None else None
        verdict = verify_bundle(bundle, pinned, roots)
    except (AuditorError, TimestampError) as exc:
        fail(exc if isinstance(exc, AuditorError) else ConfigError(str(exc)))
    except NotABundle as exc:
        warn(f"{bundle}: not an evidence bundle ({exc})")
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        typer.echo(json.dumps(_verdict_json(bundle, verdict), indent=2, ensure_ascii=False))
    elif verdict.intact:
        key = "the key given" if verdict.key_source == "given" else "the key inside the bundle"
        typer.echo(f"{bundle}: intact — audit {verdict.audit_id}{' (lab simulation)' if verdict.lab else ''}, "
                   f"{verdict.items} items, sealed {verdict.sealed_at}")
        typer.echo(f"signature valid with {key}: {verdict.fingerprint}")
        if verdict.stamp:
            typer.echo(f"time-stamped {verdict.stamp.time} by {verdict.stamp.tsa}")
    for note in verdict.notes:
        if not as_json:
            typer.echo(f"note: {note}")
    if not verdict.intact:
        for problem in verdict.problems:
            warn(f"{bundle}: {problem}")
        raise typer.Exit(1)


@evidence_app.command("public-key")
def public_key_cmd(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the PEM here.")] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Print the public key that signs this database's audits (created on first use) and its fingerprint."""
    from auditor.evidence.keys import Signer, fingerprint, key_path, public_pem
    from auditor.files import write_private

    try:
        settings = load_settings({k: v for k, v in {"db": db}.items() if v is not None}, config=config)
        signer = Signer.for_settings(settings)
        pem = public_pem(signer.public_hex)
        if output is not None:
            write_private(output, pem)
    except AuditorError as exc:
        fail(exc)
    typer.echo(pem.decode(), nl=False)
    typer.echo(f"fingerprint {fingerprint(signer.public_hex)} (private key: {key_path(settings)})")


def register_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    uses: Annotated[Path, typer.Option(help="The DPO's register file: providers used, purposes, data, retention "
                                            "(see examples/register.yaml).")] = Path("register.yaml"),
    audit: Annotated[str | None, typer.Option(help="Audit id or unique prefix (default: the latest complete).")]
    = None,
    lang: Annotated[str | None, typer.Option(help="Language: fr or en.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="xlsx, ods, md or html.")] = "xlsx",
    providers: Annotated[Path | None, typer.Option(help="The catalog (default: ./providers.yaml, else the "
                                                        "packaged one).")] = None,
    db: Db = None,
    config: Config = None,
) -> None:
    """Draft the Art. 30 register (and a transfer impact assessment per transfer) from an audit."""
    from auditor.catalog import load_catalog
    from auditor.cli_report import seal_text
    from auditor.register.entries import build
    from auditor.register.uses import load_uses
    from auditor.register.write import check_format, write
    from auditor.report.export import check_lang
    from auditor.settings import default_catalog

    try:
        chosen = check_format(fmt)
        settings = load_settings({k: v for k, v in {"db": db, "lang": lang}.items() if v is not None}, config=config)
        language = check_lang(settings.lang)
        register_file, lines = load_uses(uses)
        catalog = load_catalog(providers or default_catalog())
        db_path = existing_db(settings)
        with open_existing(db_path) as store:
            loaded = store.load_audit(audit)
        doc = build(loaded, catalog, register_file, lines, str(uses), language, seal_text(db_path, loaded.audit_id))
        write(doc, chosen, output)
    except AuditorError as exc:
        fail(exc)
    worksheets = len(doc.sheets) - 2
    typer.echo(f"wrote {output}: {len(register_file.uses)} processing activities from audit {loaded.audit_id}, "
               f"{worksheets} transfer impact assessment worksheet(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")
    app.command("register")(register_cmd)
