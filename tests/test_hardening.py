"""What a logged-in user cannot turn against the network or other users: node registration as a port
scanner, key exchanges as a lock-out or a denial of service, group members and node secrets beyond who
needs them, and stored secrets moved between rows."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.postgres import drop_database, ensure_database, with_database
from services.auth.api import client_address
from services.auth.domain import apikeys
from services.auth.domain.guard import FailureLimiter, KeyChecker
from services.auth.domain.service import IdentityService
from services.common import netguard
from services.common.callers import INTERNAL_CALLERS, service_of
from services.common.db import make_session_factory, migrate
from services.common.errors import DomainError, Reason
from services.common.grpc_errors import error_reason, retry_delay
from services.common.identity import Caller
from services.common.netguard import NetworkPolicy, node_networks, parse_networks
from services.common.s3 import (
    PROBE_POLICY,
    NodeCheckResult,
    S3Endpoint,
    S3Failure,
    S3FailureKind,
    S3Gateway,
    check_node,
)
from services.common.secrets import SecretBox, SecretUnreadable
from services.nodes.domain.models import NodeSettings
from services.nodes.domain.service import NOT_VERIFIED, NodesService
from services.nodes.storage import tables as nodes_tables
from services.nodes.storage.repository import SqlNodesRepository, secret_binding
from services.workspaces.domain.ports import NodeAccess
from services.workspaces.storage.s3 import S3ObjectStore
from tests.conftest import SECRET_KEY, AuthUnderTest, NodesUnderTest, free_port
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2

USERS, ADMINS = node_networks("public", netguard.DEFAULT_ADMIN_NETWORKS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def failure(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def register(s3: Any, endpoint: str, name: str = "") -> Any:
    return nodes_pb2.RegisterNodeRequest(
        name=name or unique("probe"),
        endpoint=endpoint,
        region=s3.region,
        kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        role_arn=s3.role_arn,
    )


@pytest.fixture
def http_port() -> Iterator[int]:
    """A loopback port answering every request with plain HTTP that is not S3."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        server.close()


# --- 2. node registration is no port scanner ---------------------------------------------------------


