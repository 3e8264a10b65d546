"""API key format and hashing.

A key reads `wio_<id>_<secret>`: the id finds the row, the secret is checked against an argon2id hash, so
the database never holds anything that works as a key.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.errors import DomainError, Reason

ID_BYTES = 9  # 12 url-safe characters
SECRET_BYTES = 32

# OWASP's argon2id minimum (19 MiB, 2 passes): the exchange happens once per token, not per request.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def new_api_key() -> tuple[str, str]:
    """A fresh (id, full key)."""
    key_id = secrets.token_urlsafe(ID_BYTES).replace("_", "x").replace("-", "y")
    return key_id, f"wio_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def split_api_key(api_key: str) -> tuple[str, str]:
    """The (id, secret) of a key, or API_KEY_INVALID for anything not shaped like one."""
    scheme, _, rest = api_key.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if scheme != "wio" or not key_id or not secret or len(key_id) > 32:
        raise DomainError(Reason.API_KEY_INVALID, "API key refused")
    return key_id, secret


def hash_api_key(api_key: str) -> str:
    return _hasher.hash(api_key)


def api_key_matches(api_key: str, secret_hash: str) -> bool:
    try:
        return _hasher.verify(secret_hash, api_key)
    except (VerificationError, InvalidHashError):
        return False
