"""The Ed25519 key that signs every sealed audit and prune record (`cryptography`).

Created on first use, 0600, next to the database (`<db>.signing-key`) unless the setting `signing_key` names
another file: one key per audit history. Its fingerprint (SHA-256 of the raw 32-byte public key) is what a DPO
gives a client or a regulator, in the report and with every bundle, so that a bundle can be checked against
the key rather than against the public key it carries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditor.errors import ConfigError
from auditor.files import FILE_MODE, private_dir
from auditor.settings import Settings

KEY_SUFFIX = ".signing-key"
MAX_KEY_FILE = 16 * 1024


def key_path(settings: Settings) -> Path:
    """Where the signing key of `settings.db` lives."""
    if settings.signing_key is not None:
        return settings.signing_key.expanduser()
    db = settings.db.expanduser()
    return db.with_name(db.name + KEY_SUFFIX)


def _read(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            raise ConfigError(f"{path}: too large for {what}; pass the right file")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from exc


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "the signing key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc}); move it aside to create a new "
                          "key, or set signing_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: a {type(key).__name__}, not an Ed25519 key; move it aside or set signing_key")
    return key


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key at `path`, created (0600, its directory 0700) when there is none. Two processes creating it at
    once end with one key: the file is created exclusively, and the loser reads the winner's."""
    if path.exists():
        return load_private(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return load_private(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the signing key ({exc.strerror}); set signing_key") from exc
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(pem)
    return key


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_hex: str) -> str:
    """`SHA256:` and the SHA-256 of the raw public key in groups of four hex digits (readable over the phone)."""
    digest = hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()
    return "SHA256:" + " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def public_pem(public_hex: str) -> bytes:
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_public(data: bytes, origin: str) -> str:
    """The raw public key (hex) of a PEM public key (or of the private key, for its owner's convenience)."""
    try:
        if b"PRIVATE KEY" in data:
            key: object = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{origin}: not a PEM public key ({str(exc)[:120]})") from exc
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise ConfigError(f"{origin}: a {type(key).__name__}, not an Ed25519 key")
    return raw_public(key).hex()


def load_public(path: Path) -> str:
    return parse_public(_read(path, "the public key"), str(path))


class Signer:
    """Signs link bodies with one key; what the store calls when it seals an audit or records a prune."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_hex = raw_public(key).hex()

    @classmethod
    def for_settings(cls, settings: Settings) -> Signer:
        return cls(load_or_create(key_path(settings)))

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self._key.sign(body)).decode()


def verify(public_hex: str, body: bytes, signature_b64: str) -> bool:
    """Whether `signature_b64` is `public_hex`'s Ed25519 signature of `body`; False for anything malformed."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(base64.b64decode(signature_b64.strip(), validate=True), body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
