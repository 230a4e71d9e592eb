"""The pipeline a command runs: catalog → scan → score → store → reports. No logic of its own beyond wiring."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import warnings
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.campaign import RESUME_LATEST, CampaignTarget, providers_from_domains
from auditor.catalog import Catalog, Provider, load_catalog
from auditor.console import warn
from auditor.diff import AuditDiff, assemble, provider_diff, provider_removed, render_text
from auditor.errors import EXIT_OK, EXIT_REGRESSION, ConfigError
from auditor.files import write_private_parts
from auditor.findings import Audit, ProviderResult, Vantage
from auditor.lock import ScanLock, lock_path
from auditor.notify import NotifyConfig, deliver
from auditor.scan import new_audit_id, now_utc, run_scan
from auditor.schema import document_text
from auditor.settings import DEMO_DB_NAME, Settings, default_catalog, load_settings, notify_file_settings
from auditor.vantages import merge_vantage_results

if TYPE_CHECKING:
    from auditor.distributed.coordinator import CampaignOptions
    from auditor.store import Store


@dataclass(frozen=True)
class ScanRequest:
    settings: Settings
    providers: list[Provider]
    json_out: Path | None
    html_out: Path | None
    cron: bool
    default_stem: str = "audit"
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    broker: CampaignOptions | None = None  # through a broker's workers (docs/distributed.md); None: in-process
    resume: str | None = None  # RESUME_LATEST or an audit id (prefix): complete that interrupted audit

    def through(self, broker: CampaignOptions) -> ScanRequest:
        return replace(self, broker=broker)

    @classmethod
    def build(cls, *, catalog: Path, only: list[str], config: Path | None, json_out: Path | None,
              html_out: Path | None, cron: bool, flags: dict[str, Any],
              notify_flags: Mapping[str, str | None] | None = None, domains: Path | None = None,
              resume: str | None = None) -> ScanRequest:
        """`notify_flags`: `--notify-webhook` / `--notify-email` as {"webhook": …, "email": …} when the
        command line has them; the environment is read either way (see auditor.notify). `domains`: a bulk
        campaign's domain file (auditor.campaign) instead of the catalog."""
        settings = load_settings(flags, config=config)
        if domains is not None:
            if only:
                raise ConfigError("--only selects catalog providers; with --domains, edit the domain file instead")
            providers = providers_from_domains(domains)
        else:
            providers = _select(load_catalog(catalog), only)
        notify = NotifyConfig.load(notify_flags, file=notify_file_settings(config))
        if cron:
            notify.validate()  # a typo in the address must fail now (exit 2), not after an hour of scanning
        return cls(settings, providers, json_out, html_out, cron, notify=notify, resume=resume,
                   default_stem="campaign" if domains is not None else "audit")


def _select(catalog: Catalog, only: list[str]) -> list[Provider]:
    return catalog.select(only) if only else list(catalog.providers)


@contextmanager
def _progress(total: int, quiet: bool, done: int = 0) -> Iterator[Callable[[ProviderResult], None]]:
    """A progress bar on a terminal (done of total, providers per minute, time left); nothing under cron or
    when stderr is not a TTY. `done`: providers already audited (a resumed audit)."""
    if quiet or not sys.stderr.isatty():
        yield lambda result: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[bold]auditing"), BarColumn(), MofNCompleteColumn(), _rate_column(),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                  transient=True) as bar:
        task = bar.add_task("", total=total, completed=done)
        yield lambda result: bar.update(task, advance=1, description=result.id)


def _rate_text(per_second: float | None) -> str:
    return "" if not per_second else f"{per_second * 60:,.0f}/min"


def _rate_column() -> Any:
    """Providers per minute, from rich's own speed estimate (over the last half minute). Built here: rich is
    imported only when a terminal shows the bar."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(_rate_text(task.speed))

    return Rate()


@dataclass(frozen=True)
class StoredAudit:
    """A bulk campaign's audit left in the store: `execute` returns its header (no providers), and its providers
    are read back one at a time, in the run's order, by whatever needs them (the JSON document, the cron diff)."""

    db: Path
    audit_id: str
    order: list[str]

    def providers(self, evidence: Container[str] | None = None) -> Iterator[ProviderResult]:
        from auditor.store import Store

        with Store.open(self.db) as store:
            yield from store.iter_providers(self.audit_id, self.order, evidence)


