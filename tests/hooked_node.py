"""A SeaweedFS node of its own whose webhook (notification.toml with the node's hook token) points at a
gateway served in this process: storage events from real uploads, for the end-to-end ingest tests."""

from __future__ import annotations

import asyncio
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
from tests.conftest import AuthUnderTest, NodesUnderTest, _service_key, free_port
from tests.test_workspaces import Person, brokered, credentials, person, ref, unique
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2


@dataclass
class HookedNode:
    name: str
    node_id: str
    operator: Person
    server: SeaweedServer


async def hooked_workspace(workspaces: Any, owner: Person, node: HookedNode, stem: str) -> tuple[Any, Any]:
    """A private workspace of `owner` on the hooked node, and an S3 client with the owner's brokered
    credentials for it: uploads through it reach the gateway as storage events."""
    ws = (
        await workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(
                name=unique(stem), type=ws_pb2.WORKSPACE_TYPE_PRIVATE, node=node.name
            ),
            metadata=owner.md,
        )
    ).workspace
    (creds,) = await credentials(workspaces, owner, ref(ws))
    return ws, brokered(creds)


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
async def hook_gateway(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest) -> AsyncIterator[str]:
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
    tmp_path_factory: pytest.TempPathFactory, auth: AuthUnderTest, nodes: NodesUnderTest, hook_gateway: str
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
    write_notification(folder, f"{hook_gateway}/hooks/s3/{reply.node.id}", reply.hook_token)
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
