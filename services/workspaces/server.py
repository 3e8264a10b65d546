"""Composition root of the workspaces service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc

from services.common.driver_reads import DriverConnections
from services.common.s3 import S3Gateway
from services.common.server import Runtime, Service, auth_client, job_runner, serve, start_service
from services.common.tls import client_channel
from services.workspaces.api import WorkspacesApi, WorkspacesInternalApi
from services.workspaces.config import WorkspacesSettings
from services.workspaces.domain.cache import CredentialCache, PlanCache
from services.workspaces.domain.jobs import WorkspaceJobs
from services.workspaces.domain.service import WorkspacesService
from services.workspaces.events.memberships import MembershipMirror
from services.workspaces.events.subscribers import CacheEvictionFeed
from services.workspaces.storage.clients.identity import IdentityClient
from services.workspaces.storage.clients.nodes import NodesClient
from services.workspaces.storage.reads import SqlCandidateReads, SqlRevisionReads
from services.workspaces.storage.repository import transactions
from services.workspaces.storage.s3 import S3ObjectStore
from services.workspaces.storage.tables import jobs, metadata
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
# Connections kept open for the candidates of concurrent resolutions; the revisions need one, as they
# are read one query at a time however many requests wait (domain/revisions.py).
CANDIDATE_READ_CONNECTIONS = 4
SERVICE_NAMES = (
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspacesService"].full_name,
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspacesInternalService"].full_name,
)


async def build(settings: WorkspacesSettings, runtime: Runtime) -> Service[WorkspacesService]:
    common = settings.common
    auth = auth_client(runtime)
    nodes_channel = client_channel(settings.nodes_address, common.tls)
    runtime.closers.append(nodes_channel.close)
    gateway = S3Gateway(timeout_seconds=settings.s3_timeout_seconds)

    async def close_gateway() -> None:
        gateway.close()

    runtime.closers.append(close_gateway)
    nodes, identity = NodesClient(nodes_channel, auth), IdentityClient(auth, auth.channel)
    cache, plans = CredentialCache(), PlanCache()
    memberships = MembershipMirror(runtime.nats, identity, runtime.settings.stream_wait_seconds)
    # The reads every credential request and reference resolution makes, on connections of their own:
    # the revisions a cached plan is checked against never wait behind resolutions.
    revision_reads = DriverConnections(common.database_url, size=1)
    candidate_reads = DriverConnections(common.database_url, size=CANDIDATE_READ_CONNECTIONS)
    runtime.closers += [revision_reads.close, candidate_reads.close]
    tx = transactions(runtime.sessions, runtime.outbox, runtime.read_sessions)
    store = S3ObjectStore(gateway, settings.user_networks, settings.admin_networks)
    last_sweep = timedelta(seconds=settings.last_sweep_seconds)
    worker = job_runner(runtime, jobs, WorkspaceJobs(tx, nodes, store, last_sweep).handlers())
    workspaces = WorkspacesService(
        tx,
        nodes,
        identity,
        store,
        memberships=memberships,
        cache=cache,
        plans=plans,
        read_revisions=SqlRevisionReads(revision_reads),
        read_candidates=SqlCandidateReads(candidate_reads),
        jobs=worker,
        last_sweep_delay=last_sweep,
        page_secret=settings.common.secret_key,
        credential_seconds=settings.credential_seconds,
        gateway_public_url=settings.gateway_public_url,
    )
    # Credential records still being written are waited for after the RPCs and the feed have stopped.
    runtime.closers.append(workspaces.drain)

    def add_public(server: grpc.aio.Server) -> None:
        workspaces_pb2_grpc.add_WorkspacesServiceServicer_to_server(WorkspacesApi(workspaces), server)

    def add_internal(server: grpc.aio.Server) -> None:
        workspaces_pb2_grpc.add_WorkspacesInternalServiceServicer_to_server(
            WorkspacesInternalApi(workspaces), server
        )

    return Service(
        runtime,
        workspaces,
        servicers=[add_public, add_internal],
        service_names=SERVICE_NAMES,
        fetch_jwks=auth.fetch_jwks,
        subscribers=[
            memberships,
            CacheEvictionFeed(runtime.js, cache, plans, nodes, runtime.settings.stream_wait_seconds),
            worker,
        ],
    )


async def start(settings: WorkspacesSettings) -> Service[WorkspacesService]:
    return await start_service(
        settings.common, metadata, MIGRATIONS, lambda runtime: build(settings, runtime)
    )


async def run(settings: WorkspacesSettings) -> None:
    await serve(await start(settings))
