"""Composition root of the identity service."""

from __future__ import annotations

from pathlib import Path

import grpc

from services.auth.api import PUBLIC_METHODS, AuthApi, AuthInternalApi
from services.auth.config import AuthSettings
from services.auth.domain.guard import FailureLimiter, KeyChecker
from services.auth.domain.keyring import KeyRing, new_signing_key
from services.auth.domain.ports import Transactions
from services.auth.domain.service import IdentityService
from services.auth.storage.repository import transactions as make_transactions
from services.auth.storage.tables import metadata
from services.common.secrets import SecretBox
from services.common.server import Runtime, Service, serve, start_service
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


async def build(settings: AuthSettings, runtime: Runtime) -> Service[IdentityService]:
    box = SecretBox(runtime.settings.secret_key, "auth-signing-keys")
    transactions = make_transactions(runtime.sessions, runtime.outbox, box, runtime.read_sessions)
    keyring = await load_keyring(transactions)
    checker = KeyChecker(settings.hash_threads, settings.hash_max_waiting)

    async def close_checker() -> None:
        checker.close()

    runtime.closers.append(close_checker)
    limiter = FailureLimiter(settings.exchange_max_failures, settings.exchange_window_seconds)
    identity = IdentityService(
        transactions,
        keyring,
        runtime.settings.token_ttl_seconds,
        checker,
        limiter,
        page_secret=runtime.settings.secret_key,
    )

    async def local_jwks() -> list[dict[str, str]]:
        # Auth verifies its own tokens without a network hop.
        return identity.keyring.jwks()

    def add_public(server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthApi(identity, settings.directory), server)

    def add_internal(server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthInternalServiceServicer_to_server(AuthInternalApi(identity), server)

    return Service(
        runtime,
        identity,
        servicers=[add_public, add_internal],
        service_names=SERVICE_NAMES,
        fetch_jwks=local_jwks,
        public_methods=PUBLIC_METHODS,
    )


async def start(settings: AuthSettings) -> Service[IdentityService]:
    return await start_service(
        settings.common, metadata, MIGRATIONS, lambda runtime: build(settings, runtime)
    )


async def run(settings: AuthSettings) -> None:
    await serve(await start(settings))
