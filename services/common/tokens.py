"""Access tokens: EdDSA-signed JWTs issued by auth, verified locally everywhere else.

Verifiers fetch auth's public keys (JWKS) once and again only for an unknown key id, so no request costs a
call to auth. A deny list fed by wio.auth.user.disabled and wio.auth.apikey.revoked events refuses tokens
of disabled users and revoked keys before they expire.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from services.common.errors import DomainError, Reason
from services.common.identity import Caller

ISSUER = "wio-auth"
AUDIENCE = "wio"
ALGORITHM = "EdDSA"
# Clocks on one deployment may drift a little.
LEEWAY_SECONDS = 5

JwksFetcher = Callable[[], Awaitable[list[dict[str, str]]]]


def public_jwk(kid: str, public_key: Ed25519PublicKey) -> dict[str, str]:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return {"kid": kid, "kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "alg": ALGORITHM, "use": "sig"}


def issue_token(
    private_key: Ed25519PrivateKey, kid: str, caller: Caller, ttl_seconds: int, now: float | None = None
) -> tuple[str, float]:
    """A signed token for `caller`; answers the token and its expiry (epoch seconds)."""
    issued = int(now if now is not None else time.time())
    expires = issued + ttl_seconds
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": caller.user_id,
        "name": caller.username,
        "role": caller.role,
        "akid": caller.api_key_id,
        "iat": issued,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid})
    return token, float(expires)


@dataclass
class DenyList:
    """Users disabled and API keys revoked, kept in memory from auth's events."""

    users: set[str] = field(default_factory=set)
    api_keys: set[str] = field(default_factory=set)

    def deny_user(self, user_id: str) -> None:
        self.users.add(user_id)

    def deny_api_key(self, api_key_id: str) -> None:
        self.api_keys.add(api_key_id)

    def refuses(self, caller: Caller) -> bool:
        return caller.user_id in self.users or (
            bool(caller.api_key_id) and caller.api_key_id in self.api_keys
        )


class TokenVerifier:
    """Checks signature, issuer, audience and expiry, then the deny list.

    A client sends the same token with every call until it expires, so a token whose signature was checked
    is remembered (by its exact text) until its expiry; the deny list is still consulted on every call.
    """

    MAX_REMEMBERED = 10_000

    def __init__(self, fetch_jwks: JwksFetcher, deny_list: DenyList, refetch_interval: float = 30.0) -> None:
        self._fetch_jwks = fetch_jwks
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._verified: dict[str, tuple[Caller, float]] = {}  # token -> (caller, expiry, epoch seconds)
        self._last_fetch = 0.0
        self._refetch_interval = refetch_interval
        self._lock = asyncio.Lock()
        self.deny_list = deny_list

    async def _key(self, kid: str) -> Ed25519PublicKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # An unknown kid may be a rotated key: refetch, but not more often than the interval.
            if kid not in self._keys and time.monotonic() - self._last_fetch >= self._refetch_interval:
                try:
                    jwks = await self._fetch_jwks()
                except Exception as exc:
                    raise DomainError(
                        Reason.DEPENDENCY_UNAVAILABLE, "cannot fetch token keys from auth"
                    ) from exc
                self._last_fetch = time.monotonic()
                keys: dict[str, Ed25519PublicKey] = {}
                for k in jwks:
                    if k.get("kty") != "OKP":
                        continue
                    public = OKPAlgorithm.from_jwk({"kty": k["kty"], "crv": k["crv"], "x": k["x"]})
                    if isinstance(public, Ed25519PublicKey):
                        keys[k["kid"]] = public
                self._keys = keys
                # A key that left the set no longer vouches for anything it signed.
                self._verified.clear()
        key = self._keys.get(kid)
        if key is None:
            raise DomainError(Reason.TOKEN_INVALID, "access token signed by an unknown key")
        return key

    async def verify(self, token: str) -> Caller:
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            caller = remembered[0]
        else:
            caller = await self._check_signed(token)
        if self.deny_list.refuses(caller):
            raise DomainError(
                Reason.TOKEN_REVOKED, "access token revoked: the user is disabled or the key revoked"
            )
        return caller

    async def _check_signed(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise DomainError(Reason.TOKEN_INVALID, "malformed access token") from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise DomainError(Reason.TOKEN_INVALID, "access token has an unexpected algorithm or key id")
        key = await self._key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise DomainError(
                Reason.TOKEN_EXPIRED, "access token expired; exchange your API key again"
            ) from exc
        except jwt.PyJWTError as exc:
            raise DomainError(Reason.TOKEN_INVALID, "access token refused") from exc
        caller = Caller(
            user_id=str(claims["sub"]),
            username=str(claims.get("name", "")),
            role=str(claims.get("role", "")),
            api_key_id=str(claims.get("akid", "")),
        )
        self._remember(token, caller, float(claims["exp"]))
        return caller

    def _remember(self, token: str, caller: Caller, expires: float) -> None:
        if len(self._verified) >= self.MAX_REMEMBERED:
            now = time.time()
            self._verified = {k: v for k, v in self._verified.items() if now < v[1]}
            if len(self._verified) >= self.MAX_REMEMBERED:
                self._verified.clear()
        self._verified[token] = (caller, expires)
