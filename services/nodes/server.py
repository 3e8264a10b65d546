"""Composition root of the nodes service."""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.s3 import S3Gateway
from services.common.secrets import SecretBox
from services.common.server import Runtime, Service, auth_client, job_runner, serve, start_service
from services.common.tls import client_channel
from services.nodes.api import NodesApi, NodesInternalApi
from services.nodes.config import NodesSettings
from services.nodes.domain.health import HealthMonitor
from services.nodes.domain.jobs import NodeJobs
from services.nodes.domain.service import NodesService
from services.nodes.storage.clients.identity import AuthDirectory
from services.nodes.storage.clients.workspaces import WorkspacesUsage
from services.nodes.storage.repository import transactions as make_transactions
from services.nodes.storage.s3 import S3NodeConnector
from services.nodes.storage.tables import jobs, metadata
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (
    nodes_pb2.DESCRIPTOR.services_by_name["NodesService"].full_name,
    nodes_pb2.DESCRIPTOR.services_by_name["NodesInternalService"].full_name,
)


async def build(settings: NodesSettings, runtime: Runtime) -> Service[NodesService]:
    common = settings.common
    auth = auth_client(runtime)
    workspaces_channel = client_channel(settings.workspaces_address, common.tls)
    runtime.closers.append(workspaces_channel.close)
    gateway = S3Gateway(timeout_seconds=settings.s3_timeout_seconds)

    async def close_gateway() -> None:
        gateway.close()

    runtime.closers.append(close_gateway)
    transactions = make_transactions(
        runtime.sessions, runtime.outbox, SecretBox(common.secret_key, "node-secrets"), runtime.read_sessions
    )
    connector = S3NodeConnector(gateway, settings.user_networks, settings.admin_networks)
    worker = job_runner(runtime, jobs, NodeJobs(transactions, connector).handlers())
    nodes = NodesService(
        transactions,
        connector,
        AuthDirectory(auth),
        WorkspacesUsage(workspaces_channel, auth),
        worker,
        settings.degraded_latency_ms,
        page_secret=common.secret_key,
    )

    def add_public(server: grpc.aio.Server) -> None:
        nodes_pb2_grpc.add_NodesServiceServicer_to_server(NodesApi(nodes), server)

    def add_internal(server: grpc.aio.Server) -> None:
        nodes_pb2_grpc.add_NodesInternalServiceServicer_to_server(NodesInternalApi(nodes), server)

    return Service(
        runtime,
        nodes,
        servicers=[add_public, add_internal],
        service_names=SERVICE_NAMES,
        fetch_jwks=auth.fetch_jwks,
        subscribers=[HealthMonitor(nodes, settings.probe_interval_seconds), worker],
    )


async def start(settings: NodesSettings) -> Service[NodesService]:
    return await start_service(
        settings.common, metadata, MIGRATIONS, lambda runtime: build(settings, runtime)
    )


async def run(settings: NodesSettings) -> None:
    await serve(await start(settings))