def write_outputs(audit: Audit, json_out: Path | None, html_out: Path | None, lang: str,
                  seal: str | None = None, stored: StoredAudit | None = None) -> list[Path]:
    """The scan's JSON document and HTML report (with the audit's `seal` on its cover when given), each 0600
    (auditor.files). `stored`: `audit` is a campaign's header, its providers are in the store, read one at a time
    (the HTML report keeps each one's view, not its findings)."""
    written = []
    if json_out:
        providers = stored.providers() if stored is not None else iter(audit.providers)
        written.append(write_private_parts(json_out, document_text(audit, providers)))
    if html_out:
        from auditor.report import Branding
        from auditor.report.sheet import REPORT_EVIDENCE
        from auditor.report.wiring import audit_html_parts

        branding = Branding(seal=seal) if seal else None
        # A campaign's providers are read twice (ranked, then shown), without the evidence the report never shows.
        again = (lambda: stored.providers(REPORT_EVIDENCE)) if stored is not None else None
        written.append(write_private_parts(html_out, audit_html_parts(audit, lang, branding=branding,
                                                                      providers=again)))
    return written


def stored_campaign(settings: Settings, audit: Audit, providers: Sequence[Provider]) -> StoredAudit | None:
    """Where a campaign's providers are (`execute` returned its header only), None for a catalog audit."""
    if not any(isinstance(p, CampaignTarget) for p in providers):
        return None
    return StoredAudit(settings.db, audit.audit_id, [p.id for p in providers])


def execute(settings: Settings, providers: list[Provider], *, quiet: bool, broker: CampaignOptions | None = None,
            resume: str | None = None) -> Audit:
    """Scan, score and store one audit; the store sees it begin, grow provider by provider, and complete.
    `broker`: the units run on the broker's workers instead of in this process. `resume`: RESUME_LATEST or an
    audit id: complete that interrupted audit (`resumable`) instead of starting one, in this process. A bulk
    campaign's domains are not scored (README "Bulk campaigns"), and its results are not kept: the audit
    returned is its header, its providers stay in the store (`stored_campaign`)."""
    from auditor.store import Store

    campaign = any(isinstance(p, CampaignTarget) for p in providers)
    keep = not campaign  # a campaign's results go to the store only, and are read from it one at a time
    with Store.open(settings.db) as store:
        prior = resumable(store, resume, providers, quiet=quiet, whole=keep) if resume is not None else None
        if prior is not None and broker is not None:
            raise ConfigError("--resume completes an audit in this process; fix: run it without --broker")
        done = set(store.provider_names(prior.audit_id)) if prior else set()
        with _progress(len(providers), quiet, done=len(done)) as tick:
            audit_ref: dict[str, str] = {"id": prior.audit_id} if prior else {}

            def on_start(audit: Audit) -> None:
                audit_ref["id"] = audit.audit_id
                store.begin_audit(audit)

            def on_provider(result: ProviderResult) -> None:
                store.add_provider(audit_ref["id"], result)
                tick(result)

            if broker is None:
                audit = asyncio.run(run_scan(providers, settings, on_start=on_start, on_provider=on_provider,
                                             rdap_cache=store, pages=store, resume=prior, keep=keep,
                                             done=done))
            else:
                from auditor.distributed.coordinator import Coordinator

                audit = Coordinator(broker, providers, settings, keep=keep).run(on_start=on_start,
                                                                                on_provider=on_provider)
        return _score_and_close(store, audit, settings, score=not campaign)


def resumable(store: Store, resume: str, providers: list[Provider], *, quiet: bool,
              whole: bool = True) -> Audit | None:
    """The interrupted audit to complete: `resume` names it (an id or a prefix), or RESUME_LATEST takes the
    latest incomplete audit whose providers are all among this run's (None, with a note, when there is none:
    the run starts a new audit). A complete audit, or one holding providers this run does not have, is
    refused (ConfigError: exit 2). `whole=False` (a campaign): its header only, the providers stay in the store.
    """
    wanted = {p.id for p in providers}
    if resume == RESUME_LATEST:
        audit_id = store.latest_incomplete(wanted)
        if audit_id is None:
            if not quiet:
                warn("no interrupted audit of these providers to resume: starting a new one")
            return None
    else:
        audit_id = store.resolve_id(resume)
    audit = store.load_audit(audit_id) if whole else store.audit_header(audit_id)
    if audit.complete:
        raise ConfigError(f"audit {audit_id} is complete: nothing to resume; fix: run without --resume")
    extra = sorted(set(store.provider_names(audit_id)) - wanted)
    if extra:
        raise ConfigError(f"audit {audit_id} holds {len(extra)} provider(s) this run does not have "
                          f"({', '.join(extra[:3])}); fix: resume with the same --domains file or catalog")
    return audit


