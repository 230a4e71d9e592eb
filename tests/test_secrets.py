"""Secrets stay out of what auditor prints (issue 15): URL credentials and query strings are masked in every
message, NotifyConfig's repr hides its secrets, tracebacks show no local variables, a webhook URL can come
from a 0600 file, and giving it as a flag (visible in `ps`) draws a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from auditor import cli
from auditor.errors import ConfigError
from auditor.lab.world import LAB_CATALOG
from auditor.notify import WEBHOOK_FILE_VAR, NotifyConfig
from auditor.redact import redact

ROOT = Path(__file__).resolve().parent.parent
TOKEN, KEY = "s3cr3t-token", "k3y-value"
HOOK = f"https://alice:{TOKEN}@hooks.example.org/auditor?key={KEY}"


def env(tmp: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
    return {**clean, "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"), **extra}


def auditor(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("text", "shown"), [
    (HOOK, "https://***@hooks.example.org/auditor?***"),
    ("webhook 'http://u:p@h.example:8080/x?a=1#frag': refused",
     "webhook 'http://***@h.example:8080/x?***#***': refused"),
    ("https://user:p@ss@h.example/", "https://***@h.example/"),  # an unescaped @ in the password
    ("webhook https://h.example/x?k=v: refused.", "webhook https://h.example/x?***: refused."),
    ("see https://docs.example.org/page and mailto:x@y.example",  # nothing to hide: unchanged
     "see https://docs.example.org/page and mailto:x@y.example"),
])
def test_redact_masks_userinfo_query_and_fragment(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_bad_webhook_url_is_reported_without_its_secrets(tmp_path: Path) -> None:
    bad = f"ftp://alice:{TOKEN}@hooks.example.org/auditor?key={KEY}"
    result = auditor("scan", "--providers", str(LAB_CATALOG), "--only", "exemplary", "--db", str(tmp_path / "a.db"),
                     "--cron", environ=env(tmp_path, AUDITOR_NOTIFY_WEBHOOK=bad))
    assert result.returncode == 2
    assert result.stderr == ("auditor: --notify-webhook / AUDITOR_NOTIFY_WEBHOOK: expected an http(s) URL, got "
                             "'ftp://***@hooks.example.org/auditor?***'\n")


def test_notify_config_repr_hides_secrets() -> None:
    config = NotifyConfig(webhook=HOOK, webhook_secret="hmac-key", email="dpo@example.org", smtp_host="smtp.example",
                          smtp_user="auditor", smtp_password="hunter2")
    shown = repr(config)
    for secret in (TOKEN, KEY, "hmac-key", "auditor'", "hunter2"):
        assert secret not in shown
    assert "hooks.example.org/auditor" in shown and "dpo@example.org" in shown and "smtp_password='***'" in shown


def test_tracebacks_never_show_locals() -> None:
    apps = [cli.app, cli.lab_app, cli.catalog_app]
    assert all(isinstance(a, typer.Typer) and a.pretty_exceptions_show_locals is False for a in apps)
    # And as a user would see it: a command that crashes with a secret in a local variable.
    crash = ("from auditor.cli import app\n"
             "@app.command('crash')\n"
             "def crash() -> None:\n"
             f"    smtp_password = {TOKEN!r}\n"
             "    raise RuntimeError('unexpected')\n"
             "app(['crash'])\n")
    result = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode != 0 and "RuntimeError" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_webhook_flag_warns_that_ps_shows_it(tmp_path: Path) -> None:
    result = auditor("scan", "--notify-webhook", HOOK, "--only", "nope", "--db", str(tmp_path / "a.db"),
                     environ=env(tmp_path))
    assert result.returncode == 2
    warning, error = result.stderr.splitlines()
    assert warning == ("auditor: --notify-webhook shows the URL, often a secret, to every user of this machine "
                       "(`ps`); set AUDITOR_NOTIFY_WEBHOOK or AUDITOR_NOTIFY_WEBHOOK_FILE (a file of mode 0600) "
                       "instead")
    assert "nope" in error and TOKEN not in result.stderr


def test_webhook_url_from_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "webhook"
    path.write_text(HOOK + "\n")
    path.chmod(0o600)
    assert NotifyConfig.load(environ={WEBHOOK_FILE_VAR: str(path)}).webhook == HOOK
    # The environment variable still wins over the file; the file over the config file.
    assert NotifyConfig.load(environ={WEBHOOK_FILE_VAR: str(path), "AUDITOR_NOTIFY_WEBHOOK": "https://a.example/"},
                             ).webhook == "https://a.example/"
    assert NotifyConfig.load(environ={WEBHOOK_FILE_VAR: str(path)}, file={"webhook": "https://b.example/"}
                             ).webhook == HOOK
    assert NotifyConfig.load(environ={}, file={"webhook_file": str(path)}).webhook == HOOK


def test_webhook_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "webhook"
    path.write_text(HOOK + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        NotifyConfig.load(environ={WEBHOOK_FILE_VAR: str(path)})
    assert str(info.value) == (f"{path} ({WEBHOOK_FILE_VAR}): other users may read this file (mode 0644); "
                               f"chmod 600 {path}")
    result = auditor("scan", "--only", "posteo", "--db", str(tmp_path / "a.db"), "--cron",
                     environ=env(tmp_path, **{WEBHOOK_FILE_VAR: str(path)}))
    assert result.returncode == 2 and result.stderr == f"auditor: {info.value}\n"
    assert not (tmp_path / "a.db").exists()