@pytest.mark.unit
def test_network_policy_refuses_link_local_always_and_private_to_users() -> None:
    def allowed(policy: NetworkPolicy, address: str) -> bool:
        return policy.refusal(ipaddress.ip_address(address)) is None

    for never in ("169.254.169.254", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254", "0.0.0.0"):
        assert not allowed(ADMINS, never) and not allowed(NetworkPolicy.anything_but_never(), never)
    for private in ("127.0.0.1", "10.1.2.3", "192.168.0.9", "::1", "::ffff:127.0.0.1", "fd12::1"):
        assert not allowed(USERS, private) and allowed(ADMINS, private)
    assert allowed(USERS, "8.8.8.8") and allowed(USERS, "2001:4860:4860::8888")
    closed = NetworkPolicy(False, parse_networks("203.0.113.0/24", "x")[1])
    assert allowed(closed, "203.0.113.9") and not allowed(closed, "8.8.8.8")
    with pytest.raises(Exception, match="WIO_NODES_ALLOWED_NETWORKS"):
        node_networks("public,not-a-network", "")


@pytest.mark.integration
async def test_non_admin_probes_all_look_alike_and_admin_gets_the_real_error(
    nodes: NodesUnderTest, auth: AuthUnderTest, infra: Any, http_port: int
) -> None:
    _user, key = await auth.new_user("scan")
    md = await auth.as_key(key)
    database_port = urlsplit(infra.database_url.replace("+asyncpg", "")).port
    closed = free_port()
    targets = [
        "http://169.254.169.254/",  # cloud metadata
        f"http://127.0.0.1:{database_port}/",  # open port, not HTTP (PostgreSQL)
        f"http://127.0.0.1:{http_port}/",  # open port, HTTP but not S3
        f"http://127.0.0.1:{closed}/",  # closed port
        f"http://localhost:{closed}/",  # a name that resolves to a refused address
        infra.s3.endpoint,  # a real S3 node on loopback
    ]
    errors = await asyncio.gather(
        *(failure(nodes.stub.RegisterNode(register(infra.s3, url), metadata=md)) for url in targets)
    )
    told = {(e.code(), error_reason(e), e.details()) for e in errors}
    assert len(told) == 1, told
    ((code, reason, message),) = told
    assert code == grpc.StatusCode.FAILED_PRECONDITION and reason == "NODE_NOT_VERIFIED"
    assert str(closed) not in str(message) and "169.254" not in str(message)

    admin = await auth.as_key(auth.admin_key)
    unreachable = await failure(
        nodes.stub.RegisterNode(register(infra.s3, f"http://127.0.0.1:{closed}/"), metadata=admin)
    )
    assert error_reason(unreachable) == "NODE_UNREACHABLE"
    metadata = await failure(
        nodes.stub.RegisterNode(register(infra.s3, "http://169.254.169.254/"), metadata=admin)
    )
    assert metadata.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(metadata) == "NODE_ADDRESS_REFUSED" and "link-local" in str(metadata.details())
    # Nothing of the above was stored.
    listed = await nodes.stub.ListNodes(nodes_pb2.ListNodesRequest(), metadata=admin)
    assert not {n.endpoint for n in listed.nodes} & {u.rstrip("/") for u in targets[:-1]}


def resolving(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> list[str]:
    """Makes `name` resolve to `address`; answers the list of lookups of it made from then on."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            asked.append(host)
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


@pytest.mark.integration
async def test_the_resolved_address_is_checked_and_connected_to(
    infra: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = infra.s3
    port = urlsplit(s3.endpoint).port
    gateway = S3Gateway(timeout_seconds=3)
    try:
        asked = resolving(monkeypatch, "s3.wio-test.invalid", "127.0.0.1")
        url = f"http://s3.wio-test.invalid:{port}"
        as_user = S3Endpoint(url, s3.region, s3.access_key, s3.secret_key, network=USERS)
        refused = await check_node(gateway, as_user, with_sts=False)
        assert refused.failure is not None and refused.failure.kind is S3FailureKind.ADDRESS_REFUSED
        # The same name on the admins' networks reaches the real node: the connection goes to the
        # address that was checked, while the request still names the host.
        as_admin = S3Endpoint(url, s3.region, s3.access_key, s3.secret_key, network=ADMINS)
        assert (await check_node(gateway, as_admin, with_sts=False)).ok
        assert len(asked) >= 2  # resolved for each connection, never cached around the check
    finally:
        gateway.close()


@pytest.mark.integration
async def test_redirects_are_not_followed(infra: Any) -> None:
    hits: list[str] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(5)
    port = server.getsockname()[1]

    def answer() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            hits.append(conn.recv(65536).decode(errors="replace").split("\r\n", 1)[0])
            conn.sendall(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    gateway = S3Gateway(timeout_seconds=3)
    try:
        ep = S3Endpoint(f"http://127.0.0.1:{port}", "us-east-1", "a", "b", network=ADMINS)
        result = await check_node(gateway, ep, with_sts=False)
    finally:
        gateway.close()
        thread.join(5)
        server.close()
    assert result.failure is not None and result.failure.kind is not S3FailureKind.ADDRESS_REFUSED
    assert len(hits) == 1  # the redirect was answered once and not followed


# --- 3. key exchanges under attack -------------------------------------------------------------------


@pytest.mark.unit
def test_failure_limiter_counts_per_key_and_address_within_the_window() -> None:
    now = [1000.0]
    limiter = FailureLimiter(max_failures=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):  # attempts count from their start: three at once use up the pair's attempts
        limiter.attempt("k", "ipv4:10.0.0.1")
        now[0] += 10
    with pytest.raises(DomainError) as limited:
        limiter.attempt("k", "ipv4:10.0.0.1")
    assert limited.value.reason is Reason.TOO_MANY_ATTEMPTS
    assert limited.value.metadata["retry_after_seconds"] == "30"  # the first attempt leaves at 1060
    limiter.attempt("k", "ipv4:10.0.0.2")  # another address: not limited
    limiter.attempt("other", "ipv4:10.0.0.1")  # another key: not limited
    now[0] += 31
    limiter.attempt("k", "ipv4:10.0.0.1")  # the oldest left the window
    with pytest.raises(DomainError):
        limiter.attempt("k", "ipv4:10.0.0.1")
    limiter.succeeded("k", "ipv4:10.0.0.1")  # a success clears the pair's count
    for _ in range(3):
        limiter.attempt("k", "ipv4:10.0.0.1")


@pytest.mark.unit
async def test_key_checker_refuses_beyond_its_bound() -> None:
    checker = KeyChecker(threads=1, max_waiting=0)
    release = threading.Event()
    blocked = asyncio.get_running_loop().run_in_executor(checker._pool, release.wait)
    try:
        first = asyncio.ensure_future(checker.matches("wio_a_b", "not-a-hash"))
        await asyncio.sleep(0.05)
        with pytest.raises(DomainError) as busy:
            await checker.matches("wio_a_b", "not-a-hash")
        assert busy.value.reason is Reason.AUTH_BUSY and busy.value.metadata["retry_after_seconds"]
    finally:
        release.set()
        await blocked
    assert await first is False
    checker.close()


@pytest.mark.unit
def test_client_address_drops_the_port() -> None:
    class Peer:
        def __init__(self, peer: str) -> None:
            self._peer = peer

        def peer(self) -> str:
            return self._peer

    assert client_address(Peer("ipv4:10.1.2.3:5555")) == "ipv4:10.1.2.3"  # type: ignore[arg-type]
    assert client_address(Peer("ipv6:[::1]:5555")) == "ipv6:[::1]"  # type: ignore[arg-type]
    assert client_address(Peer("unix:/tmp/s")) == "unix:/tmp/s"  # type: ignore[arg-type]


@pytest.mark.integration
async def test_failed_exchanges_are_limited_per_key_and_address(auth: AuthUnderTest) -> None:
    user, key = await auth.new_user("locked")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    limit = auth.identity.limiter.max_failures
    # Twice the limit at once: only `limit` of them get as far as the hash check.
    burst = await asyncio.gather(
        *(
            failure(auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=wrong)))
            for _ in range(2 * limit)
        )
    )
    assert Counter(error_reason(e) for e in burst) == {"API_KEY_INVALID": limit, "TOO_MANY_ATTEMPTS": limit}
    for attempt in (wrong, key):  # from this address even the right key waits now
        limited = await failure(auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=attempt)))
        assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(limited) == "TOO_MANY_ATTEMPTS"
        delay = retry_delay(limited)
        assert delay is not None and 0 < delay <= auth.identity.limiter.window_seconds
        assert f"retry in {int(delay)} s" in str(limited.details())
    # Its owner, from another address, is not locked out by whoever knows the key id.
    token, _expires = await auth.identity.exchange_api_key(key, "ipv4:192.0.2.10")
    whoami = await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(token))
    assert whoami.user.username == user.username


class CountingTransactions:
    """The identity service's transactions, counting those open (and reads running) at any moment."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.open = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        async with self.inner() as tx:
            self.open += 1
            try:
                yield tx
            finally:
                self.open -= 1

    async def read(self, query: Callable[[Any], Awaitable[Any]]) -> Any:
        self.open += 1
        try:
            return await self.inner.read(query)
        finally:
            self.open -= 1


@pytest.mark.integration
async def test_argon2_runs_off_the_loop_and_outside_any_transaction(
    auth: AuthUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity: IdentityService = auth.identity
    counting = CountingTransactions(identity._tx)
    loop_thread = threading.get_ident()
    seen: list[tuple[int, bool]] = []
    real = apikeys.api_key_matches

    def watched(api_key: str, secret_hash: str) -> bool:
        seen.append((counting.open, threading.get_ident() != loop_thread))
        return real(api_key, secret_hash)

    _user, key = await auth.new_user("argon")
    monkeypatch.setattr(apikeys, "api_key_matches", watched)
    identity._tx = counting
    try:
        await auth.token(key)
        await failure(auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=key + "x")))
    finally:
        identity._tx = counting.inner
    # Both checks ran on another thread while no transaction (and no read) of the service was open.
    assert seen == [(0, True), (0, True)]


# --- 4. who may see and call what --------------------------------------------------------------------


@pytest.mark.unit
def test_every_internal_rpc_names_its_callers() -> None:
    from wio.auth.v1 import auth_pb2 as a

    internal = {
        f"/{service.full_name}/{method.name}"
        for module in (a, nodes_pb2, workspaces_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        if service.name.endswith("InternalService")
        for method in service.methods
    }
    assert internal == set(INTERNAL_CALLERS)
    assert INTERNAL_CALLERS["/wio.nodes.v1.NodesInternalService/GetNodeAccess"] == {"workspaces"}
    assert service_of("svc-workspaces") == service_of("svc-workspaces-2") == "workspaces"


@pytest.mark.integration
async def test_group_members_are_shown_to_members_managers_and_admins_only(auth: AuthUnderTest) -> None:
    _lead, lead_key = await auth.new_user("lead")
    member, member_key = await auth.new_user("member")
    _outsider, outsider_key = await auth.new_user("outsider")
    lead = await auth.as_key(lead_key)
    name = unique("lab")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=name), metadata=lead)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=name, username=member.username), metadata=lead
    )
    for key in (lead_key, member_key, auth.admin_key):
        group = (
            await auth.stub.GetGroup(auth_pb2.GetGroupRequest(name=name), metadata=await auth.as_key(key))
        ).group
        assert list(group.members) == [member.username]
    outside = (
        await auth.stub.GetGroup(
            auth_pb2.GetGroupRequest(name=name), metadata=await auth.as_key(outsider_key)
        )
    ).group
    assert outside.name == name and list(outside.members) == []
    listed = await auth.stub.ListGroups(
        auth_pb2.ListGroupsRequest(), metadata=await auth.as_key(outsider_key)
    )
    assert all(not g.members for g in listed.groups)


