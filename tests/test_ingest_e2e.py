"""End to end, no manual step: a SeaweedFS node whose webhook (notification.toml with the node's hook
token) points at the gateway; an upload made with a user's brokered credentials becomes searchable and a
delete disappears, through webhook -> gateway -> JetStream -> indexer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from deploy.ports import WeedPorts
from deploy.seaweedfs import SeaweedServer, start_seaweedfs, write_notification
from gateway.app import build_app
from gateway.config import GatewaySettings
from services.common.server import Service
from services.indexer import server as indexer_server
from tests.conftest import (
    AuthUnderTest,
    NodesUnderTest,
    WorkspacesUnderTest,
    _service_key,
    free_port,
    serving,
)
from tests.ingest_support import index_engine, indexed, indexer_settings, until
from tests.test_workspaces import Person, brokered, credentials, person, ref, unique
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.e2e

__all__ = ["index_engine"]


@dataclass
class HookedNode:
    name: str
    node_id: str
    operator: Person
    server: SeaweedServer


async def run_gateway(settings: GatewaySettings) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(settings), host=settings.host, port=settings.port, lifespan="on", log_config=None
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            pytest.fail("the gateway did not start")
        await asyncio.sleep(0.05)
    return server, task


@pytest.fixture(scope="module")
async def gateway(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest) -> AsyncIterator[str]:
    """The gateway in this process; answers its base URL."""
    user, password = infra.nats_login("gateway")
    listen = f"127.0.0.1:{free_port()}"
    settings = GatewaySettings(
        listen=listen,
        nats_url=infra.nats_url,
        nats_user=user,
        nats_password=password,
        auth_address=auth.address,
        nodes_address=nodes.address,
        service_api_key=await _service_key(auth, "gateway"),
    )
    server, task = await run_gateway(settings)
    try:
        yield f"http://{listen}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def hooked(
    tmp_path_factory: pytest.TempPathFactory, auth: AuthUnderTest, nodes: NodesUnderTest, gateway: str
) -> AsyncIterator[HookedNode]:
    """A SeaweedFS of its own, registered as a node; its webhook is set to the gateway with the node's hook
    token, which SeaweedFS reads when it starts, so it is started again after the registration."""
    folder: Path = tmp_path_factory.mktemp("hooked-weed")
    ports = WeedPorts.free()
    server = await asyncio.to_thread(start_seaweedfs, folder, ports, name="hooked")
    operator = await person(auth, "hop", admin=True)
    name = unique("hooked")
    access = server.access
    reply = await nodes.stub.RegisterNode(
        nodes_pb2.RegisterNodeRequest(
            name=name,
            endpoint=access.endpoint,
            region=access.region,
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=access.access_key,
            secret_key=access.secret_key,
            role_arn=access.role_arn,
        ),
        metadata=operator.md,
    )
    assert reply.hook_token
    write_notification(folder, f"{gateway}/hooks/s3/{reply.node.id}", reply.hook_token)
    await asyncio.to_thread(server.stop)
    server = await asyncio.to_thread(start_seaweedfs, folder, ports, server.credentials, name="hooked")
    await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=name, bucket=unique("hook"), type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    try:
        yield HookedNode(name, reply.node.id, operator, server)
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[Service[Any]]:
    settings = await indexer_settings(infra, auth, f"127.0.0.1:{free_port()}", workspaces.address)
    service = await indexer_server.start(settings)
    async with serving(service):
        yield service


async def test_an_upload_with_brokered_credentials_becomes_searchable_and_a_delete_disappears(
    hooked: HookedNode, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: Any, index_engine: Any
) -> None:
    alice = await person(auth, "e2e")
    ws = (
        await workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(
                name=unique("data"), type=ws_pb2.WORKSPACE_TYPE_PRIVATE, node=hooked.name
            ),
            metadata=alice.md,
        )
    ).workspace
    (creds,) = await credentials(workspaces, alice, ref(ws))
    s3 = brokered(creds)
    key = f"{ws.prefix}results/run {uuid.uuid4().hex[:6]}.csv"
    await asyncio.to_thread(
        s3.put_object, Bucket=ws.bucket, Key=key, Body=b"a,b\n1,2\n", ContentType="text/csv"
    )

    async def found() -> Any:
        return (await indexed(index_engine, ws.id)).get(key)

    record = await until(found, within=30, what="the upload to be indexed")
    assert (record.size, record.content_type, record.node_id) == (8, "text/csv", hooked.node_id)
    assert record.etag == (await asyncio.to_thread(s3.head_object, Bucket=ws.bucket, Key=key))["ETag"].strip(
        '"'
    )

    await asyncio.to_thread(s3.delete_object, Bucket=ws.bucket, Key=key)

    async def gone() -> bool:
        return key not in await indexed(index_engine, ws.id)

    await until(gone, within=30, what="the delete to remove the record")
