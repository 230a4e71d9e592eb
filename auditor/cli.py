"""The command line: wires catalog, settings, scan, scoring, store and reports; maps outcomes to exit codes.

Exit codes (documented in the README): 0 fine, 1 regression or failing result under --cron, 2 usage or
configuration error, 3 the scan could not run (e.g. no network).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor import __version__, cli_history, cli_report
from auditor.errors import EXIT_USAGE, AuditorError

app = typer.Typer(help="Audit messaging providers (mail, chat, MSSanté) for GDPR compliance, from the outside.",
                  no_args_is_help=True, add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
lab_app = typer.Typer(help="The built-in lab: a simulated Internet on loopback for tests and the demo.",
                      no_args_is_help=True)
catalog_app = typer.Typer(help="The provider catalog (providers.yaml).", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
app.add_typer(catalog_app, name="catalog")

# Options shared by the commands that scan; each also reads AUDITOR_<NAME> (see settings.py).
Resolver = Annotated[str | None, typer.Option(help="DNS resolver IP[:PORT] (default: the system's).")]
TrustAnchor = Annotated[Path | None, typer.Option(help="DNSSEC trust anchor file (DS/DNSKEY, zone-file format).")]
CaBundle = Annotated[Path | None, typer.Option(help="PEM CA bundle for certificate trust (default: certifi).")]
PkiRoots = Annotated[str | None, typer.Option(help="Roots of a sector PKI instead of the shipped ones, e.g. "
                                                    "igc-sante=roots.pem (see auditor/data/trust_spaces.yaml).")]
GeoipDb = Annotated[Path | None, typer.Option(help="MaxMind-format GeoIP database (GeoLite2, DB-IP lite).")]
Db = Annotated[Path | None, typer.Option(help="SQLite database of audits.")]
Profile = Annotated[str | None, typer.Option(help="Scoring profile: rgpd, sante, or a YAML file.")]
Config = Annotated[Path | None, typer.Option(help="TOML config file (default: ~/.config/auditor/config.toml).")]
Timeout = Annotated[float | None, typer.Option(help="Seconds for one network operation.")]
Concurrency = Annotated[int | None, typer.Option(help="Concurrent network operations in all.")]
PortMap = Annotated[str | None, typer.Option(help="Port map for the lab, e.g. 25=2525,443=4443.")]
ReportsDir = Annotated[Path | None, typer.Option(help="Where reports are written (default: reports/).")]
Lang = Annotated[str | None, typer.Option(help="Report language: fr or en.")]


def _fail(exc: AuditorError) -> None:
    typer.echo(f"auditor: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _settings_flags(**flags: Any) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


@app.command()
def scan(
    providers: Annotated[Path, typer.Option(envvar="AUDITOR_PROVIDERS", help="The catalog.")] = Path("providers.yaml"),
    only: Annotated[list[str] | None, typer.Option(help="Audit only this provider id (repeatable).")] = None,
    resolver: Resolver = None, trust_anchor: TrustAnchor = None, ca_bundle: CaBundle = None,
    pki_roots: PkiRoots = None, geoip_db: GeoipDb = None, db: Db = None, profile: Profile = None, config: Config = None,
    timeout: Timeout = None, concurrency: Concurrency = None, port_map: PortMap = None,
    reports_dir: ReportsDir = None, lang: Lang = None,
    json_out: Annotated[Path | None, typer.Option("--json", envvar="AUDITOR_JSON", help="Write the JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", envvar="AUDITOR_HTML", help="Write the HTML here.")] = None,
    cron: Annotated[bool, typer.Option(help="Quiet unless something changed; exit 1 on a regression.")] = False,
    notify_webhook: Annotated[str | None, typer.Option(
        help="Under --cron, POST the changes here on a regression (or AUDITOR_NOTIFY_WEBHOOK).")] = None,
    notify_email: Annotated[str | None, typer.Option(
        help="Under --cron, mail the changes here on a regression; server from AUDITOR_SMTP_HOST.")] = None,
    lab: Annotated[bool | None, typer.Option("--lab", help="Mark the audit as a simulation against the lab "
                                                      "(part of the flags `auditor lab serve` prints).")] = None,
) -> None:
    """Audit the providers of the catalog from this machine (needs the Internet, or the lab's flags)."""
    from auditor.pipeline import ScanRequest, run

    try:
        request = ScanRequest.build(
            catalog=providers, only=only or [], config=config, json_out=json_out, html_out=html_out, cron=cron,
            notify_flags={"webhook": notify_webhook, "email": notify_email},
            flags=_settings_flags(resolver=resolver, trust_anchor=trust_anchor, ca_bundle=ca_bundle,
                                  pki_roots=pki_roots, geoip_db=geoip_db, db=db, profile=profile, timeout=timeout,
                                  concurrency=concurrency, port_map=port_map, reports_dir=reports_dir, lang=lang,
                                  lab=lab))
        code = run(request)
    except AuditorError as exc:
        _fail(exc)
    raise typer.Exit(code)


@app.command()
def demo(
    reports_dir: ReportsDir = None,
    db: Db = None,
    lang: Lang = None,
) -> None:
    """Start the lab, audit the whole catalog against it, write reports/demo-<date>.json and .html."""
    from auditor.pipeline import run_demo

    try:
        run_demo(reports_dir=reports_dir, db=db, lang=lang)
    except AuditorError as exc:
        _fail(exc)


@lab_app.command("serve")
def lab_serve(
    net: Annotated[int, typer.Option(help="Second octet of the lab's 127.N.x.y addresses.")] = 77,
    dns_port: Annotated[int, typer.Option(help="Port of the lab's DNS server.")] = 5353,
) -> None:
    """Run the lab in the foreground and print the flags a scan needs to use it."""
    from auditor.lab import Lab, serve_forever

    serve_forever(Lab(net=net, dns_port=dns_port))


@catalog_app.command("check")
def catalog_check(
    providers: Annotated[Path, typer.Argument(help="The catalog file.")] = Path("providers.yaml"),
) -> None:
    """Validate a catalog and list its providers."""
    from auditor.catalog import load_catalog

    try:
        catalog = load_catalog(providers)
    except AuditorError as exc:
        _fail(exc)
    for p in catalog.providers:
        typer.echo(f"{p.id:16} {p.kind:5} {p.name} ({len(p.mail_domains)} domains, {len(p.endpoints)} endpoints, "
                   f"{len(p.claims)} claims)")
    typer.echo(f"{providers}: {len(catalog.providers)} providers, valid")




cli_report.register(app)  # report
cli_history.register(app)  # history, diff, prune


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    pass


def main() -> None:
    # sslyze loads its bundled trust stores, one of which holds a certificate newer cryptography frowns upon.
    warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("auditor: interrupted", err=True)
        sys.exit(130)
    except AuditorError as exc:  # raised outside a command's own handler
        typer.echo(f"auditor: {exc}", err=True)
        sys.exit(exc.exit_code or EXIT_USAGE)