async def service_md(auth: AuthUnderTest, service: str) -> Any:
    _account, key = await auth.identity.bootstrap_account(
        f"svc-{service}-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert key is not None
    return await auth.as_key(key)


@pytest.mark.integration
async def test_node_secrets_go_to_the_workspaces_service_only(
    nodes: NodesUnderTest, auth: AuthUnderTest, infra: Any
) -> None:
    admin = await auth.as_key(auth.admin_key)
    node = (await nodes.stub.RegisterNode(register(infra.s3, infra.s3.endpoint), metadata=admin)).node
    request = nodes_pb2.GetNodeAccessRequest(node_id=node.id)
    for service in ("indexer", "nodes"):
        refused = await failure(
            nodes.internal.GetNodeAccess(request, metadata=await service_md(auth, service))
        )
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(refused) == "SERVICE_NOT_ALLOWED"
        assert infra.s3.secret_key not in str(refused.details())
    access = await nodes.internal.GetNodeAccess(request, metadata=await service_md(auth, "workspaces"))
    assert access.access.secret_key == infra.s3.secret_key
    # It also says which networks the node may use: an admin registered this one.
    assert access.access.admin_networks
    await nodes.stub.DeleteNode(nodes_pb2.DeleteNodeRequest(node=node.id), metadata=admin)


# --- 5. stored secrets bound to their row ------------------------------------------------------------


@pytest.mark.unit
def test_a_sealed_secret_opens_only_where_it_was_bound() -> None:
    box = SecretBox(SECRET_KEY, "node-secrets")
    sealed = box.seal(b"s3cr3t", "node:a:secret_key")
    assert box.open(sealed, "node:a:secret_key") == b"s3cr3t"
    for elsewhere in ("node:b:secret_key", "node:a:access_key", ""):
        with pytest.raises(SecretUnreadable):
            box.open(sealed, elsewhere)


@pytest.mark.integration
async def test_swapped_node_ciphertexts_fail_to_decrypt(
    nodes: NodesUnderTest, auth: AuthUnderTest, infra: Any
) -> None:
    admin = await auth.as_key(auth.admin_key)
    first = (await nodes.stub.RegisterNode(register(infra.s3, infra.s3.endpoint), metadata=admin)).node.id
    second = (await nodes.stub.RegisterNode(register(infra.s3, infra.s3.endpoint), metadata=admin)).node.id
    box = SecretBox(SECRET_KEY, "node-secrets")
    try:
        async with nodes.runtime.sessions() as session, session.begin():
            repo = SqlNodesRepository(session, box)
            found = await repo.node_by_id(first)
            assert found is not None and found.settings.secret_key == infra.s3.secret_key
            await session.execute(
                text(
                    "UPDATE nodes.nodes AS n SET secret_key_sealed = o.secret_key_sealed"
                    " FROM nodes.nodes AS o WHERE n.id IN (:a, :b) AND o.id IN (:a, :b) AND n.id <> o.id"
                ),
                {"a": first, "b": second},
            )
            for node_id in (first, second):
                with pytest.raises(SecretUnreadable):
                    await repo.node_by_id(node_id)
            await session.rollback()  # the swap never commits: other tests list these nodes
    finally:
        for node_id in (first, second):
            await nodes.stub.DeleteNode(nodes_pb2.DeleteNodeRequest(node=node_id), metadata=admin)


@pytest.fixture
async def fresh_database(infra: Any) -> AsyncIterator[str]:
    server = with_database(infra.database_url, "postgres")
    name = f"wio_rebind_{uuid.uuid4().hex[:10]}"
    ensure_database(server, name)
    try:
        yield with_database(infra.database_url, name)
    finally:
        drop_database(server, name)


@pytest.mark.integration
async def test_migration_binds_existing_node_secrets_to_their_rows(fresh_database: str) -> None:
    migrations = Path(nodes_tables.__file__).parent / "migrations"
    engine = create_async_engine(fresh_database)
    box = SecretBox(SECRET_KEY, "node-secrets")
    node_id = str(uuid.uuid4())
    try:
        await migrate(engine, "nodes", migrations, nodes_tables.metadata, revision="0002")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO nodes.nodes (id, name, endpoint, region, kind, access_key,"
                    " secret_key_sealed, sts_endpoint, role_arn, max_credential_seconds,"
                    " policy_size_limit, operator_id, operator_username, created_at, status,"
                    " status_detail, latency_ms) VALUES (:id, 'old',"
                    " 'http://127.0.0.1:1', 'us-east-1', 'minio', 'ak', :sealed, '', '', 3600, 2048, :id,"
                    " 'admin', now(), 'unknown', '', 0)"
                ),
                {"id": node_id, "sealed": box.seal(b"old-secret")},  # sealed as before: unbound
            )
        with pytest.raises(Exception, match="WIO_SECRET_KEY"):
            await migrate(engine, "nodes", migrations, nodes_tables.metadata)
        await migrate(engine, "nodes", migrations, nodes_tables.metadata, {"secret_key": SECRET_KEY})
        async with make_session_factory(engine)() as session:
            node = await SqlNodesRepository(session, box).node_by_id(node_id)
            sealed = (
                await session.execute(
                    text("SELECT secret_key_sealed FROM nodes.nodes WHERE id = :id"), {"id": node_id}
                )
            ).scalar_one()
        assert node is not None and node.settings.secret_key == "old-secret"
        assert node.settings.admin_networks  # registered before the rule: kept where it was
        with pytest.raises(SecretUnreadable):
            box.open(sealed)
        assert box.open(sealed, secret_binding(node_id)) == b"old-secret"
    finally:
        await engine.dispose()


