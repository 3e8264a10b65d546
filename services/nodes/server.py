"""Composition root of the nodes service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from services.common.clients import AuthClient
from services.common.s3 import S3Gateway
from services.common.secrets import SecretBox
from services.common.server import Runtime, serve, start_runtime
from services.common.tls import client_channel
from services.nodes.api import NodesApi, NodesInternalApi
from services.nodes.config import NodesSettings
from services.nodes.domain.health import HealthMonitor
from services.nodes.domain.service import NodesService
from services.nodes.storage.clients.identity import AuthDirectory
from services.nodes.storage.clients.workspaces import WorkspacesUsage
from services.nodes.storage.repository import transactions as make_transactions
from services.nodes.storage.s3 import S3NodeConnector
from services.nodes.storage.tables import metadata
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

MIGRATIONS = Path(__file__).parent / "storage" / "migrations"
SERVICE_NAMES = (
    nodes_pb2.DESCRIPTOR.services_by_name["NodesService"].full_name,
    nodes_pb2.DESCRIPTOR.services_by_name["NodesInternalService"].full_name,
)


async def start(settings: NodesSettings) -> tuple[Runtime, NodesService, HealthMonitor, AuthClient]:
    runtime = await start_runtime(settings.common, metadata, MIGRATIONS)
    channel = client_channel(settings.common.auth_address, settings.common.tls)
    runtime.closers.append(channel.close)
    workspaces_channel = client_channel(settings.workspaces_address, settings.common.tls)
    runtime.closers.append(workspaces_channel.close)
    auth = AuthClient(channel, settings.common.service_api_key)
    gateway = S3Gateway(timeout_seconds=settings.s3_timeout_seconds)
    transactions = make_transactions(
        runtime.sessions, runtime.outbox, SecretBox(settings.common.secret_key, "node-secrets")
    )
    nodes = NodesService(
        transactions,
        S3NodeConnector(gateway),
        AuthDirectory(auth),
        WorkspacesUsage(workspaces_channel, auth),
        settings.degraded_latency_ms,
    )
    monitor = HealthMonitor(nodes, settings.probe_interval_seconds)

    async def close_s3() -> None:
        await monitor.stop()
        gateway.close()

    runtime.closers.append(close_s3)
    return runtime, nodes, monitor, auth


async def serve_nodes(
    runtime: Runtime,
    nodes: NodesService,
    monitor: HealthMonitor,
    auth: AuthClient,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    def add_public(server: grpc.aio.Server) -> None:
        nodes_pb2_grpc.add_NodesServiceServicer_to_server(NodesApi(nodes), server)

    def add_internal(server: grpc.aio.Server) -> None:
        nodes_pb2_grpc.add_NodesInternalServiceServicer_to_server(NodesInternalApi(nodes), server)

    monitor.start()
    await serve(runtime, auth.fetch_jwks, [add_public, add_internal], SERVICE_NAMES, ready=ready, stop=stop)


async def run(settings: NodesSettings) -> None:
    await serve_nodes(*await start(settings))
