"""Encryption at rest for secrets a service must be able to read back (signing keys, node secrets).

AES-256-GCM with a key derived from WIO_SECRET_KEY per purpose, so one leaked ciphertext type does not
help with another. A secret kept in a row is also bound to that row (`bound_to`, e.g. its id and field,
as associated data): a ciphertext copied into another row, or another field, does not decrypt there.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.common.config import ConfigError

NONCE_BYTES = 12


class SecretUnreadable(ConfigError):
    """A stored secret does not decrypt with this key for this record."""


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        if len(secret_key) < 16:
            raise ConfigError("WIO_SECRET_KEY is too short (at least 16 characters)")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"wio:{purpose}".encode()).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)
        self._purpose = purpose.encode()

    def _associated(self, bound_to: str) -> bytes:
        return self._purpose + (b"\0" + bound_to.encode() if bound_to else b"")

    def seal(self, plaintext: bytes, bound_to: str = "") -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._associated(bound_to))

    def open(self, sealed: bytes, bound_to: str = "") -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._associated(bound_to))
        except InvalidTag as exc:
            raise SecretUnreadable(
                "cannot decrypt a stored secret: WIO_SECRET_KEY changed, or the ciphertext does not "
                "belong to this record"
            ) from exc
