"""The command line: wires catalog, settings, scan, scoring, store and reports; maps outcomes to exit codes.

Exit codes (documented in the README): 0 fine, 1 regression or failing result under --cron, 2 usage or
configuration error, 3 the scan could not run (e.g. no network).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor import __version__, cli_evidence, cli_history, cli_report
from auditor.campaign import RESUME_LATEST
from auditor.console import fail, warn
from auditor.distributed.cli import Attempts, BrokerCa, BrokerDeadline, BrokerUrl, KeyFile, Vantage
from auditor.errors import EXIT_USAGE, AuditorError, ConfigError

# Tracebacks never show local variables: they hold settings, webhook URLs and passwords (typer's default
# has changed between versions; say it here).
NO_LOCALS: dict[str, Any] = {"pretty_exceptions_show_locals": False}
app = typer.Typer(help="Audit messaging providers (mail, chat, MSSanté) for GDPR compliance, from the outside.",
                  no_args_is_help=True, add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
                  **NO_LOCALS)
lab_app = typer.Typer(help="The built-in lab: a simulated Internet on loopback for tests and the demo.",
                      no_args_is_help=True, **NO_LOCALS)
catalog_app = typer.Typer(help="The provider catalog (providers.yaml).", no_args_is_help=True, **NO_LOCALS)
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
ReferenceDomains = Annotated[str | None, typer.Option(
    help="Mail domains whose MX (port 25) and web (IPv6) hosts characterise this vantage point, comma-separated.")]
ResolverCandidates = Annotated[str | None, typer.Option(
    help="Resolvers to suggest when --resolver strips DNSSEC records (only '. DNSKEY' is asked), comma-separated.")]
VantageName = Annotated[str | None, typer.Option(help="A name for this vantage point, e.g. eu-paris.")]
SmtpUntestableOk = Annotated[bool | None, typer.Option(
    "--smtp-untestable-ok", help="Outbound port 25 blocked here: audit the rest and mark the SMTP checks "
                                 "'not testable from this vantage point' (default: stop, exit 3).")]


def _settings_flags(**flags: Any) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


@app.command()
def scan(
    providers: Annotated[Path | None, typer.Option(
        envvar="AUDITOR_PROVIDERS", help="The catalog (default: ./providers.yaml, else the one shipped with auditor).",
        show_default=False)] = None,
    only: Annotated[list[str] | None, typer.Option(help="Audit only this provider id (repeatable).")] = None,
    domains: Annotated[Path | None, typer.Option(
        help="A bulk campaign: audit the mail domains of FILE (one per line, # comments) for transport security "
             "instead of the catalog's providers.", show_default=False)] = None,
    resume: Annotated[str | None, typer.Option(
        metavar="[AUDIT_ID]",
        help="Complete an interrupted audit instead of starting one: AUDIT_ID, or without it the latest "
             "incomplete audit of the same domains (or providers). Finished providers are not scanned again.",
        show_default=False)] = None,
    units_in_flight: Annotated[int | None, typer.Option(
        help="Providers (domains) audited at once; the others wait without their deadline running.")] = None,
    resolver: Resolver = None, trust_anchor: TrustAnchor = None, ca_bundle: CaBundle = None,
    pki_roots: PkiRoots = None, geoip_db: GeoipDb = None, db: Db = None, profile: Profile = None, config: Config = None,
    timeout: Timeout = None, concurrency: Concurrency = None, port_map: PortMap = None,
    reports_dir: ReportsDir = None, lang: Lang = None,
    json_out: Annotated[Path | None, typer.Option("--json", envvar="AUDITOR_JSON", help="Write the JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", envvar="AUDITOR_HTML", help="Write the HTML here.")] = None,
    cron: Annotated[bool, typer.Option(help="Quiet unless something changed; exit 1 on a regression.")] = False,
    notify_webhook: Annotated[str | None, typer.Option(
        help="Under --cron, POST the changes here on a regression. Other users see flags in `ps`: prefer "
             "AUDITOR_NOTIFY_WEBHOOK or AUDITOR_NOTIFY_WEBHOOK_FILE (a 0600 file).")] = None,
    notify_email: Annotated[str | None, typer.Option(
        help="Under --cron, mail the changes here on a regression; server from AUDITOR_SMTP_HOST.")] = None,
    lab: Annotated[bool | None, typer.Option("--lab", help="Mark the audit as a simulation against the lab "
                                                      "(part of the flags `auditor lab serve` prints).")] = None,
    smtp_untestable_ok: SmtpUntestableOk = None, reference_domains: ReferenceDomains = None,
    resolver_candidates: ResolverCandidates = None, vantage_name: VantageName = None,
    broker: BrokerUrl = None, vantage: Vantage = None, key_file: KeyFile = None, broker_ca: BrokerCa = None,
    attempts: Attempts = 3, broker_deadline: BrokerDeadline = 86400.0,
) -> None:
    """Audit the providers of the catalog from this machine (needs the Internet, or the lab's flags); with
    --broker, from the workers of each --vantage (docs/distributed.md)."""
    from auditor.distributed.cli import campaign_options
    from auditor.pipeline import ScanRequest, run
    from auditor.settings import default_catalog

    if notify_webhook:
        warn("--notify-webhook shows the URL, often a secret, to every user of this machine (`ps`); "
             "set AUDITOR_NOTIFY_WEBHOOK or AUDITOR_NOTIFY_WEBHOOK_FILE (a file of mode 0600) instead")
    try:
        request = ScanRequest.build(
            catalog=providers or default_catalog(), only=only or [], config=config, json_out=json_out,
            html_out=html_out, cron=cron, domains=domains, resume=resume,
            notify_flags={"webhook": notify_webhook, "email": notify_email},
            flags=_settings_flags(resolver=resolver, trust_anchor=trust_anchor, ca_bundle=ca_bundle,
                                  pki_roots=pki_roots, geoip_db=geoip_db, db=db, profile=profile, timeout=timeout,
                                  concurrency=concurrency, units_in_flight=units_in_flight,
                                  port_map=port_map, reports_dir=reports_dir, lang=lang,
                                  lab=lab, smtp_untestable_ok=smtp_untestable_ok,
                                  reference_domains=reference_domains, resolver_candidates=resolver_candidates,
                                  vantage_name=vantage_name))
        if broker:
            request = request.through(campaign_options(
                url=broker, vantages=vantage or [], key_file=key_file, ca_file=broker_ca, attempts=attempts,
                deadline=broker_deadline, settings=request.settings, quiet=cron))
        elif vantage:
            raise ConfigError("--vantage needs --broker: the workers of a vantage are reached through the broker")
        code = run(request)
    except AuditorError as exc:
        fail(exc)
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
        fail(exc)


@app.command()
def worker(
    broker: BrokerUrl = None,
    vantage: Annotated[str | None, typer.Option(
        help="Consume only this vantage's queue (e.g. eu-paris); without it, the shared queue any worker takes.",
        show_default=False)] = None,
    key_file: KeyFile = None, broker_ca: BrokerCa = None,
    units: Annotated[int, typer.Option(help="Units at once in this worker (threads).", min=1, max=64)] = 1,
    resolver: Resolver = None, trust_anchor: TrustAnchor = None, ca_bundle: CaBundle = None,
    pki_roots: PkiRoots = None, geoip_db: GeoipDb = None, config: Config = None, timeout: Timeout = None,
    concurrency: Concurrency = None, port_map: PortMap = None,
    lab: Annotated[bool | None, typer.Option("--lab", help="Mark the results as a simulation against the lab.")]
    = None,
    smtp_untestable_ok: SmtpUntestableOk = None, reference_domains: ReferenceDomains = None,
    resolver_candidates: ResolverCandidates = None,
) -> None:
    """Run the broker's units with this machine as the vantage point, until stopped (docs/distributed.md)."""
    from auditor.distributed.cli import worker_config
    from auditor.distributed.worker import serve
    from auditor.settings import load_settings

    try:
        settings = load_settings(_settings_flags(
            resolver=resolver, trust_anchor=trust_anchor, ca_bundle=ca_bundle, pki_roots=pki_roots, geoip_db=geoip_db,
            timeout=timeout, concurrency=concurrency, port_map=port_map, lab=lab, smtp_untestable_ok=smtp_untestable_ok,
            reference_domains=reference_domains, resolver_candidates=resolver_candidates, vantage_name=vantage),
            config=config)
        code = serve(worker_config(url=broker, vantage=vantage, key_file=key_file, ca_file=broker_ca, units=units,
                                   settings=settings))
    except AuditorError as exc:
        fail(exc)
    raise typer.Exit(code)


@lab_app.command("serve")
def lab_serve(
    net: Annotated[int | None, typer.Option(help="Second octet of the lab's 127.N.x.y addresses (default: 77, or "
                                                  "free ones when another lab holds those).", show_default=False)]
    = None,
    dns_port: Annotated[int, typer.Option(help="Port of the lab's DNS server.")] = 5353,
    ipv6: Annotated[bool, typer.Option(help="Every host also on fd00:0:0:N::/64 (needs that prefix local to the "
                                            "network namespace, see docs/vantage.md).")] = False,
) -> None:
    """Run the lab in the foreground and print the flags a scan needs to use it."""
    from auditor.lab import serve_forever
    from auditor.lab.free_net import start_free

    try:
        lab = start_free(nets=None if net is None else [net], dns_port=dns_port, ipv6=ipv6)
    except AuditorError as exc:
        fail(exc)
    serve_forever(lab)


@catalog_app.command("check")
def catalog_check(
    providers: Annotated[Path | None, typer.Argument(
        help="The catalog file (default: ./providers.yaml, else the one shipped with auditor).",
        show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate a catalog, list its providers and show how fresh its facts are.

    Warns about dates older than 12 months (or missing) and claims that only a third party's page supports.
    Exit code 0 when the file is valid, warnings or not; 2 when it is not (one line: FILE:LINE: what is wrong).
    """
    import datetime as dt
    import json

    from auditor.catalog import load_catalog
    from auditor.catalog_freshness import report_json, review, table
    from auditor.settings import default_catalog

    providers = providers or default_catalog()
    try:
        catalog = load_catalog(providers)
    except AuditorError as exc:
        fail(exc)
    today = dt.datetime.now(dt.UTC).date()
    rows = review(catalog, today)
    if json_out:
        typer.echo(json.dumps(report_json(str(providers), rows, today), indent=2, ensure_ascii=False))
        return
    for p in catalog.providers:
        typer.echo(f"{p.id:16} {p.kind:5} {p.name} ({len(p.mail_domains)} domains, {len(p.endpoints)} endpoints, "
                   f"{len(p.claims)} claims)")
    typer.echo("")
    typer.echo(table(rows))
    warnings = [f"{row.id}: {w}" for row in rows for w in row.warnings]
    if warnings:
        typer.echo("\nwarnings (the file is valid; re-check these facts against their sources):")
        typer.echo("\n".join(f"  {w}" for w in warnings))
    typer.echo(f"{providers}: {len(catalog.providers)} providers, valid; {len(warnings)} warnings as of {today}")


cli_report.register(app)  # report
cli_history.register(app)  # history, diff, prune
cli_evidence.register(app)  # evidence export, verify, public-key; register


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
    code: int | str | None = 0
    sys.argv = optional_value(sys.argv, "--resume", RESUME_LATEST)
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        warn("interrupted")
        code = 130
    except AuditorError as exc:  # raised outside a command's own handler
        warn(str(exc))
        code = exc.exit_code or EXIT_USAGE
    _exit(code)


def optional_value(argv: list[str], option: str, implied: str) -> list[str]:
    """`option` given without its value (last, or followed by another option) gets `implied`: typer's parser
    has no options with an optional value, and `scan --resume [AUDIT_ID]` needs one."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == option and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(implied)
    return out


def _exit(code: int | str | None) -> None:
    """Leave with `code`. A TLS scan abandoned at its deadline may still run in a daemon thread (sslyze cannot be
    interrupted); the interpreter's shutdown would stop it in the middle of a C call, which can abort the whole
    process ("FATAL: exception not rethrown", exit -6) after the right message was printed. With such threads
    alive, streams are flushed and the process ends without that shutdown: our files are already closed."""
    if isinstance(code, str):
        warn(code)
        code = 1
    if any(t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)
