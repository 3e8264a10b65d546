"""Composition root of the workspaces service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from services.common.clients import AuthClient
from services.common.s3 import S3Gateway
from services.common.server import Runtime, serve, start_runtime
from services.common.tls import client_channel
from services.workspaces.api import WorkspacesApi, WorkspacesInternalApi
from services.workspaces.config import WorkspacesSettings
from services.workspaces.domain.cache import CredentialCache, PlanCache
from services.workspaces.domain.service import WorkspacesService
from services.workspaces.events.memberships import MembershipMirror
from services.workspaces.events.subscribers import CacheEvictionFeed
from services.workspaces.storage.object_store import S3ObjectStore
from services.workspaces.storage.remote import IdentityClient, NodesClient
from services.workspaces.storage.repository import transactions
from services.workspaces.storage.revision_reads import SqlRevisionReads
from services.workspaces.storage.tables import metadata
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspacesService"].full_name,
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspacesInternalService"].full_name,
)


async def start(settings: WorkspacesSettings) -> tuple[Runtime, WorkspacesService, AuthClient]:
    common = settings.common
    runtime = await start_runtime(common, metadata, MIGRATIONS)
    auth_channel = client_channel(common.auth_address, common.tls)
    nodes_channel = client_channel(settings.nodes_address, common.tls)
    runtime.closers += [auth_channel.close, nodes_channel.close]
    auth = AuthClient(auth_channel, common.service_api_key)
    gateway = S3Gateway(timeout_seconds=settings.s3_timeout_seconds)

    async def close_s3() -> None:
        gateway.close()

    runtime.closers.append(close_s3)
    nodes, identity = NodesClient(nodes_channel, auth), IdentityClient(auth, auth_channel)
    cache, plans = CredentialCache(), PlanCache()
    memberships = MembershipMirror(runtime.nats, identity)
    revision_reads = SqlRevisionReads(common.database_url)
    runtime.closers.append(revision_reads.close)
    workspaces = WorkspacesService(
        transactions(runtime.sessions, runtime.outbox, runtime.read_sessions),
        nodes,
        identity,
        S3ObjectStore(gateway),
        memberships=memberships,
        cache=cache,
        plans=plans,
        read_revisions=revision_reads,
        credential_seconds=settings.credential_seconds,
    )
    eviction = CacheEvictionFeed(runtime.js, cache, plans, nodes)
    await memberships.start()
    runtime.closers.append(memberships.stop)
    await eviction.start()
    runtime.closers += [eviction.stop, workspaces.drain]
    return runtime, workspaces, auth


async def serve_workspaces(
    runtime: Runtime,
    workspaces: WorkspacesService,
    auth: AuthClient,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    def add_public(server: grpc.aio.Server) -> None:
        workspaces_pb2_grpc.add_WorkspacesServiceServicer_to_server(WorkspacesApi(workspaces), server)

    def add_internal(server: grpc.aio.Server) -> None:
        workspaces_pb2_grpc.add_WorkspacesInternalServiceServicer_to_server(
            WorkspacesInternalApi(workspaces), server
        )

    await serve(runtime, auth.fetch_jwks, [add_public, add_internal], SERVICE_NAMES, ready=ready, stop=stop)


async def run(settings: WorkspacesSettings) -> None:
    await serve_workspaces(*await start(settings))
