"""Side effects that survive crashes, against the real stack: jobs committed with their change and run
after it (folder markers, removing a deleted workspace's objects, again after the credentials issued for
it expire), a node that is down while they are due, a workspaces process killed in the middle of a delete,
and events that keep their order per share when two replicas of the workspaces service write them."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy import MetaData, func, select, text

from services.common.jobs import JobRunner
from services.common.outbox import Outbox, OutboxRelay, outbox_table
from services.common.server import Runtime
from services.workspaces import server as workspaces_server
from services.workspaces.config import WorkspacesSettings
from services.workspaces.storage import tables as wt
from tests.conftest import (
    AuthUnderTest,
    NodesUnderTest,
    WorkspacesUnderTest,
    _service_key,
    common_settings,
    free_port,
    serving,
)
from tests.service_process import ServiceProcess, service_env
from tests.test_workspaces import Person, brokered, expect_error, person, s3_client, unique
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import events_pb2, workspaces_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

PURGED = "wio.workspaces.workspace.purged"
DELETED = "wio.workspaces.workspace.deleted"


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {within:.0f} s"
        await asyncio.sleep(0.3)


def keys_under(admin: Any, bucket: str, prefix: str) -> list[str]:
    response = admin.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in response.get("Contents", [])]


@dataclass
class OutageNode:
    """The second SeaweedFS (it can be stopped) registered under a fresh name, with a private root."""

    name: str
    root_id: str
    bucket: str
    operator: Person
    admin: Any
    s3: Any


@pytest.fixture
async def outage_node(
    second_s3: Any, auth: AuthUnderTest, nodes: NodesUnderTest
) -> AsyncIterator[OutageNode]:
    operator = await person(auth, "jobop", admin=True)  # the node is on loopback
    name, bucket = unique("jobs"), unique("jobb")
    await nodes.register_test_s3(second_s3, name, operator.md)
    root = await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=name, bucket=bucket, type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    assert root.bucket_created
    admin = s3_client(second_s3.endpoint, second_s3.region, second_s3.access_key, second_s3.secret_key)
    try:
        yield OutageNode(name, root.root.id, bucket, operator, admin, second_s3)
    finally:
        second_s3.start()  # whatever a test did, the node is up for the next one


async def job_rows(sessions: Any, workspace_id: str, kind: str) -> list[Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(wt.jobs).where(
                wt.jobs.c.kind == kind, wt.jobs.c.payload["workspace_id"].astext == workspace_id
            )
        )
        return list(rows.all())


# --- a workspaces process killed in the middle of a delete ---------------------------------------------


def workspaces_process(env: Mapping[str, str], log: Path) -> ServiceProcess:
    """`python -m services.workspaces` on its free port, with short job timings (workspaces_env)."""
    return ServiceProcess("workspaces", env["WIO_WORKSPACES_LISTEN"], env, log)


async def workspaces_answer(channel: grpc.aio.Channel) -> None:
    """Any answer means it serves: a call without a token is refused as UNAUTHENTICATED."""
    try:
        await workspaces_pb2_grpc.WorkspacesServiceStub(channel).ListWorkspaces(
            ws_pb2.ListWorkspacesRequest(), timeout=2
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise


@pytest.fixture
async def workspaces_env(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest) -> dict[str, str]:
    return service_env(
        infra,
        "workspaces",
        {
            "WIO_AUTH_ADDRESS": auth.address,
            "WIO_NODES_ADDRESS": nodes.address,
            "WIO_WORKSPACES_LISTEN": f"127.0.0.1:{free_port()}",
            "WIO_WORKSPACES_SERVICE_API_KEY": await _service_key(auth, "workspaces"),
            "WIO_WORKSPACES_LAST_SWEEP_SECONDS": "4",
            "WIO_JOB_POLL_SECONDS": "0.2",
            "WIO_JOB_LEASE_SECONDS": "3",
            "WIO_JOB_MAX_BACKOFF_SECONDS": "1",
        },
    )


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    try:
        yield started
    finally:
        for process in started:
            process.kill()


async def test_a_delete_killed_midway_resumes_when_the_service_restarts(
    workspaces_env: dict[str, str],
    processes: list[ServiceProcess],
    outage_node: OutageNode,
    nodes: NodesUnderTest,
    auth: AuthUnderTest,
    events: Any,
    tmp_path: Path,
) -> None:
    owner = await person(auth, "kill")
    processes.append(workspaces_process(workspaces_env, tmp_path / "workspaces.log"))
    await processes[0].wait_ready(workspaces_answer)
    watcher = await events("wio.workspaces.workspace.>")  # the service made its stream
    async with grpc.aio.insecure_channel(processes[0].address) as channel:
        stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
        ws = (
            await stub.CreateWorkspace(
                ws_pb2.CreateWorkspaceRequest(name=unique("k"), node=outage_node.name), metadata=owner.md
            )
        ).workspace
        for i in range(200):
            outage_node.admin.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}f{i:03}", Body=b"x")
        (issued,) = (
            await stub.IssueCredentials(
                ws_pb2.IssueCredentialsRequest(workspaces=[f"{ws.owner_username}/{ws.name}"]),
                metadata=owner.md,
            )
        ).sets
        deleting = asyncio.ensure_future(
            stub.DeleteWorkspace(
                ws_pb2.DeleteWorkspaceRequest(workspace=f"{ws.owner_username}/{ws.name}", force=True),
                metadata=owner.md,
            )
        )

        async def marked() -> bool:
            return bool(await job_rows(nodes.runtime.sessions, ws.id, "workspace.purge"))

        await eventually(marked, 30, "the purge job")
        processes[0].kill()  # SIGKILL: no graceful stop, the job may be claimed or between sweeps
        with contextlib.suppress(grpc.aio.AioRpcError):
            await deleting
    (job,) = await job_rows(nodes.runtime.sessions, ws.id, "workspace.purge")
    assert job.done_at is None
    # Credentials issued before the delete still write: the sweep after their lifetime removes it too.
    brokered(issued).put_object(Bucket=ws.bucket, Key=f"{ws.prefix}late", Body=b"late")
    # While no process runs, the delete waits.
    assert watcher.matching(PURGED, events_pb2.WorkspacePurgedEvent.FromString, workspace_id=ws.id) == []

    processes.append(workspaces_process(workspaces_env, tmp_path / "workspaces.log"))
    await processes[1].wait_ready(workspaces_answer)
    purged = await watcher.wait_for(
        PURGED, events_pb2.WorkspacePurgedEvent.FromString, within=60, workspace_id=ws.id
    )
    assert [p.prefix for p in purged] == [ws.prefix]
    assert keys_under(outage_node.admin, ws.bucket, ws.prefix) == []
    (job,) = await job_rows(nodes.runtime.sessions, ws.id, "workspace.purge")
    assert job.done_at is not None and job.attempts >= 2
    assert watcher.matching(DELETED, events_pb2.WorkspaceDeletedEvent.FromString, workspace_id=ws.id)


# --- a node that is down while the jobs are due ---------------------------------------------------------


async def test_create_while_the_node_is_down_answers_marker_pending_and_the_marker_follows(
    outage_node: OutageNode, workspaces: WorkspacesUnderTest, auth: AuthUnderTest
) -> None:
    owner = await person(auth, "mk")
    outage_node.s3.stop()
    try:
        created = await workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(name=unique("m"), node=outage_node.name), metadata=owner.md
        )
        ws = created.workspace
        assert created.marker_pending
        # Created, and usable at once: shown, and a retry says it exists instead of failing again.
        shown = await workspaces.stub.GetWorkspace(
            ws_pb2.GetWorkspaceRequest(workspace=ws.name), metadata=owner.md
        )
        assert shown.workspace.id == ws.id
        await expect_error(
            workspaces.stub.CreateWorkspace(
                ws_pb2.CreateWorkspaceRequest(name=ws.name, node=outage_node.name), metadata=owner.md
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            "WORKSPACE_EXISTS",
        )

        async def retried() -> bool:
            (job,) = await job_rows(workspaces.runtime.sessions, ws.id, "workspace.marker")
            return job.attempts >= 2 and job.last_error is not None and job.done_at is None

        await eventually(retried, 30, "a retry with its error recorded")
    finally:
        outage_node.s3.start()

    async def marker_there() -> bool:
        try:
            outage_node.admin.head_object(Bucket=ws.bucket, Key=ws.prefix)
        except (ClientError, EndpointConnectionError):
            return False
        return True

    await eventually(marker_there, 60, "the folder marker after the node came back")
    (job,) = await job_rows(workspaces.runtime.sessions, ws.id, "workspace.marker")
    assert job.done_at is not None and job.last_error is None


async def test_forced_delete_while_the_node_is_down_completes_when_it_returns(
    outage_node: OutageNode, workspaces: WorkspacesUnderTest, auth: AuthUnderTest, events: Any
) -> None:
    watcher = await events("wio.workspaces.workspace.>")
    owner = await person(auth, "fd")
    name = unique("d")
    ws = (
        await workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(name=name, node=outage_node.name), metadata=owner.md
        )
    ).workspace
    for i in range(5):
        outage_node.admin.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}data/{i}", Body=b"x")
    reference = f"{ws.owner_username}/{ws.name}"
    outage_node.s3.stop()
    try:
        # Not forced, it needs the node to see whether the workspace is empty.
        await expect_error(
            workspaces.stub.DeleteWorkspace(
                ws_pb2.DeleteWorkspaceRequest(workspace=reference), metadata=owner.md
            ),
            grpc.StatusCode.UNAVAILABLE,
            "NODE_UNREACHABLE",
        )
        deleted = await workspaces.stub.DeleteWorkspace(
            ws_pb2.DeleteWorkspaceRequest(workspace=reference, force=True), metadata=owner.md
        )
        assert deleted.objects_pending and deleted.objects_deleted == 0
        # Unusable at once: not shown, no credentials, its name not yet free.
        assert await watcher.wait_for(
            DELETED, events_pb2.WorkspaceDeletedEvent.FromString, workspace_id=ws.id
        )
        await expect_error(
            workspaces.stub.GetWorkspace(ws_pb2.GetWorkspaceRequest(workspace=reference), metadata=owner.md),
            grpc.StatusCode.NOT_FOUND,
            "WORKSPACE_NOT_FOUND",
        )
        await expect_error(
            workspaces.stub.IssueCredentials(
                ws_pb2.IssueCredentialsRequest(workspaces=[reference]), metadata=owner.md
            ),
            grpc.StatusCode.NOT_FOUND,
            "WORKSPACE_NOT_FOUND",
        )
        reused = await expect_error(
            workspaces.stub.CreateWorkspace(
                ws_pb2.CreateWorkspaceRequest(name=name, node=outage_node.name), metadata=owner.md
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            "WORKSPACE_EXISTS",
        )
        assert "being deleted" in (reused.details() or "")
        listed = await workspaces.stub.ListWorkspaces(ws_pb2.ListWorkspacesRequest(), metadata=owner.md)
        assert ws.id not in {w.id for w in listed.workspaces}
        await asyncio.sleep(2.0)
        assert watcher.matching(PURGED, events_pb2.WorkspacePurgedEvent.FromString, workspace_id=ws.id) == []
    finally:
        outage_node.s3.start()
    assert await watcher.wait_for(
        PURGED, events_pb2.WorkspacePurgedEvent.FromString, within=60, workspace_id=ws.id
    )
    assert keys_under(outage_node.admin, ws.bucket, ws.prefix) == []
    # Its name is free again, and the new workspace starts empty (but for its marker).
    again = await workspaces.stub.CreateWorkspace(
        ws_pb2.CreateWorkspaceRequest(name=name, node=outage_node.name), metadata=owner.md
    )
    assert not again.marker_pending
    assert keys_under(outage_node.admin, ws.bucket, ws.prefix) == [ws.prefix]


# --- the worker itself ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    again_at: datetime | None = None


async def test_the_worker_retries_with_backoff_records_errors_and_prunes_done_jobs(
    workspaces: WorkspacesUnderTest,
) -> None:
    kind = unique("test.flaky")
    calls: list[str] = []

    async def flaky(payload: Mapping[str, Any]) -> Outcome:
        calls.append(str(payload["n"]))
        if len(calls) < 3:
            raise RuntimeError(f"refused {len(calls)}")
        return Outcome()

    runner = JobRunner(
        workspaces.runtime.sessions,
        wt.jobs,
        {kind: flaky},
        statements=workspaces.runtime.read_sessions,
        poll_seconds=0.1,
        first_backoff_seconds=1.0,
        max_backoff_seconds=5.0,
        keep_done_seconds=0.0,
    )
    # Doubling from 1 s up to the 5 s ceiling, each with up to 20 % jitter.
    assert (
        0.8 <= runner.backoff(1) <= 1.2
        and 3.2 <= runner.backoff(3) <= 4.8
        and 4.0 <= runner.backoff(10) <= 6.0
    )
    async with workspaces.runtime.sessions() as session, session.begin():
        job_id = await runner_queue_add(session, kind)
    assert await runner.run_now(job_id) is None  # failed: retried later
    state = await runner.state(job_id)
    assert state is not None and state.attempts == 1 and state.last_error == "RuntimeError: refused 1"
    assert state.run_at > datetime.now(UTC)
    assert await runner.run_due() == 0  # not due again yet
    assert calls == ["7"]
    await runner.start()
    try:

        async def done() -> bool:
            found = await runner.state(job_id)
            return found is not None and found.done_at is not None

        await eventually(done, 20, "the job done")
    finally:
        await runner.stop()
    state = await runner.state(job_id)
    assert state is not None and state.attempts == 3 and state.last_error is None
    assert calls == ["7", "7", "7"]
    assert await runner.prune() >= 1
    assert await runner.state(job_id) is None


async def test_a_job_handed_to_its_request_runs_once_however_many_claim_it(
    workspaces: WorkspacesUnderTest,
) -> None:
    """run_now claims with one conditional UPDATE on autocommit sessions: of two runners asking for the
    same job at once only one runs it, a job someone holds is left alone, and the settle records it done."""
    kind = unique("test.once")
    calls: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(payload: Mapping[str, Any]) -> Outcome:
        calls.append(str(payload["n"]))
        started.set()
        await release.wait()
        return Outcome()

    runtime = workspaces.runtime
    runners = [
        JobRunner(runtime.sessions, wt.jobs, {kind: slow}, statements=runtime.read_sessions) for _ in range(2)
    ]
    async with runtime.sessions() as session, session.begin():
        job_id = await runner_queue_add(session, kind)
    first = asyncio.ensure_future(runners[0].run_now(job_id))
    await asyncio.wait_for(started.wait(), 10)
    # Held by the first runner: neither the other one nor the worker's round takes it.
    assert await runners[1].run_now(job_id) is None
    assert await runners[1].run_due() == 0
    release.set()
    assert await first is not None
    assert calls == ["7"]
    state = await runners[1].state(job_id)
    assert state is not None and state.done_at is not None and state.attempts == 1
    assert state.last_error is None
    # Done: nobody runs it again.
    assert await runners[1].run_now(job_id) is None and calls == ["7"]


async def runner_queue_add(session: Any, kind: str) -> str:
    from services.common.jobs import JobQueue

    return await JobQueue(wt.jobs).add(session, kind, {"n": 7})


async def test_published_outbox_rows_are_pruned(workspaces: WorkspacesUnderTest, auth: AuthUnderTest) -> None:
    runtime = workspaces.runtime
    owner = await person(auth, "prune")
    await workspaces.stub.CreateWorkspace(ws_pb2.CreateWorkspaceRequest(name=unique("p")), metadata=owner.md)
    table = runtime.outbox.table

    async def all_published() -> bool:
        async with runtime.sessions() as session:
            pending = await session.execute(select(table.c.event_id).where(table.c.published_at.is_(None)))
            return not pending.all()

    await eventually(all_published, 30, "every event published")
    pruner = OutboxRelay(runtime.sessions, runtime.outbox, runtime.relay.publisher, keep_published_seconds=0)
    assert await pruner.prune() >= 1
    async with runtime.sessions() as session:
        assert (
            await session.execute(select(table.c.event_id).where(table.c.published_at.isnot(None)))
        ).all() == []


# --- two replicas ---------------------------------------------------------------------------------------


class SlowPublisher:
    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await asyncio.sleep(self.seconds)
        await self.inner.publish(subject, payload, headers)


@contextlib.asynccontextmanager
async def replica(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, api_key: str
) -> AsyncIterator[tuple[Any, Runtime]]:
    settings = WorkspacesSettings(
        common=common_settings(
            "workspaces", infra, f"127.0.0.1:{free_port()}", auth.address, service_api_key=api_key
        ),
        nodes_address=nodes.address,
        credential_seconds=900,
        s3_timeout_seconds=5.0,
        last_sweep_seconds=2.0,
    )
    service = await workspaces_server.start(settings)
    async with serving(service) as channel:
        yield workspaces_pb2_grpc.WorkspacesServiceStub(channel), service.runtime


async def test_two_replicas_publish_each_shares_events_in_order(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, events: Any, outage_node: OutageNode
) -> None:
    api_key = await _service_key(auth, "workspaces")
    owner = await person(auth, "ord")
    sharees = [await person(auth, "shr") for _ in range(10)]
    async with (
        replica(infra, auth, nodes, api_key) as (one, one_runtime),
        replica(infra, auth, nodes, api_key) as (two, two_runtime),
    ):
        watcher = await events("wio.workspaces.share.>")  # the replicas made the stream
        # A JetStream that takes a little while per publish widens the window in which two publishing
        # relays could overtake each other.
        for runtime in (one_runtime, two_runtime):
            runtime.relay.publisher = SlowPublisher(runtime.relay.publisher, 0.01)
        # One relay is active at a time, whichever replica (or other process) holds the lock.
        assert not (one_runtime.relay.active and two_runtime.relay.active)
        names = [unique("o") for _ in range(10)]
        for name in names:
            await one.CreateWorkspace(
                ws_pb2.CreateWorkspaceRequest(name=name, node=outage_node.name), metadata=owner.md
            )

        # Several at a time, each grant and its revoke through different replicas.
        limit = asyncio.Semaphore(12)

        async def grant_then_revoke(name: str, sharee: Person) -> str:
            async with limit:
                return await grant_then_revoke_now(name, sharee)

        async def grant_then_revoke_now(name: str, sharee: Person) -> str:
            granted = await one.CreateShare(
                ws_pb2.CreateShareRequest(
                    workspace=name, sharee=sharee.name, permission=ws_pb2.PERMISSION_READ
                ),
                metadata=owner.md,
            )
            await two.RevokeShare(ws_pb2.RevokeShareRequest(id=granted.share.id), metadata=owner.md)
            return str(granted.share.id)

        share_ids = await asyncio.gather(*(grant_then_revoke(n, s) for n in names for s in sharees))

        async def all_seen() -> bool:
            seen = {events_pb2.ShareChangedEvent.FromString(m.data).share_id for m in watcher.messages}
            return (
                sum(m.subject.endswith(".revoked") for m in watcher.messages) >= len(share_ids)
                and set(share_ids) <= seen
            )

        await eventually(all_seen, 120, "every share's events")
    order: dict[str, list[str]] = {}
    for message in watcher.messages:
        event = events_pb2.ShareChangedEvent.FromString(message.data)
        order.setdefault(event.share_id, []).append(message.subject.rsplit(".", 1)[1])
    out_of_order = [sid for sid in share_ids if order.get(sid) != ["granted", "revoked"]]
    assert out_of_order == [], f"{len(out_of_order)} of {len(share_ids)} shares out of order"


class RecordingPublisher:
    def __init__(self, name: str, published: list[tuple[str, str]]) -> None:
        self.name = name
        self.published = published

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self.published.append((self.name, subject))


@dataclass
class TwoRelays:
    """Two relays over an outbox of their own (so no service's relay holds its lock), recording what they
    publish as (relay name, subject)."""

    runtime: Runtime
    table: Any
    outbox: Outbox
    relays: list[OutboxRelay]
    published: list[tuple[str, str]]
    names: tuple[str, str] = ("one", "two")

    async def add(self, subject: str) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await self.outbox.add(session, subject, events_pb2.WorkspaceDeletedEvent(name=subject))

    async def all_out(self, count: int) -> bool:
        # Published and recorded as such: a relay stopped between the two would leave its batch to be
        # published again by the next one (at least once), which is not what these tests are about.
        async with self.runtime.engine.connect() as connection:
            pending = await connection.scalar(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            )
        return len(self.published) >= count and pending == 0

    def name_of(self, relay: OutboxRelay) -> str:
        return self.names[self.relays.index(relay)]

    async def publish_batch(self, label: str, count: int) -> list[str]:
        """Adds `count` events (`label.00`, ...) and waits until every event so far is out; answers their
        subjects."""
        subjects = [f"{label}.{i:02}" for i in range(count)]
        expected = len(self.published) + count
        for subject in subjects:
            await self.add(subject)
        await eventually(lambda: self.all_out(expected), 20, f"the {label} events")
        return subjects


@contextlib.asynccontextmanager
async def two_relays(runtime: Runtime) -> AsyncIterator[TwoRelays]:
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    table = outbox_table(MetaData(schema=schema))
    async with runtime.engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.run_sync(table.metadata.create_all)
    outbox, published = Outbox(table), list[tuple[str, str]]()
    relays = [
        OutboxRelay(
            runtime.sessions,
            outbox,
            RecordingPublisher(name, published),
            poll_seconds=0.1,
            engine=runtime.engine,
        )
        for name in TwoRelays.names
    ]
    try:
        for relay in relays:
            relay.start()
        yield TwoRelays(runtime, table, outbox, relays, published)
    finally:
        for relay in relays:
            await relay.stop()
        async with runtime.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


async def test_one_relay_is_active_and_another_takes_over_when_it_stops(
    workspaces: WorkspacesUnderTest,
) -> None:
    async with two_relays(workspaces.runtime) as two:
        first = await two.publish_batch("first", 20)
        active = [relay for relay in two.relays if relay.active]
        assert len(active) == 1
        holder, other = active[0], next(r for r in two.relays if r is not active[0])
        assert {name for name, _ in two.published} == {two.name_of(holder)}
        await holder.stop()

        async def took_over() -> bool:
            return other.active

        await eventually(took_over, 10, "the other relay taking over")
        second = await two.publish_batch("second", 5)
        assert [subject for _, subject in two.published] == first + second
        assert [name for name, _ in two.published[20:]] == [two.name_of(other)] * 5


async def test_a_relay_whose_lock_connection_is_ended_gives_up_the_lead(
    workspaces: WorkspacesUnderTest,
) -> None:
    """The database ends the active relay's lock connection (so the lock is free): within a poll that
    relay stops counting itself active, exactly one relay leads again, and every event still goes out
    once, in order."""
    async with two_relays(workspaces.runtime) as two:
        first = await two.publish_batch("first", 5)
        holder = next(relay for relay in two.relays if relay.active)
        lock_connection: Any = holder._lock_connection
        backend = (await lock_connection.get_raw_connection()).driver_connection.get_server_pid()
        async with workspaces.runtime.engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

        async def one_leads_on_a_live_connection() -> bool:
            leading = [relay for relay in two.relays if relay.active]
            if len(leading) != 1:
                return False
            held: Any = leading[0]._lock_connection
            return bool((await held.get_raw_connection()).driver_connection.get_server_pid() != backend)

        await eventually(one_leads_on_a_live_connection, 10, "one relay leading on a new lock connection")
        second = await two.publish_batch("second", 5)
        assert [subject for _, subject in two.published] == first + second


async def test_the_cli_says_when_the_marker_is_pending_and_the_workspace_still_deleting(
    outage_node: OutageNode,
    workspaces: WorkspacesUnderTest,
    nodes: NodesUnderTest,
    auth: AuthUnderTest,
    tmp_path: Path,
) -> None:
    from tests.test_cli_nodes import Cli

    user = await person(auth, "clij")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\naddress = "{auth.address}"\n'
        f'[server.services]\nnodes = "{nodes.address}"\nworkspaces = "{workspaces.address}"\n'
        f'[auth]\napi_key = "{user.key}"\n'
    )
    config.chmod(0o600)
    cli = Cli(tmp_path, config)
    name = unique("c")
    outage_node.s3.stop()
    try:
        code, out, err = await cli("workspace", "create", name, "--node", outage_node.name)
        assert code == 0, err
        assert f"created workspace {user.name}/{name}/" in out and "marker pending" in out, out
        code, out, err = await cli("workspace", "rm", name, "--force", "--yes")
        assert code == 0, err
        assert out.startswith(f"removed workspace {user.name}/{name}/ (deleting:"), out
    finally:
        outage_node.s3.start()
