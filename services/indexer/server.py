"""Composition root of the indexer service: its object index (PostgreSQL), its client of the workspaces
service, and the live updates from storage events with the reactions to workspace, root and node events.
"""

from __future__ import annotations

from pathlib import Path

from services.common.consumer import ConsumerSettings
from services.common.server import Runtime, Service, Subscriber, auth_client, serve, start_service
from services.common.tls import client_channel
from services.indexer.config import IndexerSettings, IngestConfig
from services.indexer.domain.locations import LocationMap
from services.indexer.domain.ports import ObjectIndex, WorkspacesDirectory
from services.indexer.events.ingest import ChangeApplier, ingest_consumer
from services.indexer.events.subscribers import (
    IndexerReactions,
    IndexerSubscribers,
    StartRootCrawl,
    TombstoneExpiry,
)
from services.indexer.storage.clients.workspaces import WorkspacesClient
from services.indexer.storage.pg_index import PgObjectIndex
from services.indexer.storage.tables import metadata

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"


def live_updates(
    runtime: Runtime,
    config: IngestConfig,
    index: ObjectIndex,
    directory: WorkspacesDirectory,
    start_root_crawl: StartRootCrawl | None,
) -> list[Subscriber]:
    """The ingest stream's consumer, the reactions to workspace/root/node events and tombstone expiry."""
    locations = LocationMap(directory, config.locations_refresh_seconds)
    applier = ChangeApplier(index, locations)
    consumer_settings = ConsumerSettings(
        batch=config.batch,
        concurrency=config.concurrency,
        max_deliver=config.max_deliver,
        ack_wait_seconds=config.ack_wait_seconds,
    )
    reactions = IndexerReactions(index, locations, start_root_crawl)
    return [
        IndexerSubscribers(runtime.js, reactions, runtime.settings.stream_wait_seconds),
        ingest_consumer(runtime.js, applier, consumer_settings),
        TombstoneExpiry(index, config.tombstone_seconds, config.tombstone_sweep_seconds),
    ]


async def build(runtime: Runtime, settings: IndexerSettings) -> Service[None]:
    auth = auth_client(runtime)
    channel = client_channel(settings.workspaces_address, runtime.settings.tls)
    runtime.closers.append(channel.close)
    index = PgObjectIndex(runtime.engine, runtime.read_engine)
    runtime.closers.append(index.close)
    directory = WorkspacesClient(channel, auth)
    # The crawl of an imported root: the crawler's crawl_root, once the crawler is composed here.
    start_root_crawl: StartRootCrawl | None = None
    subscribers = live_updates(runtime, settings.ingest, index, directory, start_root_crawl)
    return Service(
        runtime, None, servicers=[], service_names=[], fetch_jwks=auth.fetch_jwks, subscribers=subscribers
    )


async def start(settings: IndexerSettings) -> Service[None]:
    async def composed(runtime: Runtime) -> Service[None]:
        return await build(runtime, settings)

    return await start_service(settings.common, metadata, MIGRATIONS, composed)


async def run(settings: IndexerSettings) -> None:
    await serve(await start(settings))
