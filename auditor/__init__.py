"""auditor: audit messaging providers for GDPR transport security, hosting and claims."""

__version__ = "0.1.0"
