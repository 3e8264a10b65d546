"""Composition root of the identity service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from services.auth.api import PUBLIC_METHODS, AuthApi, AuthInternalApi
from services.auth.config import AuthSettings
from services.auth.domain.keyring import KeyRing, new_signing_key
from services.auth.domain.ports import Transactions
from services.auth.domain.service import IdentityService
from services.auth.storage.repository import transactions as make_transactions
from services.auth.storage.tables import metadata
from services.common.secrets import SecretBox
from services.common.server import Runtime, serve, start_runtime
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    auth_pb2.DESCRIPTOR.services_by_name["AuthInternalService"].full_name,
)


async def load_keyring(transactions: Transactions) -> KeyRing:
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
    transactions = make_transactions(runtime.sessions, runtime.outbox, box, runtime.read_sessions)
    keyring = await load_keyring(transactions)
    return IdentityService(transactions, keyring, runtime.settings.token_ttl_seconds)


async def start(settings: AuthSettings) -> tuple[Runtime, IdentityService]:
    runtime = await start_runtime(settings.common, metadata, MIGRATIONS)
    try:
        return runtime, await build_identity(runtime)
    except BaseException:
        await runtime.close()
        raise


async def serve_auth(
    settings: AuthSettings,
    runtime: Runtime,
    identity: IdentityService,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    async def local_jwks() -> list[dict[str, str]]:
        # Auth verifies its own tokens without a network hop.
        return identity.keyring.jwks()

    def add_public(server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthApi(identity, settings.directory), server)

    def add_internal(server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthInternalServiceServicer_to_server(AuthInternalApi(identity), server)

    await serve(
        runtime,
        local_jwks,
        register=[add_public, add_internal],
        service_names=SERVICE_NAMES,
        public_methods=PUBLIC_METHODS,
        ready=ready,
        stop=stop,
    )


async def run(settings: AuthSettings) -> None:
    runtime, identity = await start(settings)
    await serve_auth(settings, runtime, identity)
