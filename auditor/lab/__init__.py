"""The lab: an in-process Internet in a box on loopback (DNS + DNSSEC, SMTP STARTTLS, HTTPS, GeoIP), no root.

    with Lab() as lab:                               # ~1 s; addresses 127.77.x.y, resolver 127.77.0.53:5353
        settings = Settings(**lab.overrides())       # or: auditor scan $(lab.flags())
        lab.mailbox, lab.requests                    # what SMTP and HTTP servers received

What the world contains comes from data, not code:
- the catalogs: providers.yaml (real providers) + auditor/lab/catalog.yaml (broken `.example` providers);
- auditor/lab/world.yaml: how each provider's servers behave (MX hosts, country, TLS, DNSSEC, MTA-STS,
  faults), each fact with its source or why it is modelled. New fault kinds register in `ca.CERT_FAULTS`,
  `dns_server.DNS_FAULTS`, or the signer's FAULTS (auditor/lab/signing.py).

Modules: ca (certificates), zones (zone tree + signing hook), dns_server, smtp_server, https_server,
raw_server (non-TLS app ports), tlsconf, geo (mmdb), world (catalog + overlay -> World), runner (Lab).
"""

from auditor.lab.runner import DEFAULT_PORT_MAP, Lab, default_catalogs, serve_forever

__all__ = ["DEFAULT_PORT_MAP", "Lab", "default_catalogs", "serve_forever"]
