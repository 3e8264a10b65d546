"""The HTTP gateway for tests, and a SeaweedFS whose webhook reaches it.

`gateway`: the real app (gateway.app.build_app) served by uvicorn in this event loop on a free port, as
its own service account (svc-gateway-*) and NATS user, talking to the session's auth and nodes services.
WIO_INGEST is made first, as the indexer would (its NATS user owns it).

`events_s3`: a SeaweedFS of its own, registered with the nodes service as a node (operated by the
session's admin) and restarted once with notification.toml pointing at `gateway` with the node's hook
token, exactly as the launcher does for the local node; so an S3 upload there reaches WIO_INGEST
(`wio.ingest.s3.<node_id>`) with no manual step. Started on first use only (about 5 s, mostly the
restart). `run_gateway` serves more gateways with other settings (e.g. a nodes service that is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import nats
import pytest
import uvicorn

from deploy.gateway import hook_url
from deploy.ports import WeedPorts, pick_free_port
from deploy.seaweedfs import SeaweedServer, start_seaweedfs, write_notification
from gateway.app import build_app
from gateway.config import GatewaySettings
from services.common.events import ensure_ingest_stream
from services.common.streams import inbox_prefix
from tests.stack_fixture import S3Node
from wio.nodes.v1 import nodes_pb2

__all__ = ["EventsNode", "GatewayUnderTest", "events_s3", "gateway", "rest_gateway", "run_gateway"]


class _InLoopServer(uvicorn.Server):
    """uvicorn in the test's event loop: pytest keeps its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class GatewayUnderTest:
    settings: GatewaySettings

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _post(
        self, path: str, body: bytes | Iterable[bytes], headers: dict[str, str], chunked: bool
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    async def post(
        self,
        path: str,
        body: bytes | Iterable[bytes],
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> tuple[int, bytes]:
        """POST with a real HTTP client (off the event loop, which serves the gateway)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return await asyncio.to_thread(self._post, path, body, sent, chunked)

    async def hook(self, node: str, body: bytes, token: str | None) -> tuple[int, bytes]:
        return await self.post(f"/hooks/s3/{node}", body, token)


@contextlib.asynccontextmanager
async def run_gateway(settings: GatewaySettings) -> AsyncIterator[GatewayUnderTest]:
    server = _InLoopServer(
        uvicorn.Config(
            build_app(settings),
            host=settings.host,
            port=settings.port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if not server.started:
        server.should_exit = True
        await task
        raise RuntimeError("the gateway did not start")
    try:
        yield GatewayUnderTest(settings)
    finally:
        server.should_exit = True
        await task


async def gateway_key(auth: Any) -> str:
    """An API key of a fresh service account of the gateway (svc-gateway-*)."""
    _account, key = await auth.identity.bootstrap_account(
        f"svc-gateway-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert key is not None
    return str(key)


async def make_ingest_stream(infra: Any) -> None:
    """WIO_INGEST, created as its owner (the indexer) creates it."""
    user, password = infra.nats_login("indexer")
    nc = await nats.connect(
        infra.nats_url, user=user or None, password=password or None, inbox_prefix=inbox_prefix("indexer")
    )
    try:
        await ensure_ingest_stream(nc.jetstream())
    finally:
        await nc.close()


@pytest.fixture(scope="session")
async def gateway(
    infra: Any, auth: Any, nodes: Any, addresses: dict[str, str]
) -> AsyncIterator[GatewayUnderTest]:
    await make_ingest_stream(infra)
    user, password = infra.nats_login("gateway")
    settings = GatewaySettings(
        # Where the workspaces service's links point; workspaces itself is reached only when a link is.
        listen=addresses["gateway"],
        workspaces_address=addresses["workspaces"],
        nats_url=infra.nats_url,
        nats_user=user,
        nats_password=password,
        auth_address=auth.address,
        nodes_address=nodes.address,
        service_api_key=await gateway_key(auth),
        # Short, so tests see a rotated-out token refused soon.
        hook_cache_seconds=1.0,
        # Below any NATS server's max_payload (1 MiB by default), so the cap is exactly this one.
        hook_max_bytes=256 * 1024,
    )
    async with run_gateway(settings) as running:
        yield running


def gateway_settings(gateway: GatewayUnderTest, **changes: Any) -> GatewaySettings:
    """The session gateway's settings on a new free port, with `changes`."""
    return replace(gateway.settings, listen=f"127.0.0.1:{pick_free_port()}", **changes)


@dataclass
class EventsNode:
    """A SeaweedFS whose webhook posts to the session's gateway, registered as node `name` (`id`),
    operated by the session's admin."""

    s3: S3Node
    id: str
    name: str
    hook_token: str


@pytest.fixture(scope="session")
async def events_s3(
    infra: Any, auth: Any, nodes: Any, gateway: GatewayUnderTest
) -> AsyncIterator[EventsNode]:
    name = f"events-{uuid.uuid4().hex[:8]}"
    folder = infra.folder / name
    server: SeaweedServer = await asyncio.to_thread(start_seaweedfs, folder, WeedPorts.free(), name=name)
    try:
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
            metadata=await auth.as_key(auth.admin_key),
        )
        # notification.toml is read at start only, and the token exists only now: restart once.
        write_notification(folder, hook_url(gateway.port, reply.node.id), reply.hook_token)
        await asyncio.to_thread(server.stop)
        server = await asyncio.to_thread(start_seaweedfs, folder, server.ports, server.credentials, name=name)
        yield EventsNode(S3Node(server.access, server), reply.node.id, name, reply.hook_token)
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture(scope="session")
async def rest_gateway(
    infra: Any, auth: Any, nodes: Any, workspaces: Any, gateway: GatewayUnderTest
) -> AsyncIterator[GatewayUnderTest]:
    """A gateway that reaches every service of the session (the indexer has none here: its address is a
    closed port, so its routes answer 503)."""
    settings = gateway_settings(
        gateway,
        workspaces_address=workspaces.address,
        indexer_address=f"127.0.0.1:{pick_free_port()}",
        rest_max_bytes=64 * 1024,
        rest_timeout_seconds=20.0,
    )
    async with run_gateway(settings) as running:
        yield running
