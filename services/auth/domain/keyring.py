"""Token signing keys: one active Ed25519 key, all known keys published as a JWKS."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.domain.models import SigningKey
from services.common.identity import Caller
from services.common.tokens import issue_token, public_jwk


def new_signing_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(kid=secrets.token_hex(8), private_pem=pem, created_at=datetime.now(UTC))


@dataclass
class KeyRing:
    keys: list[SigningKey]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")
        self._active = max(self.keys, key=lambda k: k.created_at)
        loaded = serialization.load_pem_private_key(self._active.private_pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError("signing key is not Ed25519")
        self._private = loaded

    def sign(self, caller: Caller, ttl_seconds: int) -> tuple[str, float]:
        return issue_token(self._private, self._active.kid, caller, ttl_seconds)

    def jwks(self) -> list[dict[str, str]]:
        found = []
        for key in self.keys:
            private = serialization.load_pem_private_key(key.private_pem, password=None)
            assert isinstance(private, Ed25519PrivateKey)
            found.append(public_jwk(key.kid, private.public_key()))
        return found
