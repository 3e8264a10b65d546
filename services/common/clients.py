"""Calls from one service to auth: its public keys, and this service's own access token."""

from __future__ import annotations

import asyncio
import time

import grpc

from services.common.errors import DomainError, Reason
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

CALL_TIMEOUT_SECONDS = 5.0


class AuthClient:
    def __init__(self, channel: grpc.aio.Channel, service_api_key: str) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._service_api_key = service_api_key
        self._token = ""
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def fetch_jwks(self) -> list[dict[str, str]]:
        response = await self._stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=CALL_TIMEOUT_SECONDS)
        return [
            {"kid": k.kid, "kty": k.kty, "crv": k.crv, "x": k.x, "alg": k.alg, "use": k.use}
            for k in response.keys
        ]

    async def service_token(self) -> str:
        """This service's token, exchanged again after two thirds of its lifetime."""
        if self._token and time.time() < self._refresh_at:
            return self._token
        async with self._lock:
            if self._token and time.time() < self._refresh_at:
                return self._token
            if not self._service_api_key:
                raise DomainError(Reason.DEPENDENCY_UNAVAILABLE, "this service has no credential for auth")
            issued = time.time()
            response = await self._stub.ExchangeApiKey(
                auth_pb2.ExchangeApiKeyRequest(api_key=self._service_api_key), timeout=CALL_TIMEOUT_SECONDS
            )
            lifetime = response.expires_at.seconds - issued
            self._token = response.access_token
            self._refresh_at = issued + max(lifetime * 2 / 3, 1.0)
            return self._token

    async def call_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {await self.service_token()}"),)

    async def lookup_user(self, query: str) -> auth_pb2.User:
        """An active user by username or email; NOT_FOUND as USER_NOT_FOUND."""
        try:
            response = await self._stub.LookupUser(
                auth_pb2.LookupUserRequest(query=query),
                metadata=await self.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc, Reason.USER_NOT_FOUND, f"no active user {query!r}") from exc
        return response.user

    async def get_group(self, name: str) -> auth_pb2.Group:
        try:
            response = await self._stub.GetGroup(
                auth_pb2.GetGroupRequest(name=name),
                metadata=await self.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc, Reason.GROUP_NOT_FOUND, f"no group {name!r}") from exc
        return response.group


def _translate(exc: grpc.aio.AioRpcError, not_found: Reason, message: str) -> DomainError:
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return DomainError(not_found, message)
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return DomainError(Reason.INVALID_ARGUMENT, exc.details() or message)
    return DomainError(Reason.DEPENDENCY_UNAVAILABLE, "the identity service did not answer")