def _score_and_close(store: Store, audit: Audit, settings: Settings, *, score: bool = True) -> Audit:
    """Score a stored audit's providers (unless `score` is False: a bulk campaign), mark it complete and seal
    it; the scored audit."""
    from auditor.evidence.seal import seal
    from auditor.scoring import score_audit

    if score:
        audit = score_audit(audit, settings.profile)
    for p in audit.providers:
        if p.score is not None:
            store.set_score(audit.audit_id, p.id, p.score)
    store.finish_audit(audit.audit_id, audit.finished_at or "")
    seal(store, audit.audit_id, settings)  # its manifest signed into the history chain (docs/evidence.md)
    return audit


def store_merged(settings: Settings, vantages: Sequence[Vantage], results: Sequence[ProviderResult], *,
                 started_at: str, store: Store | None = None) -> Audit:
    """One audit measured from several named vantage points (`vantages`, in order) stored, scored and sealed
    like any other: `results` are the providers' merged results (`auditor.vantages.merge_vantage_results`),
    in catalog order. `Audit.vantage` is the first vantage (readers that know one vantage point see it).

    `store`: an open store (else `settings.db` is opened). A distributed coordinator calls this once every
    unit came back."""
    from auditor.store import Store

    if not vantages or any(not v.name for v in vantages):
        raise ValueError("an audit from several vantage points needs each vantage's name")
    if store is None:
        with Store.open(settings.db) as own:
            return store_merged(settings, vantages, results, started_at=started_at, store=own)
    audit = Audit(audit_id=new_audit_id(), started_at=started_at, finished_at=now_utc(), complete=True,
                  tool_version=__version__, profile=settings.profile, vantage=vantages[0],
                  vantages=list(vantages), providers=list(results))
    store.begin_audit(audit)
    return _score_and_close(store, audit, settings)


def execute_vantages(settings: Settings, providers: list[Provider], resolvers: Mapping[str, str]) -> Audit:
    """Scan, merge, score and store one audit from several named vantage points in this process, each seen
    through its own resolver (`resolvers`: vantage name -> IP[:PORT]; e.g. the lab's DNS views, where geo-DNS
    answers each region otherwise). A stand-in for remote workers in tests and demonstrations: every vantage
    here shares this machine's network, only the DNS answers differ."""
    from auditor.store import Store

    started = now_utc()
    with Store.open(settings.db) as store:
        scans = {name: asyncio.run(run_scan(providers, settings.model_copy(update={"resolver": resolver,
                                                                                   "vantage_name": name}),
                                            rdap_cache=store, pages=store))
                 for name, resolver in resolvers.items()}
        vantages = [scan.vantage for scan in scans.values()]
        merged = [merge_vantage_results({name: scan.providers[i] for name, scan in scans.items()}, provider)
                  for i, provider in enumerate(providers)]
        return store_merged(settings, vantages, merged, started_at=started, store=store)


def run(request: ScanRequest) -> int:
    if request.cron:
        return run_cron(request)
    s = request.settings
    audit = execute(s, request.providers, quiet=False, broker=request.broker, resume=request.resume)
    json_out = request.json_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.json"
    html_out = request.html_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.html"
    written = write_outputs(audit, json_out, html_out, s.lang,
                            stored=stored_campaign(s, audit, request.providers))
    if not request.cron:
        print(f"audit {audit.audit_id}: {len(request.providers)} providers, stored in {s.db}")
        for path in written:
            print(f"wrote {path}")
    return EXIT_OK


# How far back `cron_baseline` looks for an audit covering this run's providers.
MAX_BASELINE_STEPS = 20


def cron_baseline(store: Store, audit_id: str, provider_ids: set[str]) -> str | None:
    """The id of the audit a cron run compares against: the latest earlier complete audit with the same lab flag
    (`Store.previous_complete`) that covered every provider of this run.

    Why not simply the previous one: a hand-run `scan --only posteo` between two full cron runs would
    otherwise become the baseline, and a regression of any other provider between the two cron runs would
    never be reported. When no earlier audit covers them all, the previous one is used as is.
    """
    first = previous = store.previous_complete(audit_id)
    for _ in range(MAX_BASELINE_STEPS):
        if previous is None:
            break
        if provider_ids <= set(store.provider_names(previous)):
            return previous
        previous = store.previous_complete(previous)
    return first


