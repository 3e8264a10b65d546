"""Composition root of the identity service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.auth.api import PUBLIC_METHODS, AuthApi, AuthInternalApi
from services.auth.config import AuthSettings
from services.auth.domain.keyring import KeyRing, new_signing_key
from services.auth.domain.service import IdentityService
from services.auth.storage.repository import SqlTransactions
from services.auth.storage.tables import metadata
from services.common.secrets import SecretBox
from services.common.server import Runtime, serve, start_runtime
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    auth_pb2.DESCRIPTOR.services_by_name["AuthInternalService"].full_name,
)


async def load_keyring(transactions: SqlTransactions) -> KeyRing:
    """The signing keys, with a first one made on first start."""
    async with transactions() as tx:
        keys = await tx.repo.signing_keys()
        if not keys:
            key = new_signing_key()
            await tx.repo.add_signing_key(key)
            keys = [key]
    return KeyRing(keys)


async def build_identity(runtime: Runtime) -> IdentityService:
    box = SecretBox(runtime.settings.secret_key, "auth-signing-keys")
    transactions = SqlTransactions(runtime.sessions, runtime.outbox, box)
    keyring = await load_keyring(transactions)
    return IdentityService(transactions, keyring, runtime.settings.token_ttl_seconds)


async def run(
    settings: AuthSettings, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    runtime = await start_runtime(settings.common, metadata, MIGRATIONS)
    try:
        identity = await build_identity(runtime)
    except BaseException:
        await runtime.close()
        raise

    async def local_jwks() -> list[dict[str, str]]:
        # Auth verifies its own tokens without a network hop.
        return identity.keyring.jwks()

    await serve(
        runtime,
        local_jwks,
        register=[
            lambda server: auth_pb2_grpc.add_AuthServiceServicer_to_server(
                AuthApi(identity, settings.directory), server
            ),
            lambda server: auth_pb2_grpc.add_AuthInternalServiceServicer_to_server(
                AuthInternalApi(identity), server
            ),
        ],
        service_names=SERVICE_NAMES,
        public_methods=PUBLIC_METHODS,
        ready=ready,
        stop=stop,
    )
