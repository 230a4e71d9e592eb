"""The lab: an in-process Internet in a box on loopback (DNS, DNSSEC, SMTP STARTTLS, HTTPS, GeoIP).

    with Lab() as lab:
        settings = Settings(**lab.overrides())   # or: auditor scan $(lab.flags())
"""

from auditor.lab.runner import DEFAULT_PORT_MAP, Lab, default_catalogs, serve_forever

__all__ = ["DEFAULT_PORT_MAP", "Lab", "default_catalogs", "serve_forever"]
