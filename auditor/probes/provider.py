"""The provider-level findings drawn from the catalog and from the measured findings (pure).

`jurisdiction.company` reads the catalog only. `hosting.summary`, `transfer` and `trust_space` read the
measured findings (`hosting.location`, `dns.mx`, `tls.certificate`), so a provider measured from several
vantage points gets them computed once over the union of what every vantage saw (auditor/vantages.py).
"""

from __future__ import annotations

from auditor.catalog import Provider
from auditor.findings import Finding
from auditor.probes.jurisdiction import hosting_summary, jurisdiction_finding, transfer_finding
from auditor.probes.trust_space import trust_space_findings

# Read from the catalog alone: the same wherever the audit runs from.
CATALOG_CHECKS = frozenset({"jurisdiction.company"})
# Computed from the measured findings: recomputed when measured findings are combined.
DERIVED_CHECKS = frozenset({"hosting.summary", "transfer", "trust_space"})


def provider_findings(provider: Provider, measured: list[Finding]) -> list[Finding]:
    """The provider-level findings, first in a provider's result: catalog facts, then what the measured
    findings add up to."""
    return [jurisdiction_finding(provider), hosting_summary(provider, measured),
            transfer_finding(provider, measured), *trust_space_findings(provider, measured)]
