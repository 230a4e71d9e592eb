"""Accountability (GDPR Art. 5(2)): sealed audits, the signed evidence bundle, and the tamper-evident history.

`items` lays an audit out as the bundle's files, `manifest` lists them with their SHA-256, `keys` signs
(Ed25519), `timestamp` asks a time-stamping authority (RFC 3161), `seal` records each audit's manifest in
the database's chain, `bundle` writes the zip and `verify` checks one offline. The format is documented in
docs/evidence.md.
"""
