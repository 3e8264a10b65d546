"""Fixtures: real PostgreSQL, NATS JetStream and SeaweedFS (tests/stack_fixture.py), and wio services
served in-process on free ports with grpc.aio."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.auth import server as auth_server
from services.auth.config import AuthSettings
from services.auth.domain.service import IdentityService
from services.common.config import CommonSettings, TlsSettings
from services.common.events import wait_for_stream
from services.common.server import Runtime, Service, serve
from services.nodes import server as nodes_server
from services.nodes.config import NodesSettings
from services.workspaces import server as workspaces_server
from services.workspaces.config import WorkspacesSettings
from services.workspaces.domain.service import WorkspacesService
from tests.stack_fixture import *  # noqa: F403 - the `infra` fixtures
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2_grpc

SECRET_KEY = secrets.token_urlsafe(32)
AppT = TypeVar("AppT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def common_settings(
    service: str, infra: Any, listen: str, auth_address: str, **overrides: Any
) -> CommonSettings:
    nats_user, nats_password = infra.nats_login(service)
    values: dict[str, Any] = {
        "service": service,
        "listen": listen,
        "database_url": infra.database_url,
        "nats_url": infra.nats_url,
        "secret_key": SECRET_KEY,
        "auth_address": auth_address,
        "service_api_key": "",
        "tls": TlsSettings(),
        "log_level": "INFO",
        "shutdown_grace_seconds": 1.0,
        "relay_poll_seconds": 0.2,
        "token_ttl_seconds": 900,
        "nats_user": nats_user,
        "nats_password": nats_password,
        "stream_wait_seconds": 30.0,
        "job_poll_seconds": 0.2,
        "job_max_backoff_seconds": 1.0,
    }
    values.update(overrides)
    return CommonSettings(**values)


@contextlib.asynccontextmanager
async def serving(service: Service[AppT]) -> AsyncIterator[grpc.aio.Channel]:
    """Serves a started service on its listen address in this event loop and yields a channel to it;
    stops it (closing all it opened) afterwards. The one way every test starts a service."""
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(service, ready=ready, stop=stop))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiting], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiting.cancel()
        stop.set()
        await task  # raises why it could not start
        raise RuntimeError(f"{service.runtime.settings.service} did not start within 30 s")
    channel = grpc.aio.insecure_channel(service.runtime.settings.listen)
    try:
        yield channel
    finally:
        await channel.close()
        stop.set()
        await task


@dataclass
class AuthUnderTest:
    address: str
    runtime: Runtime
    identity: IdentityService
    admin_key: str
    channel: grpc.aio.Channel

    @property
    def stub(self) -> Any:
        return auth_pb2_grpc.AuthServiceStub(self.channel)

    @property
    def internal(self) -> Any:
        return auth_pb2_grpc.AuthInternalServiceStub(self.channel)

    async def token(self, api_key: str) -> str:
        response = await self.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=api_key))
        return str(response.access_token)

    @staticmethod
    def bearer(token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token}"),)

    async def as_key(self, api_key: str) -> tuple[tuple[str, str], ...]:
        return self.bearer(await self.token(api_key))

    async def new_user(self, prefix: str = "u", admin: bool = False) -> tuple[Any, str]:
        """A fresh user (unique name) and their first API key."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        response = await self.stub.CreateUser(
            auth_pb2.CreateUserRequest(
                username=name,
                email=f"{name}@example.org",
                role=auth_pb2.ROLE_ADMIN if admin else auth_pb2.ROLE_USER,
            ),
            metadata=await self.as_key(self.admin_key),
        )
        return response.user, str(response.api_key_secret)


@pytest.fixture(scope="session")
async def auth(infra: Any) -> AsyncIterator[AuthUnderTest]:
    """The identity service on a free port, with a fresh admin."""
    address = f"127.0.0.1:{free_port()}"
    settings = AuthSettings(
        common=common_settings("auth", infra, address, address),
        directory={"nodes": "127.0.0.1:1", "workspaces": "127.0.0.1:2"},
    )
    service = await auth_server.start(settings)
    admin_name = f"admin-{uuid.uuid4().hex[:8]}"
    _admin, admin_key = await service.app.bootstrap_account(admin_name, None, "admin", fresh_key=True)
    assert admin_key is not None
    async with serving(service) as channel:
        yield AuthUnderTest(address, service.runtime, service.app, admin_key, channel)


PROBE_SECONDS = 1.0


@dataclass
class NodesUnderTest:
    address: str
    runtime: Runtime
    channel: grpc.aio.Channel

    @property
    def stub(self) -> Any:
        return nodes_pb2_grpc.NodesServiceStub(self.channel)

    @property
    def internal(self) -> Any:
        return nodes_pb2_grpc.NodesInternalServiceStub(self.channel)

    async def register_test_s3(self, s3: Any, name: str, metadata: Any, policy_size_limit: int = 0) -> None:
        """Registers the test SeaweedFS (the `infra` fixture's s3) as node `name`, operated by the caller."""
        await self.stub.RegisterNode(
            nodes_pb2.RegisterNodeRequest(
                name=name,
                endpoint=s3.endpoint,
                region=s3.region,
                kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
                access_key=s3.access_key,
                secret_key=s3.secret_key,
                role_arn=s3.role_arn,
                policy_size_limit=policy_size_limit,
            ),
            metadata=metadata,
        )


