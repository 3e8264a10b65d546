"""Storage-event hook tokens: what a node's webhook presents to the gateway.

A token is 32 random bytes, so a fast hash is enough to store it (nobody can guess their way back from
SHA-256 of 256 random bits; slow hashes are for passwords people choose). It is shown once and only its
hash is kept; checks compare hashes in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "wioh_"
TOKEN_BYTES = 32
# Longer presented tokens are refused without hashing them.
MAX_TOKEN_LENGTH = 256
# Compared against when the node is unknown or has no token, so those take the same path as a wrong one.
_NO_HASH = hashlib.sha256(b"no hook token").hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def matches(token: str, stored_hash: str | None) -> bool:
    """Whether `token` is the one whose hash is stored; False for no stored hash or an empty token."""
    presented = hash_token(token[:MAX_TOKEN_LENGTH]) if token else _NO_HASH
    same = hmac.compare_digest(presented, stored_hash or _NO_HASH)
    return same and bool(token) and stored_hash is not None and len(token) <= MAX_TOKEN_LENGTH