class _Tx:
    class Repo:
        async def node(self, ref: str) -> None:
            return None

        async def list_nodes(self) -> list[Any]:
            return []

    repo = Repo()


@asynccontextmanager
async def _no_database() -> AsyncIterator[Any]:
    yield _Tx()


class _FailingConnector:
    """A connector whose check fails as a given S3 failure would."""

    timeout_seconds = 0.0

    def __init__(self, failure: S3Failure) -> None:
        self.failure = failure

    async def check(self, settings: Any, with_sts: bool = True, probe_case: bool = False) -> NodeCheckResult:
        return NodeCheckResult(self.failure.reachable, False, False, 3.0, self.failure)


@pytest.mark.unit
async def test_every_kind_of_failed_check_reads_the_same_to_a_non_admin() -> None:
    """Reachable or not, S3 or not: a non-admin's failed registration cannot tell them apart, and an
    admin's can."""
    kinds = [
        S3Failure(S3FailureKind.ADDRESS_REFUSED, "list buckets: address refused: 10.0.0.5"),
        S3Failure(S3FailureKind.UNREACHABLE, "list buckets: cannot connect to the endpoint"),
        S3Failure(S3FailureKind.TIMED_OUT, "list buckets: timed out"),
        S3Failure(S3FailureKind.REFUSED, "list buckets: 404 Not Found"),  # HTTP, not S3
        S3Failure(S3FailureKind.CREDENTIALS, "list buckets: credentials refused (InvalidAccessKeyId)"),
    ]
    user = Caller("u1", "someone", "user")
    admin = Caller("a1", "root", "admin")
    settings = NodeSettings("n1", "https://s3.example.org", "", "minio", "ak", "sk")

    async def told(caller: Caller, failed: S3Failure) -> tuple[str, str, float]:
        nodes = NodesService(_no_database, _FailingConnector(failed), None, None, None, page_secret="test")  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(DomainError) as refused:
            await nodes.register_node(caller, settings)
        return refused.value.reason.value, refused.value.message, time.monotonic() - started

    as_user = await asyncio.gather(*(told(user, f) for f in kinds))
    assert {(reason, message) for reason, message, _ in as_user} == {
        ("NODE_NOT_VERIFIED", f"node check failed: {NOT_VERIFIED}")
    }
    assert all(seconds >= 0.9 for _, _, seconds in as_user)  # each waited out the call deadline
    as_admin = await asyncio.gather(*(told(admin, f) for f in kinds))
    assert len({reason for reason, _, _ in as_admin}) == len(kinds)


@pytest.mark.integration
async def test_the_workspaces_service_reaches_a_node_only_on_the_networks_its_setter_may_use(
    infra: Any,
) -> None:
    """The workspaces service connects to nodes too (STS, folder markers): a node no admin set up may
    reach only the users' networks from there as well, so a name that later resolves to loopback (or
    private ranges) gains nothing. The test SeaweedFS is on loopback."""
    s3 = infra.s3
    store = S3ObjectStore(S3Gateway(timeout_seconds=5.0))
    policy = json.dumps(PROBE_POLICY)

    def access(admin_networks: bool) -> NodeAccess:
        return NodeAccess(
            node_id=str(uuid.uuid4()),
            endpoint=s3.endpoint,
            region=s3.region,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            role_arn=s3.role_arn,
            admin_networks=admin_networks,
        )

    with pytest.raises(DomainError) as refused:
        await store.assume_role(access(False), policy, 900, "wio-test")
    assert refused.value.reason is Reason.NODE_ADDRESS_REFUSED
    issued = await store.assume_role(access(True), policy, 900, "wio-test")
    assert issued.session_token
