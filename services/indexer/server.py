"""Composition root of the indexer service.

Its domain RPCs are not built yet: it serves health and reflection, verifies tokens and owns its schema.
"""

from __future__ import annotations

from pathlib import Path

from services.common.config import CommonSettings
from services.common.server import Runtime, Service, auth_client, serve, start_service
from services.indexer.storage.tables import metadata

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"


async def build(runtime: Runtime) -> Service[None]:
    auth = auth_client(runtime)
    return Service(runtime, None, servicers=[], service_names=[], fetch_jwks=auth.fetch_jwks)


async def start(settings: CommonSettings) -> Service[None]:
    return await start_service(settings, metadata, MIGRATIONS, build)


async def run(settings: CommonSettings) -> None:
    await serve(await start(settings))
