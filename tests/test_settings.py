import re
from pathlib import Path

import pytest

from auditor.errors import ConfigError
from auditor.notify import NotifyConfig
from auditor.settings import load_settings, notify_file_settings, parse_host_port, parse_port_map


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('resolver = "192.0.2.1"\ntimeout = 7\nconcurrency = 5\n')
    env = {"AUDITOR_RESOLVER": "192.0.2.2:5300", "AUDITOR_TIMEOUT": "3"}
    s = load_settings({"resolver": "127.0.0.1:53"}, config=config, environ=env)
    assert s.resolver == "127.0.0.1:53"
    assert s.timeout == 3
    assert s.concurrency == 5


def test_port_map_from_env() -> None:
    s = load_settings({}, environ={"AUDITOR_PORT_MAP": "25=2525,443=4443"})
    assert s.port(25) == 2525 and s.port(443) == 4443 and s.port(5222) == 5222


@pytest.mark.parametrize("text", ["", "1.2.3.4:x", "1.2.3.4:70000", "[::1"])
def test_bad_resolver_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="resolver"):
        load_settings({"resolver": text}, environ={})


def test_host_port_forms() -> None:
    assert parse_host_port("192.0.2.1", 53) == ("192.0.2.1", 53)
    assert parse_host_port("192.0.2.1:5353", 53) == ("192.0.2.1", 5353)
    assert parse_host_port("[::1]:5353", 53) == ("::1", 5353)
    assert parse_host_port("2001:db8::1", 53) == ("2001:db8::1", 53)
    with pytest.raises(ValueError):
        parse_port_map("25:2525")


def test_unknown_key_in_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("resolvr = '1.1.1.1'\n")
    with pytest.raises(ConfigError, match="unknown setting 'resolvr'"):
        load_settings({}, config=config, environ={})


def test_bad_toml(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("timeout = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, config=config, environ={})


def test_notify_table_of_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('timeout = 3\n[notify]\nwebhook = "https://hooks.example.org/a"\n'
                      'email = "dpo@example.org"\nsmtp_host = "smtp.example.org"\n')
    assert load_settings({}, config=config, environ={}).timeout == 3  # the table is not a setting
    table = notify_file_settings(config, environ={})
    assert table == {"webhook": "https://hooks.example.org/a", "email": "dpo@example.org",
                     "smtp_host": "smtp.example.org"}
    # Flags, then the environment, then the file.
    loaded = NotifyConfig.load({"email": "rssi@example.org"}, {"AUDITOR_SMTP_HOST": "mail.example.org:587"}, table)
    assert (loaded.webhook, loaded.email, loaded.smtp_host) == (
        "https://hooks.example.org/a", "rssi@example.org", "mail.example.org:587")
    assert notify_file_settings(None, environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}) == {}


@pytest.mark.parametrize(("text", "error"), [
    ('[notify]\nwebhook_secret = "s"\n', "set AUDITOR_WEBHOOK_SECRET in the environment"),
    ('[notify]\nwebhok = "https://x.example"\n', "unknown [notify] key 'webhok'"),
    ('[notify]\nemail = 3\n', "[notify] email must be a string"),
    ('notify = "dpo@example.org"\n', "notify must be a table"),
])
def test_bad_notify_table(tmp_path: Path, text: str, error: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_settings({}, config=config, environ={})


def test_pki_roots_from_env_and_bad_value() -> None:
    s = load_settings(environ={"AUDITOR_PKI_ROOTS": "igc-sante=/tmp/roots.pem"})
    assert s.pki_roots == {"igc-sante": Path("/tmp/roots.pem")}
    with pytest.raises(ConfigError, match="pki_roots"):
        load_settings({"pki_roots": "igc-sante"}, environ={})
