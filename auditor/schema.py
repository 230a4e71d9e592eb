"""The JSON Schema of the audit document (CHECKS.md), generated from the models and shipped in the package.

`make schema` regenerates `auditor/data/audit.schema.json`; a test fails when the shipped file drifts from the
models, and every document we write is validated against the shipped file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from auditor.findings import SCHEMA_ID, Audit, ProviderResult
from auditor.jsontext import part_text, spliced

SCHEMA_FILE = Path(__file__).parent / "data" / "audit.schema.json"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    # A finding with status `error` has no value: every value may be null.
    return {"anyOf": [schema, {"type": "null"}]}


_STR_LIST = {"type": "array", "items": {"type": "string"}}
_REGION = {"enum": ["EU", "EEA", "adequacy", "third_country", "unknown"]}
# An adequacy decision as findings carry it (auditor.regions.AdequacyDecision.record), or null.
_DECISION = {"anyOf": [{"type": "null"}, {
    "type": "object", "required": ["id", "reference", "date", "url", "certain"],
    "properties": {"id": {"type": "string"}, "reference": {"type": "string"}, "date": {"type": "string"},
                   "valid_until": {"type": ["string", "null"]}, "url": {"type": "string"},
                   "condition": {"type": ["string", "null"]},
                   "scope": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["fr", "en"]}]},
                   "scope_source": {"type": ["string", "null"]}, "certain": {"type": "boolean"},
                   "source": {"type": ["string", "null"]}}}]}

# The `value` of each check id, as CHECKS.md defines it (the public contract).
VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "dns.mx": _STR_LIST,
    "dns.dnssec": {"enum": ["secure", "insecure", "bogus", "indeterminate"]},
    "smtp.starttls": {"type": "boolean"},
    "tls.protocols": {"type": "array", "items": {"enum": ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2",
                                                         "TLSv1.3"]}},
    "tls.ciphers": {"type": "object", "required": ["forward_secrecy", "aead_only", "weak"],
                    "properties": {"forward_secrecy": {"type": "boolean"}, "aead_only": {"type": "boolean"},
                                   "weak": _STR_LIST}},
    # `anchor`: which anchor validated the chain ("public" bundle, a trust space's PKI id, or null); for a server
    # of a trust space, `trust_space` and `space_anchor` (the space's PKI validates it)
    "tls.certificate": {"type": "object", "required": ["trusted", "hostname_match", "expired", "not_after", "key"],
                        "properties": {"trusted": {"type": "boolean"}, "hostname_match": {"type": "boolean"},
                                       "expired": {"type": "boolean"}, "not_after": {"type": "string"},
                                       "key": {"type": "string"}, "anchor": {"type": ["string", "null"]},
                                       "trust_space": {"type": "string"}, "space_anchor": {"type": "boolean"}}},
    "trust_space": {"type": "object", "required": ["space", "pki", "domains", "anchored", "not_anchored"],
                    "properties": {"space": {"type": "string"}, "pki": {"type": "string"}, "domains": _STR_LIST,
                                   "anchored": {"type": ["boolean", "null"]}, "not_anchored": _STR_LIST}},
    "mta_sts": {"type": "object", "required": ["published", "mode", "valid", "mx_covered", "max_age", "errors"],
                "properties": {"published": {"type": "boolean"}, "mode": {"enum": ["enforce", "testing", "none", None]},
                               "valid": {"type": "boolean"}, "mx_covered": {"type": ["boolean", "null"]},
                               "max_age": {"type": ["integer", "null"]}, "errors": _STR_LIST}},
    "tlsrpt": {"type": "object", "required": ["present", "valid", "rua"],
               "properties": {"present": {"type": "boolean"}, "valid": {"type": "boolean"}, "rua": _STR_LIST}},
    "dane": {"enum": ["valid", "mismatch", "not_usable", "none"]},
    "spf": {"type": "object", "required": ["record", "all", "lookups", "errors"],
            "properties": {"record": {"type": ["string", "null"]},
                           "all": {"enum": ["-all", "~all", "?all", "+all", None]},
                           "lookups": {"type": "integer"}, "errors": _STR_LIST}},
    # `pct` is removed by RFC 9989: always null since schema 1 documents written by this version (kept for
    # readers of older documents); `testing` is t=y (test mode, not enforcement)
    "dmarc": {"type": "object", "required": ["record", "policy", "pct"],
              "properties": {"record": {"type": ["string", "null"]},
                             "policy": {"enum": ["reject", "quarantine", "none", None]},
                             "pct": {"type": ["integer", "null"]}, "testing": {"type": ["boolean", "null"]},
                             "subdomain_policy": {"enum": ["reject", "quarantine", "none", None]},
                             "np": {"enum": ["reject", "quarantine", "none", None]}}},
    "https.hsts": {"type": "object", "required": ["max_age", "include_subdomains", "preload"],
                   "properties": {"max_age": {"type": "integer"}, "include_subdomains": {"type": "boolean"},
                                  "preload": {"type": "boolean"}}},
    "hosting.location": {"type": "object", "required": ["ip", "country", "region", "asn", "org", "sources"],
                         "properties": {"ip": {"type": "string"}, "country": {"type": ["string", "null"]},
                                        "region": _REGION, "asn": {"type": ["integer", "null"]},
                                        "org": {"type": ["string", "null"]}, "sources": {"type": "array"},
                                        "decision": _DECISION}},
    # countries / outside_*: data-carrying servers only (auditor/probes/roles.py); roles: role -> countries of
    # every located host; informational: hosts that carry no personal data (public website, MTA-STS policy host)
    "hosting.summary": {"type": "object", "required": ["countries", "outside_eu_eea", "outside_adequacy"],
                        "properties": {"countries": _STR_LIST, "outside_eu_eea": _STR_LIST,
                                       "outside_adequacy": _STR_LIST, "roles": {"type": "object"},
                                       "informational": {"type": "object",
                                                         "properties": {"countries": _STR_LIST,
                                                                        "outside_eu_eea": _STR_LIST,
                                                                        "hosts": _STR_LIST}}}},
    # GDPR Chapter V: the importer (the provider's company) and data-carrying destinations outside the EU/EEA
    "transfer": {"type": "object",
                 "required": ["importer", "destinations", "outside_eu_eea", "outside_adequacy", "mechanism"],
                 "properties": {"importer": {"type": "object", "required": ["country", "region", "decision"],
                                             "properties": {"country": {"type": ["string", "null"]},
                                                            "region": _REGION, "decision": _DECISION}},
                                "destinations": {"type": "array", "items": {
                                    "type": "object", "required": ["country", "region", "roles", "decision"],
                                    "properties": {"country": {"type": "string"}, "region": _REGION,
                                                   "roles": _STR_LIST, "decision": _DECISION}}},
                                "outside_eu_eea": _STR_LIST, "outside_adequacy": _STR_LIST,
                                "mechanism": {"enum": ["none", "adequacy", "safeguards", "unknown"]},
                                "group_abroad": _STR_LIST}},
    # access_laws: ids of auditor/data/access_laws.yaml reaching the provider; foreign_access: those scored;
    # unassessed: countries of establishment outside the EU/EEA with no access-law data; decision: the adequacy
    # decision of the company's country (DECISION), if it relies on one
    "jurisdiction.company": {"type": "object", "required": ["country", "region", "notes"],
                             "properties": {"country": {"type": ["string", "null"]}, "region": _REGION,
                                            "notes": _STR_LIST, "parent_country": {"type": ["string", "null"]},
                                            "parent_known": {"type": "boolean"}, "presence": _STR_LIST,
                                            "access_laws": _STR_LIST, "foreign_access": _STR_LIST,
                                            "unassessed": _STR_LIST, "decision": _DECISION,
                                            "role": {"enum": ["processor", "controller", None]}}},
}
CLAIM_VALUE = {"type": "object", "required": ["claimed", "evidence_url", "verified", "checked_at", "sha256"],
               "properties": {"claimed": {"type": ["boolean", "null"]}, "evidence_url": {"type": ["string", "null"]},
                              "verified": {"type": ["boolean", "null"]}, "checked_at": {"type": ["string", "null"]},
                              "sha256": {"type": ["string", "null"]}}}


def _value_rules() -> list[dict[str, Any]]:
    rules = [{"if": {"properties": {"id": {"const": check}}},
              "then": {"properties": {"value": _nullable(schema)}}} for check, schema in VALUE_SCHEMAS.items()]
    rules.append({"if": {"properties": {"id": {"pattern": "^claim\\."}}},
                  "then": {"properties": {"value": _nullable(CLAIM_VALUE)}}})
    return rules


def generate_schema() -> dict[str, Any]:
    schema = Audit.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://auditor.invalid/schema/{SCHEMA_ID}"
    schema["title"] = "auditor audit document"
    schema["properties"]["schema"]["const"] = SCHEMA_ID
    schema["$defs"]["Finding"]["allOf"] = _value_rules()
    return schema


@cache
def shipped_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def validate_document(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the document does not follow the shipped schema."""
    jsonschema.validate(document, shipped_schema(), cls=jsonschema.Draft202012Validator)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    # Built once: `jsonschema.validate` checks the schema itself on every call, once per provider here.
    return jsonschema.Draft202012Validator(shipped_schema())


def _validate_part(document: dict[str, Any]) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        raise error


def audit_document(audit: Audit) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(audit.to_json())
    validate_document(document)
    return document


def document_text(header: Audit, providers: Iterable[ProviderResult]) -> Iterator[str]:
    """The audit's JSON document as `json.dumps(audit_document(audit), indent=2, ensure_ascii=False) + "\n"`
    writes it, piece by piece: `header` is the audit without its providers, which come one at a time (a
    campaign's, read back from the store). Each provider is validated against the shipped schema inside the
    header, so what is written is what validating the whole document would have accepted (the schema has no
    rule across providers) while only one provider is held."""
    head: dict[str, Any] = json.loads(header.model_copy(update={"providers": []}).to_json())
    _validate_part(head)

    def parts() -> Iterator[str]:
        for result in providers:
            part = json.loads(result.model_dump_json(by_alias=True))
            _validate_part({**head, "providers": [part]})
            yield part_text(part, sort_keys=False)

    yield from spliced(head, "providers", parts(), sort_keys=False)


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(generate_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(SCHEMA_FILE)