@dataclass
class WorkspacesUnderTest:
    address: str
    runtime: Runtime
    service: WorkspacesService
    channel: grpc.aio.Channel

    @property
    def stub(self) -> Any:
        return workspaces_pb2_grpc.WorkspacesServiceStub(self.channel)

    @property
    def internal(self) -> Any:
        return workspaces_pb2_grpc.WorkspacesInternalServiceStub(self.channel)


# A deleted workspace's last sweep (WIO_WORKSPACES_LAST_SWEEP_SECONDS), shortened for tests.
LAST_SWEEP_SECONDS = 2.0


@pytest.fixture(scope="session")
def addresses() -> dict[str, str]:
    """Nodes and workspaces ask each other questions, so both addresses are known before either starts;
    the gateway's too, since links point at it."""
    return {name: f"127.0.0.1:{free_port()}" for name in ("nodes", "workspaces", "gateway")}


async def _service_key(auth: AuthUnderTest, name: str) -> str:
    _account, key = await auth.identity.bootstrap_account(
        f"svc-{name}-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert key is not None
    return key


@pytest.fixture(scope="session")
async def nodes(infra: Any, auth: AuthUnderTest, addresses: dict[str, str]) -> AsyncIterator[NodesUnderTest]:
    """The nodes service, probing every PROBE_SECONDS."""
    settings = NodesSettings(
        common=common_settings(
            "nodes",
            infra,
            addresses["nodes"],
            auth.address,
            service_api_key=await _service_key(auth, "nodes"),
        ),
        probe_interval_seconds=PROBE_SECONDS,
        s3_timeout_seconds=3.0,
        degraded_latency_ms=2000.0,
        workspaces_address=addresses["workspaces"],
    )
    service = await nodes_server.start(settings)
    async with serving(service) as channel:
        yield NodesUnderTest(addresses["nodes"], service.runtime, channel)


@pytest.fixture(scope="session")
async def workspaces(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, addresses: dict[str, str]
) -> AsyncIterator[WorkspacesUnderTest]:
    """The workspaces service, talking to the nodes and auth services above."""
    settings = WorkspacesSettings(
        common=common_settings(
            "workspaces",
            infra,
            addresses["workspaces"],
            auth.address,
            service_api_key=await _service_key(auth, "workspaces"),
        ),
        nodes_address=addresses["nodes"],
        credential_seconds=900,
        s3_timeout_seconds=5.0,
        last_sweep_seconds=LAST_SWEEP_SECONDS,
        gateway_public_url=f"http://{addresses['gateway']}",
    )
    service = await workspaces_server.start(settings)
    async with serving(service) as channel:
        yield WorkspacesUnderTest(addresses["workspaces"], service.runtime, service.app, channel)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


class EventWatcher:
    """Collects every JetStream message on a subject pattern from now on."""

    def __init__(self, nc: Any, subscription: Any) -> None:
        self.nc = nc
        self.subscription = subscription
        self.messages: list[Any] = []

    async def _collect(self, msg: Any) -> None:
        self.messages.append(msg)

    def matching(self, subject: str, parse: Callable[[bytes], Any], **fields: str) -> list[Any]:
        found = []
        for msg in self.messages:
            if msg.subject != subject:
                continue
            event = parse(msg.data)
            if all(getattr(event, k) == v for k, v in fields.items()):
                found.append(event)
        return found

    async def wait_for(
        self, subject: str, parse: Callable[[bytes], Any], within: float = 10.0, **fields: str
    ) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            found = self.matching(subject, parse, **fields)
            if found:
                return found
            await asyncio.sleep(0.05)
        return []


@pytest.fixture
async def events(infra: Any) -> AsyncIterator[Callable[[str], Any]]:
    """Start watching a subject pattern (e.g. 'wio.auth.>') from this moment on, as the read-only
    NATS user; the domain's service creates the stream."""
    user, password = infra.nats_login()
    nc = await nats.connect(infra.nats_url, user=user or None, password=password or None)
    watchers: list[EventWatcher] = []

    async def watch(pattern: str) -> EventWatcher:
        js = nc.jetstream()
        stream = await wait_for_stream(js, pattern.split(".")[1], 30.0)
        watcher = EventWatcher(nc, None)
        watcher.subscription = await js.subscribe(
            pattern,
            stream=stream,
            cb=watcher._collect,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        watchers.append(watcher)
        return watcher

    try:
        yield watch
    finally:
        await nc.close()


# The HTTP gateway and a SeaweedFS whose storage events reach it (after the fixtures they use).
from tests.gateway_fixture import *  # noqa: E402, F403
from tests.rest_support import rest_lab  # noqa: E402, F401
