"""The audit history: SQLite storage of audits with their evidence (see `sqlite.py`), schema in `schema.py`.

The diff between two audits lives in `auditor.diff`: it is a pure function of two `Audit`s and needs no
database.
"""

from auditor.store.evidence import canonical_json, evidence_hash
from auditor.store.schema import SCHEMA_VERSION
from auditor.store.sqlite import AuditSummary, ChainLink, HistoryRow, Store

__all__ = ["SCHEMA_VERSION", "AuditSummary", "ChainLink", "HistoryRow", "Store", "canonical_json", "evidence_hash"]