def cron_diff(db: Path, audit_id: str, provider_ids: set[str]) -> AuditDiff | None:
    """What changed since the baseline (None: nothing to compare with, e.g. the first audit).

    Both sides are read back from the store, so they went through the same serialisation, one provider at a
    time (a campaign of thousands is never held whole). Providers the baseline has but this run did not select
    are scope, not change: they are left out.
    """
    from auditor.store import Store

    with Store.open(db) as store:
        before_id = cron_baseline(store, audit_id, provider_ids)
        if before_id is None:
            return None
        changes = [c for old, new in store.iter_pairs(before_id, audit_id) for c in provider_diff(old, new)]
        now = store.provider_names(audit_id)
        changes += [provider_removed(pid, name) for pid, name in store.provider_names(before_id).items()
                    if pid not in now and pid in provider_ids]
        return assemble(store.audit_header(before_id), store.audit_header(audit_id), changes)


def run_cron(request: ScanRequest) -> int:
    """`scan --cron`: one run per database at a time (auditor.lock), silent unless something changed.

    Exit 0: no regression (changes, if any, are printed); 1: a regression since the baseline (printed, and
    notified when a webhook or e-mail is configured); a notification that fails is reported on stderr and
    does not change the exit code. Exit 2 and 3 come from the errors raised (usage / could not run, the
    latter including "another auditor scan holds the lock").
    """
    s = request.settings
    selected = {p.id for p in request.providers}
    # cron mails whatever a job prints: a library's DeprecationWarning would arrive every night and teach
    # the DPO to ignore the mail that matters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ScanLock(lock_path(s.db)):
            audit = execute(s, request.providers, quiet=True, broker=request.broker, resume=request.resume)
            json_out = request.json_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.json"
            html_out = request.html_out or s.reports_dir / f"{request.default_stem}-{audit.audit_id}.html"
            written = write_outputs(audit, json_out, html_out, s.lang,
                                    stored=stored_campaign(s, audit, request.providers))
            diff = cron_diff(s.db, audit.audit_id, selected)
    if diff is None or not diff.changes:
        return EXIT_OK
    print(render_text(diff, s.lang), end="")
    label = "rapport :" if s.lang == "fr" else "report:"
    for path in written:
        print(f"{label} {path}")
    sys.stdout.flush()  # before any stderr line, so a cron mail reads in order
    if not diff.has_regressions:
        return EXIT_OK
    if request.notify.enabled:
        for failure in deliver(diff, request.notify, s, reports=written):
            warn(failure)
    return EXIT_REGRESSION


def run_demo(*, reports_dir: Path | None, db: Path | None, lang: str | None) -> None:
    """The built-in lab (on free loopback addresses), the catalog (./providers.yaml, else the packaged one),
    reports/demo-<date>.{json,html}, and the audit in reports/demo.sqlite."""
    from auditor.lab.free_net import start_free
    from auditor.lab.world import LAB_CATALOG
    from auditor.report.export import audit_seal, print_demo_reports

    catalog_path = default_catalog()
    providers = list(load_catalog(catalog_path).providers)
    base = load_settings({k: v for k, v in {"reports_dir": reports_dir, "lang": lang}.items() if v})
    lab = start_free(catalogs=[catalog_path, LAB_CATALOG])  # the world models the catalog audited
    try:
        settings = load_settings({**lab.overrides(), "reports_dir": base.reports_dir, "lang": base.lang,
                                  "db": db or base.reports_dir / DEMO_DB_NAME, "tsa_url": lab.tsa_url})
        started = dt.datetime.now()
        audit = execute(settings, providers, quiet=False)
    finally:
        lab.stop()
    stem = settings.reports_dir / f"demo-{dt.date.today().isoformat()}"
    written = write_outputs(audit, stem.with_suffix(".json"), stem.with_suffix(".html"), settings.lang,
                            seal=audit_seal(settings.db, audit.audit_id))
    written += print_demo_reports(audit, stem, lang=settings.lang, db=settings.db)
    elapsed = (dt.datetime.now() - started).total_seconds()
    print(f"demo audit {audit.audit_id} of {len(providers)} providers against the lab in {elapsed:.1f}s "
          f"(a simulation: vantage.lab = true); stored in {settings.db}")
    for path in written:
        print(f"wrote {path}")
