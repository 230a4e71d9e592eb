"""The provider-level findings drawn from the catalog and from the measured findings (pure).

`jurisdiction.company` reads the catalog only. `hosting.summary`, `transfer` and `trust_space` read the
measured findings (`hosting.location`, `dns.mx`, `tls.certificate`), so a provider measured from several
vantage points gets them computed once over the union of what every vantage saw (auditor/vantages.py).
"""

from __future__ import annotations

from auditor.campaign import CampaignTarget
from auditor.catalog import Provider
from auditor.findings import Finding, Status
from auditor.probes.jurisdiction import hosting_summary, jurisdiction_finding, transfer_finding
from auditor.probes.trust_space import trust_space_findings

# Read from the catalog alone: the same wherever the audit runs from.
CATALOG_CHECKS = frozenset({"jurisdiction.company"})
# Computed from the measured findings: recomputed when measured findings are combined.
DERIVED_CHECKS = frozenset({"hosting.summary", "transfer", "trust_space"})


def provider_findings(provider: Provider, measured: list[Finding]) -> list[Finding]:
    """The provider-level findings, first in a provider's result: catalog facts, then what the measured
    findings add up to.

    A bulk-campaign domain (auditor.campaign) has no catalog entry: who the company is and whether using it
    transfers data abroad are not applicable (`skip`, never an error that would read as a failure); where
    its servers are and its trust space come from the measurements."""
    if isinstance(provider, CampaignTarget):
        why = "not applicable: a bulk-campaign domain has no catalog entry (company, role, claims)"
        return [Finding(id="jurisdiction.company", subject=provider.id, status=Status.SKIP, value=None, summary=why),
                hosting_summary(provider, measured),
                Finding(id="transfer", subject=provider.id, status=Status.SKIP, value=None, summary=why),
                *trust_space_findings(provider, measured)]
    return [jurisdiction_finding(provider), hosting_summary(provider, measured),
            transfer_finding(provider, measured), *trust_space_findings(provider, measured)]
