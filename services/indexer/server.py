"""Composition root of the indexer service: its object index (PostgreSQL by default), the workspaces
service as the directory of who may read what, the search API, and the crawls with their schedule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from services.common.consumer import ConsumerSettings
from services.common.server import Runtime, Service, Subscriber, auth_client, serve, start_service
from services.common.tls import client_channel
from services.indexer.api import IndexerApi
from services.indexer.config import IndexerSettings, IngestConfig
from services.indexer.domain.crawl import Crawler, CrawlSettings
from services.indexer.domain.locations import LocationMap
from services.indexer.domain.ports import ObjectIndex, WorkspacesDirectory
from services.indexer.domain.schedule import CrawlSchedule
from services.indexer.domain.search import IndexSearch, ReadableCache
from services.indexer.domain.status import IndexStatusReader
from services.indexer.events.ingest import ApplyMany, ChangeApplier, ingest_consumer
from services.indexer.events.subscribers import (
    IndexerReactions,
    IndexerSubscribers,
    StartRootCrawl,
    TombstoneExpiry,
)
from services.indexer.storage.clients.workspaces import WorkspacesClient
from services.indexer.storage.crawl_records import SqlCrawlRecords, events_writer
from services.indexer.storage.ledger import PgCrawlLedger
from services.indexer.storage.lister import MinioLister
from services.indexer.storage.pg_apply import PgBatchApplier
from services.indexer.storage.pg_index import PgObjectIndex, search_engine
from services.indexer.storage.tables import metadata
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"].full_name,)


@dataclass(frozen=True)
class Indexer:
    """The indexer's use cases: search and totals, and the crawls (`crawler.crawl_root(root_id)` is how an
    import starts its first crawl)."""

    search: IndexSearch
    crawler: Crawler


async def object_index(settings: IndexerSettings, runtime: Runtime) -> ObjectIndex:
    """The backend WIO_INDEXER_BACKEND names; the one place that chooses."""
    index: ObjectIndex
    if settings.backend == "elasticsearch" and settings.elastic is not None:
        # Imported here: the PostgreSQL backend never loads the Elasticsearch client. Its templates and
        # indices are put in place now, so a server that is down or refuses them stops the start.
        from services.indexer.storage.elastic import open_elastic_index

        index = await open_elastic_index(settings.elastic)
    else:
        reads = search_engine(settings.common.database_url)
        runtime.closers.append(reads.dispose)
        index = PgObjectIndex(runtime.engine, reads)
    runtime.closers.append(index.close)
    return index


def crawler_for(
    settings: IndexerSettings, runtime: Runtime, index: ObjectIndex, directory: WorkspacesClient
) -> tuple[Crawler, SqlCrawlRecords]:
    crawl = settings.crawl
    ledger = PgCrawlLedger(runtime.engine)
    lister = MinioLister(crawl.networks, crawl.page_size, crawl.queue_pages, crawl.s3_timeout_seconds)

    async def close_lister() -> None:
        lister.close()

    runtime.closers.append(close_lister)
    records = SqlCrawlRecords(runtime.read_engine, ledger)
    crawler = Crawler(
        index,
        ledger,
        directory,
        lister,
        records,
        events_writer(runtime.sessions, runtime.outbox),
        CrawlSettings(checkpoint_pages=crawl.checkpoint_pages, writers=crawl.writers),
    )
    return crawler, records


def live_updates(
    runtime: Runtime,
    config: IngestConfig,
    index: ObjectIndex,
    directory: WorkspacesDirectory,
    start_root_crawl: StartRootCrawl | None,
    apply_many: ApplyMany | None = None,
) -> list[Subscriber]:
    """The ingest stream's consumer, the reactions to workspace/root/node events and tombstone expiry.
    `apply_many` writes the changes that arrive together in one transaction."""
    locations = LocationMap(directory, config.locations_refresh_seconds)
    consumer_settings = ConsumerSettings(
        batch=config.batch,
        concurrency=config.concurrency,
        max_deliver=config.max_deliver,
        ack_wait_seconds=config.ack_wait_seconds,
    )
    reactions = IndexerReactions(index, locations, start_root_crawl)
    return [
        IndexerSubscribers(runtime.js, reactions, runtime.settings.stream_wait_seconds),
        ingest_consumer(runtime.js, ChangeApplier(index, locations, apply_many), consumer_settings),
        TombstoneExpiry(index, config.tombstone_seconds, config.tombstone_sweep_seconds),
    ]


async def build(settings: IndexerSettings, runtime: Runtime) -> Service[Indexer]:
    auth = auth_client(runtime)
    workspaces_channel = client_channel(settings.workspaces_address, settings.common.tls)
    runtime.closers.append(workspaces_channel.close)
    directory = WorkspacesClient(workspaces_channel, auth)
    index = await object_index(settings, runtime)
    # One cache of what each caller can read, shared by search and status (one revision check each).
    readable = ReadableCache(directory)
    search = IndexSearch(index, readable, settings.common.secret_key)
    crawler, records = crawler_for(settings, runtime, index, directory)
    status = IndexStatusReader(readable.readable, index, records, crawler)
    # A subscriber: started after the storage it uses, stopped before it. It resumes unfinished crawls
    # at once, then now and then, and verifies roots when due.
    crawl = settings.crawl
    schedule = CrawlSchedule(crawler, records.roots_due, crawl.verify_interval_seconds, crawl.retry_seconds)

    def add(server: grpc.aio.Server) -> None:
        indexer_pb2_grpc.add_IndexerServiceServicer_to_server(IndexerApi(search, crawler, status), server)

    async def crawl_imported_root(root_id: str) -> object:
        return await crawler.crawl_root(root_id)

    # Grouped writes of storage events are PostgreSQL's; another backend applies them one by one.
    apply_many = PgBatchApplier(runtime.engine) if isinstance(index, PgObjectIndex) else None
    live = live_updates(runtime, settings.ingest, index, directory, crawl_imported_root, apply_many)
    return Service(
        runtime,
        Indexer(search, crawler),
        servicers=[add],
        service_names=SERVICE_NAMES,
        fetch_jwks=auth.fetch_jwks,
        subscribers=[schedule, *live],
    )


async def start(settings: IndexerSettings) -> Service[Indexer]:
    async def build_it(runtime: Runtime) -> Service[Indexer]:
        return await build(settings, runtime)

    return await start_service(settings.common, metadata, MIGRATIONS, build_it)


async def run(settings: IndexerSettings) -> None:
    await serve(await start(settings))
