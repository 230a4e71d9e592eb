"""The provider catalog: the real providers.yaml, and every kind of bad input with its message and line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from auditor.catalog import (
    MAX_BYTES,
    Catalog,
    Endpoint,
    Provider,
    load_catalog,
    normalize_hostname,
    parse_catalog,
)
from auditor.errors import EXIT_USAGE, CatalogError, ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "catalog"

MAIL_IDS = {"proton", "tuta", "hushmail", "posteo", "countermail", "mailbox-org", "mailfence", "infomaniak",
            "mailiz", "apicrypt"}
CHAT_IDS = {"signal", "telegram", "threema", "wire", "wickr", "olvid", "element", "whatsapp"}

# A small valid catalog; each bad case below changes one thing in it.
GOOD = """\
schema: auditor.providers/1
providers:
  - id: posteo
    name: Posteo
    kind: mail
    company:
      legal_name: Posteo e.K.
      country: DE
      parent: null
      dpf_certified: unknown
      source: https://posteo.de/en/site/impressum
    mail_domains: [posteo.de]
    endpoints:
      webmail: [posteo.de]
      chat: []
    claims:
      - name: 2fa
        claimed: true
        detail: "TOTP apps and hardware keys for web login"
        evidence_url: https://posteo.de/en/blog/new-two-factor-authentication-available
        evidence_text: "two-factor authentication"
        source_date: 2014-11
    sources: [https://posteo.de/site/postmaster]
    notes: "free text"
  - id: threema
    name: Threema
    kind: chat
    company:
      legal_name: Threema GmbH
      country: CH
      parent: {name: Comitis Capital, country: DE}
    endpoints:
      chat: ["g-00.0.threema.ch:5222"]
      directory: [apip.threema.ch]
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle` (so tests do not hard-code numbers)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not in the fixture"
    return hits[nth - 1]


def error_of(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "providers.yaml")
    return info.value


def check_error(text: str, line: int | None, *fragments: str) -> CatalogError:
    err = error_of(text)
    assert err.line == line, str(err)
    prefix = f"providers.yaml:{line}: " if line else "providers.yaml: "
    assert str(err).startswith(prefix), str(err)
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


# ------------------------------------------------------------------------------------------------ real file

@pytest.fixture(scope="module")
def real() -> Catalog:
    return load_catalog(ROOT / "providers.yaml")


def test_real_catalog_has_all_providers(real: Catalog) -> None:
    assert len(real.providers) == 18
    assert set(real.ids) == MAIL_IDS | CHAT_IDS
    assert len(set(real.ids)) == len(real.ids)
    assert {p.id for p in real.providers if p.kind == "mail"} == MAIL_IDS
    assert {p.id for p in real.providers if p.kind == "chat"} == CHAT_IDS


def test_real_catalog_claims_have_evidence(real: Catalog) -> None:
    for provider in real.providers:
        for claim in provider.claims:
            if claim.claimed is True:
                assert claim.evidence_url, f"{provider.id}: claim {claim.name} has no evidence_url"
                assert claim.evidence_url.startswith("https://"), f"{provider.id}: {claim.name}"


def test_real_catalog_mail_providers_have_domains_and_company(real: Catalog) -> None:
    for provider in real.providers:
        if provider.kind == "mail":
            assert provider.mail_domains, provider.id
        assert provider.company is not None
    posteo = real.get("posteo")
    assert "posteo.de" in posteo.mail_domains
    assert posteo.company.country == "DE"
    threema = real.get("threema")
    assert "g-00.0.threema.ch:5222" in [e.address for e in threema.endpoints]
    [chat] = [e for e in threema.endpoints if e.role == "chat"]
    assert chat.tls is False and chat.protocol and "NaCl" in chat.protocol  # Threema's own protocol, not TLS
    assert all(e.tls and e.protocol is None for e in threema.endpoints if e is not chat)
    # Telegram's privacy policy names its controller but not where it is established: unknown stays unknown
    telegram = real.get("telegram").company
    assert telegram.legal_name == "Telegram Messenger Inc." and telegram.country is None
    assert telegram.parent is not None and telegram.parent.country == "VG"


def test_real_catalog_header_points_to_its_documentation() -> None:
    head = (ROOT / "providers.yaml").read_text(encoding="utf-8")[:3000]
    assert "docs/catalog.md" in head and (ROOT / "docs" / "catalog.md").exists()


# ------------------------------------------------------------------------------------------------ good input

def test_good_catalog_models() -> None:
    catalog = parse_catalog(GOOD, "providers.yaml")
    posteo, threema = catalog.providers
    assert posteo.company.dpf_certified == "not_applicable"  # `unknown` for a German company: the DPF is US-only
    assert posteo.company.parent is None
    assert posteo.claims[0].claimed is True
    assert posteo.claims[0].source_date == "2014-11"
    assert [e.address for e in posteo.endpoints] == ["posteo.de:443"]
    assert posteo.endpoints[0].role == "webmail"
    assert threema.company.parent is not None and threema.company.parent.country == "DE"
    assert [(e.address, e.role) for e in threema.endpoints] == [
        ("g-00.0.threema.ch:5222", "chat"), ("apip.threema.ch:443", "directory")]
    assert threema.mail_domains == []


def test_valid_fixture_normalises_names(tmp_path: Path) -> None:
    catalog = load_catalog(DATA / "valid_minimal.yaml")
    provider = catalog.providers[0]
    assert provider.company.country == "NO"  # YAML 1.1 would have read a boolean
    assert provider.company.legal_name is None
    assert provider.mail_domains == ["example.org", "xn--bcher-kva.example"]
    assert provider.claims[0].source_date == "2024-05-01"
    assert [e.address for e in provider.endpoints] == ["mail.example.org:443", "chat.example.org:5222"]


def test_models_are_frozen() -> None:
    catalog = parse_catalog(GOOD, "providers.yaml")
    with pytest.raises(ValueError):
        catalog.providers[0].name = "x"


def test_select_and_get() -> None:
    catalog = parse_catalog(GOOD, "providers.yaml")
    assert [p.id for p in catalog.select(["threema", "posteo", "threema"])] == ["threema", "posteo"]
    assert [p.id for p in catalog.select([])] == ["posteo", "threema"]
    assert catalog.get("posteo").name == "Posteo"
    with pytest.raises(CatalogError) as info:
        catalog.select(["posteo", "gmail"])
    assert "unknown provider 'gmail'" in str(info.value)
    assert "known: posteo, threema" in str(info.value)
    assert isinstance(info.value, ConfigError) and info.value.exit_code == EXIT_USAGE


def test_provider_accepts_role_mapping_programmatically() -> None:
    provider = Provider.model_validate({
        "id": "x", "name": "X", "kind": "chat",
        "company": {"legal_name": None, "country": None},
        "endpoints": {"chat": ["chat.x.example:5222"], "web": ["X.Example"]},
    })
    assert provider.endpoints == [
        Endpoint(host="chat.x.example", port=5222, role="chat"), Endpoint(host="x.example", port=443, role="web")]


THREEMA_CHAT = '      chat: ["g-00.0.threema.ch:5222"]\n'
NOT_TLS = '"Threema chat protocol (NaCl), not TLS"'


def with_chat(*item_lines: str) -> str:
    """GOOD with Threema's chat endpoint replaced by one list item written over these lines."""
    item = "".join(("        - " if i == 0 else "          ") + line + "\n" for i, line in enumerate(item_lines))
    return GOOD.replace(THREEMA_CHAT, "      chat:\n" + item)


@pytest.mark.parametrize("text", [
    with_chat(f"{{host: g-00.0.threema.ch, port: 5222, tls: false, protocol: {NOT_TLS}}}"),
    with_chat("host: G-00.0.Threema.CH", "port: 5222", "tls: False", f"protocol: {NOT_TLS}"),
])
def test_endpoint_mapping_form(text: str) -> None:
    threema = parse_catalog(text, "providers.yaml").providers[1]
    assert threema.endpoints[0] == Endpoint(host="g-00.0.threema.ch", port=5222, role="chat", tls=False,
                                            protocol="Threema chat protocol (NaCl), not TLS")
    assert threema.endpoints[1] == Endpoint(host="apip.threema.ch", port=443, role="directory")  # strings: TLS


def test_endpoint_mapping_defaults_to_tls_on_443() -> None:
    threema = parse_catalog(with_chat("{host: chat.threema.ch}"), "providers.yaml").providers[1]
    assert threema.endpoints[0] == Endpoint(host="chat.threema.ch", port=443, role="chat", tls=True, protocol=None)
    text = with_chat("{host: chat.threema.ch, tls: true, protocol: XMPP}")  # a protocol may describe a TLS port
    assert parse_catalog(text, "providers.yaml").providers[1].endpoints[0].protocol == "XMPP"


def test_not_tls_endpoint_needs_protocol() -> None:
    text = with_chat("host: g-00.0.threema.ch", "port: 5222", "tls: false")
    check_error(text, line_of(text, "- host: g-00"), "provider 'threema', endpoint 'g-00.0.threema.ch:5222'",
                "tls: false needs `protocol:`", "protocol: \"Threema chat protocol")
    text = with_chat("{host: g-00.0.threema.ch, tls: false, protocol: ''}")
    check_error(text, line_of(text, "- {host: g-00"), "protocol: must not be empty")


@pytest.mark.parametrize("key", ["colour: blue", "role: web", "url: https://g-00.0.threema.ch"])
def test_endpoint_mapping_unknown_key(key: str) -> None:
    text = with_chat("host: g-00.0.threema.ch", "port: 5222", key)
    check_error(text, line_of(text, "- host: g-00"), f"unknown key {key.split(':')[0]!r} in endpoint",
                "allowed keys: host, port, tls, protocol")


def test_endpoint_mapping_bad_values_name_their_line() -> None:
    text = with_chat("host: g-00.0.threema.ch", "port: 5222", "tls: no", f"protocol: {NOT_TLS}")
    check_error(text, line_of(text, "tls: no"), "endpoint 'g-00.0.threema.ch:5222', tls", "write true or false")
    text = with_chat("host: g-00.0.threema.ch", "port: 99999")
    check_error(text, line_of(text, "port: 99999"), "is not a number from 1 to 65535")
    text = with_chat("port: 5222", "host: bad_host.example")
    check_error(text, line_of(text, "host: bad_host"), "not a valid host name")
    text = with_chat("port: 5222")
    check_error(text, line_of(text, "- port: 5222"), "missing required key 'host'", "provider 'threema'")


def test_provider_accepts_endpoint_mapping_programmatically() -> None:
    provider = Provider.model_validate({
        "id": "x", "name": "X", "kind": "chat",
        "company": {"legal_name": None, "country": None},
        "endpoints": {"chat": [{"host": "chat.x.example", "port": 5222, "tls": False, "protocol": "own"}]},
    })
    assert provider.endpoints == [Endpoint(host="chat.x.example", port=5222, role="chat", tls=False, protocol="own")]
    with pytest.raises(ValueError, match="needs `protocol:`"):
        Endpoint(host="chat.x.example", port=5222, role="chat", tls=False)


def test_normalize_hostname() -> None:
    assert normalize_hostname("Mail.Example.ORG.") == "mail.example.org"
    assert normalize_hostname("bücher.de") == "xn--bcher-kva.de"
    assert normalize_hostname("xn--bcher-kva.de") == "xn--bcher-kva.de"
    for bad in ["", "localhost", "-bad.example", "bad-.example", "a..example", "under_score.example",
                "192.0.2.1", "x" * 64 + ".example", "sp ace.example", "a.b/c"]:
        with pytest.raises(ValueError):
            normalize_hostname(bad)


# ------------------------------------------------------------------------------------------------ bad input

def test_yaml_syntax_error_has_line() -> None:
    text = GOOD.replace("    name: Posteo\n", "    name: Posteo: broken: value\n")
    check_error(text, line_of(text, "Posteo: broken"), "not valid YAML")


def test_yaml_syntax_error_fixture_file() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(DATA / "bad_syntax.yaml")
    assert info.value.line == 4
    assert str(info.value).startswith(f"{DATA / 'bad_syntax.yaml'}:4: not valid YAML")


def test_unclosed_bracket() -> None:
    text = GOOD.replace("mail_domains: [posteo.de]", "mail_domains: [posteo.de")
    err = error_of(text)
    assert err.line is not None and err.line >= line_of(text, "mail_domains")
    assert "not valid YAML" in str(err)


def test_unknown_key_in_provider() -> None:
    text = GOOD.replace("    notes: \"free text\"\n", "    notes: \"free text\"\n    colour: blue\n")
    check_error(text, line_of(text, "colour: blue"), "unknown key 'colour'", "provider 'posteo'",
                "allowed keys: id, name, kind")


def test_unknown_key_in_company_fixture() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(DATA / "unknown_key.yaml")
    assert info.value.line == 9
    assert "unknown key 'headquarters'" in str(info.value)
    assert "country, dpf_certified, legal_name, parent, presence, source" in str(info.value)


def test_unknown_key_in_claim() -> None:
    text = GOOD.replace("        detail: \"TOTP", "        proof: yes\n        detail: \"TOTP")
    check_error(text, line_of(text, "proof: yes"), "unknown key 'proof'", "claim '2fa'")


def test_unknown_top_level_key() -> None:
    text = GOOD + "version: 2\n"
    check_error(text, line_of(text, "version: 2"), "unknown key 'version'")


def test_missing_required_key_in_provider() -> None:
    text = GOOD.replace("    name: Posteo\n", "")
    check_error(text, line_of(text, "- id: posteo"), "missing required key 'name'", "provider 'posteo'")


def test_missing_claimed_in_claim() -> None:
    text = GOOD.replace("        claimed: true\n", "")
    check_error(text, line_of(text, "- name: 2fa"), "missing required key 'claimed'")


def test_missing_company() -> None:
    start = GOOD.index("    company:\n      legal_name: Threema")
    end = GOOD.index("    endpoints:\n      chat:")
    text = GOOD[:start] + GOOD[end:]
    check_error(text, line_of(text, "- id: threema"), "missing required key 'company'", "provider 'threema'")


def test_missing_providers() -> None:
    check_error("schema: auditor.providers/1\n", 1, "missing required key 'providers'")


def test_bad_kind() -> None:
    text = GOOD.replace("kind: chat", "kind: messenger")
    check_error(text, line_of(text, "kind: messenger"), "'messenger' is not allowed", "'mail'", "'chat'")


@pytest.mark.parametrize("bad_id", ["Posteo", "posteo_de", "-posteo", '"posteo de"'])
def test_bad_id(bad_id: str) -> None:
    text = GOOD.replace("- id: posteo", f"- id: {bad_id}")
    check_error(text, line_of(text, f"- id: {bad_id}"), "not a valid id", "lower-case")


def test_duplicate_id() -> None:
    text = GOOD.replace("- id: threema", "- id: posteo")
    check_error(text, line_of(text, "- id: posteo", nth=2), "provider id 'posteo' is already used on line 3")


def test_duplicate_id_fixture() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(DATA / "duplicate_id.yaml")
    assert info.value.line == 11
    assert "'example' is already used on line 3" in str(info.value)


@pytest.mark.parametrize(("value", "hint"), [("Germany", "ISO 3166-1"), ("de", "did you mean DE"),
                                             ("DEU", "two upper-case letters"), ("''", "not a country code")])
def test_bad_country(value: str, hint: str) -> None:
    text = GOOD.replace("country: DE\n", f"country: {value}\n", 1)
    check_error(text, line_of(text, f"country: {value}"), "company.country", hint)


def test_bad_parent_country() -> None:
    text = GOOD.replace("country: DE}", "country: Germany}")
    check_error(text, line_of(text, "Germany}"), "not a country code")


@pytest.mark.parametrize("item", ['"bad_host!.example"', '"localhost"', '"192.0.2.1"', '"-x.example:443"'])
def test_bad_endpoint_host(item: str) -> None:
    text = GOOD.replace("directory: [apip.threema.ch]", f"directory:\n        - apip.threema.ch\n        - {item}")
    check_error(text, line_of(text, f"- {item}"), "endpoint", "host")


@pytest.mark.parametrize("item", ['"chat.example.org:99999"', '"chat.example.org:0"', '"chat.example.org:abc"',
                                  '"chat.example.org:"'])
def test_bad_endpoint_port(item: str) -> None:
    text = GOOD.replace('chat: ["g-00.0.threema.ch:5222"]', f"chat:\n        - {item}")
    check_error(text, line_of(text, f"- {item}"), "is not a number from 1 to 65535")


def test_unknown_endpoint_role() -> None:
    text = GOOD.replace("      directory: [apip.threema.ch]", "      directory: [apip.threema.ch]\n      smtp: [x.ch]")
    check_error(text, line_of(text, "smtp: [x.ch]"), "unknown endpoint role 'smtp'", "webmail, api, chat")


def test_endpoint_neither_string_nor_mapping() -> None:
    text = GOOD.replace("directory: [apip.threema.ch]", "directory:\n        - [apip.threema.ch]")
    check_error(text, line_of(text, "- [apip.threema.ch]"), "host[:port]", "or a mapping {host, port, tls, protocol}")


def test_endpoints_must_be_mapping() -> None:
    text = GOOD.replace("    endpoints:\n      chat: [\"g-00", "    endpoints: [apip.threema.ch]\n    x_: [\"g-00")
    text = text.replace("    x_: [\"g-00.0.threema.ch:5222\"]\n      directory: [apip.threema.ch]\n", "")
    check_error(text, line_of(text, "endpoints: [apip"), "endpoints must map a role")


def test_bad_mail_domain() -> None:
    text = GOOD.replace("mail_domains: [posteo.de]", "mail_domains:\n      - posteo.de\n      - posteo")
    check_error(text, line_of(text, "- posteo", nth=1) + 1, "mail_domains[1]", "not a fully qualified host name")


def test_duplicate_mail_domain() -> None:
    text = GOOD.replace("mail_domains: [posteo.de]", "mail_domains: [posteo.de, POSTEO.DE]")
    check_error(text, line_of(text, "mail_domains:"), "listed twice")


def test_mail_provider_with_empty_mail_domains() -> None:
    text = GOOD.replace("mail_domains: [posteo.de]", "mail_domains: []")
    check_error(text, line_of(text, "mail_domains: []"), "mail provider needs at least one mail domain")


def test_mail_provider_without_mail_domains_key() -> None:
    text = GOOD.replace("    mail_domains: [posteo.de]\n", "")
    check_error(text, line_of(text, "- id: posteo"), "mail provider needs at least one mail domain")


@pytest.mark.parametrize("url", ["ftp://posteo.de/x", "javascript:alert(1)", "posteo.de/blog", "https://",
                                 '"https://posteo.de/a b"'])
def test_bad_url_scheme(url: str) -> None:
    text = GOOD.replace("evidence_url: https://posteo.de/en/blog/new-two-factor-authentication-available",
                        f"evidence_url: {url}")
    err = check_error(text, line_of(text, f"evidence_url: {url}"), "claim '2fa'", "evidence_url")
    assert re.search(r"http\(s\) URL|no host|spaces", str(err))


def test_bad_url_in_company_source_and_sources_list() -> None:
    text = GOOD.replace("source: https://posteo.de/en/site/impressum", "source: file:///etc/passwd")
    check_error(text, line_of(text, "file:///etc/passwd"), "company.source", "http(s)")
    text = GOOD.replace("sources: [https://posteo.de/site/postmaster]", "sources:\n      - gopher://x.example")
    check_error(text, line_of(text, "gopher://"), "sources[0]", "http(s)")


@pytest.mark.parametrize("value", ["yes", "maybe", "1", "[true]"])
def test_claimed_must_be_true_false_unknown(value: str) -> None:
    text = GOOD.replace("claimed: true", f"claimed: {value}")
    check_error(text, line_of(text, f"claimed: {value}"), "true, false or unknown")


def test_claimed_false_and_unknown() -> None:
    for word, expected in (("false", False), ("unknown", None), ("True", True)):
        catalog = parse_catalog(GOOD.replace("claimed: true", f"claimed: {word}"), "providers.yaml")
        assert catalog.providers[0].claims[0].claimed is expected


def test_dpf_certified_must_be_true_false_unknown() -> None:
    text = GOOD.replace("dpf_certified: unknown", "dpf_certified: no")
    check_error(text, line_of(text, "dpf_certified: no"), "true, false, unknown or not_applicable")


def test_dpf_is_for_us_organisations_only() -> None:
    # a German company cannot be on the EU–US DPF list: saying so is an error, not a fact
    text = GOOD.replace("dpf_certified: unknown", "dpf_certified: true", 1)
    err = error_of(text)
    assert "lists US organisations only" in str(err) and "not_applicable" in str(err)
    # and a US company cannot be "not applicable"
    text = GOOD.replace("country: DE", "country: US", 1)
    text = text.replace("dpf_certified: unknown", "dpf_certified: not_applicable", 1)
    assert "must be true, false or unknown" in str(error_of(text))
    us = parse_catalog(GOOD.replace("country: DE", "country: US", 1), "providers.yaml").providers[0]
    assert us.company.dpf_certified is None  # unknown stays unknown where the list could say


def test_role_sites_presence_and_claim_evidence_fields() -> None:
    text = GOOD.replace("    company:\n", """    verified: 2026-12-02
    role: {value: processor, basis: "offers an Art. 28 data processing agreement", source: https://posteo.de/en/dpa}
    sites: [posteo.de, github.com/posteo]
    company:
""", 1).replace("      dpf_certified: unknown\n", "      dpf_certified: unknown\n      presence: [CH]\n", 1)
    text = text.replace("        source_date: 2014-11\n", """        source_date: 2014-11
        checked: 2026-12-01
        attestation: {body: Example Cert, scope: "HDS activities 1 to 6", referential: "HDS v2 (2024)",
                      valid_from: 2024-06-01, valid_until: 2027-05-31}
        contradicted_by: {url: "https://www.eff.org/scorecard", note: "keys held by the provider", date: 2015}
""", 1)
    posteo = parse_catalog(text, "providers.yaml").providers[0]
    assert posteo.verified == "2026-12-02"
    assert posteo.role.value == "processor" and posteo.role.source == "https://posteo.de/en/dpa"
    assert posteo.company.presence == ["CH"]
    claim = posteo.claims[0]
    assert claim.checked == "2026-12-01"
    assert claim.attestation is not None and claim.attestation.valid_until == "2027-05-31"
    assert claim.contradicted_by is not None and claim.contradicted_by.date == "2015"
    # own sites: the host and its subdomains, a path prefix when given; mail domains count too
    assert posteo.publishes("https://posteo.de/en/help/x")
    assert posteo.publishes("https://www.posteo.de/")
    assert posteo.publishes("https://github.com/posteo/app")
    assert not posteo.publishes("https://github.com/posteo-fake/app")
    assert not posteo.publishes("https://evilposteo.de/")
    assert not posteo.publishes("https://en.wikipedia.org/wiki/Posteo")
    # unknown role stays unknown
    assert parse_catalog(GOOD, "providers.yaml").providers[0].role.value is None
    bad = text.replace("value: processor", "value: owner")
    assert "processor" in str(error_of(bad))
    bad = text.replace("presence: [CH]", "presence: [ch]")
    assert "did you mean CH" in str(error_of(bad))


def test_bad_claim_name_and_date_and_duplicates() -> None:
    text = GOOD.replace("- name: 2fa", "- name: Two-Factor")
    check_error(text, line_of(text, "- name: Two-Factor"), "not a valid claim name")
    text = GOOD.replace("source_date: 2014-11", "source_date: November 2014")
    check_error(text, line_of(text, "source_date: November"), "YYYY, YYYY-MM or YYYY-MM-DD")
    text = GOOD.replace("source_date: 2014-11", "source_date: 2014-13")
    check_error(text, line_of(text, "source_date: 2014-13"), "not a date")
    claim = GOOD[GOOD.index("      - name: 2fa"):GOOD.index("    sources:")]
    text = GOOD.replace(claim, claim + claim)
    check_error(text, line_of(text, "    claims:"), "claim '2fa' appears twice")


def test_evidence_text_needs_url() -> None:
    text = GOOD.replace("evidence_url: https://posteo.de/en/blog/new-two-factor-authentication-available",
                        "evidence_url: null")
    check_error(text, line_of(text, "- name: 2fa"), "evidence_text is set but evidence_url is not")


def test_wrong_types() -> None:
    text = GOOD.replace("    name: Posteo\n", "    name: [Posteo]\n")
    check_error(text, line_of(text, "name: [Posteo]"), "expected a single value, got a list")
    text = GOOD.replace("    claims:\n", "    claims: none\n    x_:\n")
    err = error_of(text)
    assert err.line is not None


def test_schema_missing_or_wrong() -> None:
    check_error(GOOD.replace("schema: auditor.providers/1\n", ""), 1, "schema is missing", "auditor.providers/1")
    text = GOOD.replace("auditor.providers/1", "auditor.providers/2")
    check_error(text, 1, "schema is 'auditor.providers/2'")


def test_empty_and_non_mapping_documents() -> None:
    check_error("", None, "the file is empty")
    check_error("# only a comment\n", None, "the file is empty")
    check_error("- a\n- b\n", 1, "expected a mapping")


def test_duplicate_key_is_refused() -> None:
    text = GOOD.replace("    kind: mail\n", "    kind: mail\n    kind: chat\n")
    check_error(text, line_of(text, "kind: chat", nth=1), "key 'kind' appears twice")


def test_aliases_and_tags_are_refused() -> None:
    text = GOOD.replace("mail_domains: [posteo.de]", "mail_domains: &d [posteo.de]\n    sources: *d")
    text = text.replace("    sources: [https://posteo.de/site/postmaster]\n", "")
    assert "not supported" in str(error_of(text))
    text = GOOD.replace("name: Posteo\n", "name: !!python/object:os.system Posteo\n")
    check_error(text, line_of(text, "!!python"), "tag")


def test_deep_nesting_is_refused() -> None:
    text = GOOD + "extra: " + "[" * 5000 + "]" * 5000 + "\n"
    err = error_of(text)
    assert "nested too deeply" in str(err)


def test_garbage_never_crashes() -> None:
    for garbage in ["\x00\x01", "{", "]", "schema: [", "providers: 3", "schema: auditor.providers/1\nproviders: 3",
                    "schema: auditor.providers/1\nproviders: [3, null, []]", "? [a]\n: b\n", "%YAML 9.9\n---\na: 1",
                    "schema: auditor.providers/1\nproviders:\n  - endpoints: {chat: 5}\n",
                    "schema: auditor.providers/1\nproviders:\n  - endpoints: [1]\n    id: x\n"]:
        with pytest.raises(CatalogError):
            parse_catalog(garbage, "providers.yaml")


# ------------------------------------------------------------------------------------------------ files

def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.line is None
    assert str(info.value) == f"{path}: file not found; pass the catalog with --providers FILE"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path)
    assert info.value.line is None and "directory" in str(info.value)


def test_unreadable_path(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(afile / "providers.yaml")  # a path through a regular file: ENOTDIR
    assert info.value.line is None and "cannot read the file" in str(info.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(CatalogError) as info:
            load_catalog(path)
        assert info.value.line is None and "cannot read the file" in str(info.value)
    finally:
        path.chmod(0o600)


def test_file_larger_than_5_mb(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(GOOD.encode() + b"#" * MAX_BYTES)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.line is None and "larger than 5 MB" in str(info.value)
    with pytest.raises(CatalogError):
        parse_catalog("#" * (MAX_BYTES + 1), "providers.yaml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("Posteo e.K.", "Posteo é").encode("latin-1"))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.line == line_of(GOOD, "Posteo e.K.") and "UTF-8" in str(info.value)


def test_load_good_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_catalog(path).ids == ["posteo", "threema"]


# ------------------------------------------------------------------------------------------------ published

PUBLISHED = """    published:
      - domain: posteo.de
        observed: 2026-05
        source: https://scan.example.org/posteo.de
        mx: [{host: mx01.posteo.de, pref: 10}, {host: mx02.posteo.de}]
        mta_sts: {mode: enforce, mx: [mx01.posteo.de, "*.posteo.de"], max_age: 604800}
        dane: true
        dnssec: true
        dmarc: reject
"""


def with_published(block: str = PUBLISHED) -> str:
    return GOOD.replace("    claims:\n", block + "    claims:\n", 1)


def test_published_observations() -> None:
    [obs] = parse_catalog(with_published(), "providers.yaml").providers[0].published
    assert obs.domain == "posteo.de" and obs.observed == "2026-05"
    assert [(m.host, m.pref) for m in obs.mx or []] == [("mx01.posteo.de", 10), ("mx02.posteo.de", None)]
    assert obs.mta_sts is not None and obs.mta_sts.mode == "enforce" and obs.mta_sts.max_age == 604800
    assert obs.mta_sts.mx == ["mx01.posteo.de", "*.posteo.de"]
    assert (obs.dane, obs.dnssec, obs.dmarc) == (True, True, "reject")
    assert parse_catalog(GOOD, "providers.yaml").providers[0].published == []


@pytest.mark.parametrize(("change", "needle", "fragment"), [
    ("mode: enforce", "mode: enforced", "enforce"),
    ("dmarc: reject", "dmarc: strict", "quarantine"),
    ('"*.posteo.de"', '"mx*.posteo.de"', "not a valid host name"),
    ("source: https://scan.example.org/posteo.de", "source: scan.example.org", "not an http(s) URL"),
    ("max_age: 604800", "max_age: -1", "greater than or equal to 0"),
])
def test_published_bad_values_name_the_line(change: str, needle: str, fragment: str) -> None:
    text = with_published().replace(change, needle)
    check_error(text, line_of(text, needle), "observation 'posteo.de'", fragment)


def test_published_observation_needs_a_fact() -> None:
    block = ("    published:\n      - domain: posteo.de\n        observed: 2026-05\n"
             "        source: https://scan.example.org/posteo.de\n")
    text = with_published(block)
    check_error(text, line_of(text, "- domain: posteo.de"), "at least one fact")


# ------------------------------------------------------------------------------------------------ evidence kinds

def test_evidence_kinds_from_the_catalog_alone() -> None:
    import datetime as dt

    from auditor.claim_evidence import evidence_kind, expired, last_day

    today = dt.date(2026, 12, 2)
    posteo = parse_catalog(GOOD, "providers.yaml").providers[0]
    claim = posteo.claims[0]
    assert evidence_kind(posteo, claim, today) == "stated"  # a page on its own mail domain
    elsewhere = claim.model_copy(update={"evidence_url": "https://en.wikipedia.org/wiki/Posteo"})
    assert evidence_kind(posteo, elsewhere, today) == "third_party"
    assert evidence_kind(posteo, claim.model_copy(update={"evidence_text": None}), today) == "none"
    attested = parse_catalog(GOOD.replace("        source_date: 2014-11\n", """        source_date: 2014-11
        attestation: {body: Example Cert, valid_until: 2026-12}
""", 1), "providers.yaml").providers[0]
    assert evidence_kind(attested, attested.claims[0], today) == "attested"  # valid all of December 2026
    assert evidence_kind(attested, attested.claims[0], dt.date(2027, 1, 1)) == "expired"
    assert expired(attested.claims[0], dt.date(2027, 1, 1)) and not expired(claim, today)
    assert last_day("2024-02") == dt.date(2024, 2, 29) and last_day("2025") == dt.date(2025, 12, 31)
    contradicted = parse_catalog(GOOD.replace("        source_date: 2014-11\n", """        source_date: 2014-11
        attestation: {body: Example Cert, valid_until: 2099}
        contradicted_by: {url: "https://scorecard.example.org/", note: "keys held by the provider"}
""", 1), "providers.yaml").providers[0]
    assert evidence_kind(contradicted, contradicted.claims[0], today) == "contradicted"  # outranks the attestation
