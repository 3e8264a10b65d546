"""Composition root of the indexer service: its object index (PostgreSQL by default), the workspaces
service as the directory of who may read what, and the search API."""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.server import Runtime, Service, auth_client, serve, start_service
from services.common.tls import client_channel
from services.indexer.api import IndexerApi
from services.indexer.config import IndexerSettings
from services.indexer.domain.ports import ObjectIndex
from services.indexer.domain.search import IndexSearch
from services.indexer.storage.clients.workspaces import WorkspacesClient
from services.indexer.storage.pg_index import PgObjectIndex, search_engine
from services.indexer.storage.tables import metadata
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"].full_name,)


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


async def build(settings: IndexerSettings, runtime: Runtime) -> Service[IndexSearch]:
    auth = auth_client(runtime)
    workspaces_channel = client_channel(settings.workspaces_address, settings.common.tls)
    runtime.closers.append(workspaces_channel.close)
    directory = WorkspacesClient(workspaces_channel, auth)
    index = await object_index(settings, runtime)
    search = IndexSearch(index, directory, settings.common.secret_key)

    def add(server: grpc.aio.Server) -> None:
        # The crawl RPCs are not built yet: they answer UNIMPLEMENTED, as the generated base class does.
        api = IndexerApi(search)  # type: ignore[abstract]
        indexer_pb2_grpc.add_IndexerServiceServicer_to_server(api, server)

    return Service(runtime, search, servicers=[add], service_names=SERVICE_NAMES, fetch_jwks=auth.fetch_jwks)


async def start(settings: IndexerSettings) -> Service[IndexSearch]:
    async def build_it(runtime: Runtime) -> Service[IndexSearch]:
        return await build(settings, runtime)

    return await start_service(settings.common, metadata, MIGRATIONS, build_it)


async def run(settings: IndexerSettings) -> None:
    await serve(await start(settings))
