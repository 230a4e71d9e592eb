"""The broker's options of the command line (`auditor worker`, `auditor scan --broker`) and what they become
(docs/distributed.md). Broker URLs carry a password: every message masks it (auditor.redact)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.errors import ConfigError
from auditor.settings import Settings

# A unit delivered but not acknowledged goes to another worker after its provider deadline plus this margin
# (at most the deadline again: a short deadline, short wait after a worker's death).
UNIT_MARGIN = 120.0

BrokerUrl = Annotated[str | None, typer.Option(
    envvar="AUDITOR_BROKER", show_default=False,
    help="Redis broker URL, redis://USER:PASSWORD@HOST:PORT/DB (rediss:// for TLS). It holds a password: "
         "prefer AUDITOR_BROKER in the environment (other users see flags in `ps`).")]
KeyFile = Annotated[Path | None, typer.Option(
    envvar="AUDITOR_BROKER_KEY_FILE", show_default=False,
    help="File (mode 0600) with the key shared by the coordinator and its workers; else AUDITOR_BROKER_KEY.")]
BrokerCa = Annotated[Path | None, typer.Option(
    envvar="AUDITOR_BROKER_CA", show_default=False,
    help="PEM CA bundle a rediss:// broker's certificate is checked against (default: the system's).")]


def unit_timeout(settings: Settings) -> float:
    return settings.provider_deadline + min(settings.provider_deadline, UNIT_MARGIN)


def campaign_options(*, url: str, vantages: list[str], key_file: Path | None, ca_file: Path | None, attempts: int,
                     deadline: float, settings: Settings, quiet: bool = False) -> Any:
    """The CampaignOptions of `scan --broker`; ConfigError (exit 2) for a bad flag or key."""
    from auditor.distributed.coordinator import CampaignOptions
    from auditor.distributed.engine import check_url
    from auditor.distributed.messages import check_vantage_name, load_key

    if attempts < 1 or attempts > 20:
        raise ConfigError(f"--attempts {attempts}: expected 1 to 20")
    if deadline <= 0:
        raise ConfigError(f"--broker-deadline {deadline:g}: expected a number of seconds above 0")
    if len(set(vantages)) != len(vantages):
        raise ConfigError("--vantage: each vantage once")
    return CampaignOptions(url=check_url(url), key=load_key(key_file),
                           vantages=[check_vantage_name(v) for v in vantages], ca_file=ca_file,
                           attempts=attempts, deadline=deadline,
                           unit_timeout=unit_timeout(settings), quiet=quiet)


Vantage = Annotated[list[str] | None, typer.Option(
    "--vantage", show_default=False,
    help="With --broker: send every provider to this vantage's workers (repeatable: one audit, findings per "
         "vantage); without it, any worker takes any unit.")]
Attempts = Annotated[int, typer.Option(help="With --broker: failures of a unit before it ends as an error finding.")]
BrokerDeadline = Annotated[float, typer.Option(
    help="With --broker: seconds for the whole campaign; unfinished units then end as error findings.")]


def worker_config(*, url: str | None, vantage: str | None, key_file: Path | None, ca_file: Path | None, units: int,
                  settings: Settings) -> Any:
    """The WorkerConfig of `auditor worker`; ConfigError (exit 2) for a bad flag or key."""
    from auditor.distributed.engine import check_url
    from auditor.distributed.messages import check_vantage_name, load_key
    from auditor.distributed.worker import WorkerConfig

    if not url:
        raise ConfigError("no broker: pass --broker URL or set AUDITOR_BROKER")
    return WorkerConfig(url=check_url(url), key=load_key(key_file), settings=settings,
                        vantage_name=check_vantage_name(vantage) if vantage else None, ca_file=ca_file, units=units,
                        unit_timeout=unit_timeout(settings))
