"""Composition root of the indexer service.

Its domain RPCs are not built yet: it serves health and reflection, verifies tokens and owns its schema.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.common.config import CommonSettings
from services.common.server import run_service
from services.indexer.storage.tables import metadata

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"


async def run(
    settings: CommonSettings, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    await run_service(settings, metadata, MIGRATIONS, register=[], service_names=[], ready=ready, stop=stop)
