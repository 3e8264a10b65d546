"""Encryption at rest for secrets a service must be able to read back (signing keys, node secrets).

AES-256-GCM with a key derived from WIO_SECRET_KEY per purpose, so one leaked ciphertext type does not
help with another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.common.config import ConfigError

NONCE_BYTES = 12


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        if len(secret_key) < 16:
            raise ConfigError("WIO_SECRET_KEY is too short (at least 16 characters)")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"wio:{purpose}".encode()).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)
        self._purpose = purpose.encode()

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._purpose)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._purpose)
        except InvalidTag as exc:
            raise ConfigError("cannot decrypt a stored secret: was WIO_SECRET_KEY changed?") from exc
