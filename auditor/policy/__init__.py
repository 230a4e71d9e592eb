"""Pure rule engines for mail transport security: MTA-STS, TLS-RPT, SPF, DMARC and TLS grading.

Every module here takes strings or bytes (or, for the SPF lookup budget, injected async lookup
callables) and returns typed results; none touches the network, the clock or the filesystem apart
from reading the package's own data files. Parsers never raise on hostile input: problems come back
as human sentences in the result's `errors` (which make it invalid) and `warnings` (which do not).

`DnsLookupFailed` is the one exception type this package defines: injected lookups may raise it (or
any other `LookupError`) to signal a resolver failure, which is reported as a temporary error and
never as "no record".
"""

from __future__ import annotations


class DnsLookupFailed(LookupError):
    """A resolver failure (SERVFAIL, timeout, refused): the answer is unknown, not empty."""


__all__ = ["DnsLookupFailed"]
