"""The indexer's crawls on the real stack: identity, nodes and workspaces services, PostgreSQL, NATS and
SeaweedFS. Objects are put straight into the buckets with the node's admin keys (behind wio's back), the
indexer lists them with the list-only credentials the workspaces service brokers, and the index (its
PostgreSQL table) is compared with what a listing shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from services.common.errors import DomainError, Reason
from services.common.grpc_errors import error_reason
from services.common.server import Runtime
from services.indexer import server as indexer_server
from services.indexer.config import CrawlConfig, IndexerSettings
from services.indexer.domain.crawl import Crawler, CrawlSettings, Phase
from services.indexer.domain.models import ObjectRecord, WriteCounts
from services.indexer.events.publishers import CRAWL_FAILED, CRAWL_FINISHED, CRAWL_STARTED, DRIFT_FOUND
from services.indexer.storage.lister import MinioLister
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
from tests.test_cli_nodes import Cli
from tests.test_workspaces import Lab, Person, create, person, ref, s3_client, unique
from tests.test_workspaces import lab as lab  # the module's node and roots (a fixture)
from wio.indexer.v1 import events_pb2, indexer_pb2, indexer_pb2_grpc
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

PAGE_SIZE = 50


@dataclass
class IndexerUnderTest:
    address: str
    runtime: Runtime
    crawler: Crawler
    channel: grpc.aio.Channel

    @property
    def stub(self) -> Any:
        return indexer_pb2_grpc.IndexerServiceStub(self.channel)


def indexer_settings(
    infra: Any, address: str, auth: AuthUnderTest, key: str, workspaces: str
) -> IndexerSettings:
    return IndexerSettings(
        common=common_settings("indexer", infra, address, auth.address, service_api_key=key),
        workspaces_address=workspaces,
        # Small pages: every crawl here spans several; no scheduled work while the tests run.
        crawl=CrawlConfig(page_size=PAGE_SIZE, retry_seconds=3600.0, verify_interval_seconds=0.0),
    )


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[IndexerUnderTest]:
    address = f"127.0.0.1:{free_port()}"
    key = await _service_key(auth, "indexer")
    service = await indexer_server.start(indexer_settings(infra, address, auth, key, workspaces.address))
    async with serving(service) as channel:
        yield IndexerUnderTest(address, service.runtime, service.app.crawler, channel)


# --- helpers ------------------------------------------------------------------------------------------


def put_objects(client: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda key: client.put_object(Bucket=bucket, Key=key, Body=f"body of {key}".encode()), keys
            )
        )


def delete_objects(client: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = [{"Key": k} for k in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})


def listing(client: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    """What S3 shows under the prefix, without folder markers: key -> (size, etag)."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found[item["Key"]] = (int(item["Size"]), item["ETag"].strip('"'))
    return found


async def indexed(runtime: Runtime, workspace_id: str) -> dict[str, tuple[int, str]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key, size, etag FROM indexer.objects WHERE workspace_id = CAST(:id AS uuid)"),
            {"id": workspace_id},
        )
        return {row.key: (int(row.size), row.etag) for row in rows}


async def ledger_row(runtime: Runtime, workspace_id: str, root_id: str = "") -> Any:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id::text AS id, state, resume_after, objects, error FROM indexer.crawls "
                "WHERE workspace_id = :ws AND (:root = '' OR root_id = :root) "
                "ORDER BY started_at DESC LIMIT 1"
            ),
            {"ws": workspace_id, "root": root_id},
        )
        return rows.first()


async def progress_of(stream: Any) -> list[Any]:
    return [reply.progress async for reply in stream]


async def index_workspace(indexer: IndexerUnderTest, who: Person, reference: str) -> list[Any]:
    return await progress_of(
        indexer.stub.IndexWorkspace(indexer_pb2.IndexWorkspaceRequest(workspace=reference), metadata=who.md)
    )


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await progress_of(call)
    return info.value


def keys_in(ws: Any, count: int, folder: str = "") -> list[str]:
    return [f"{ws.prefix}{folder}f{i // 40:02d}/obj-{i:04d}.txt" for i in range(count)]


async def own_root(nodes: NodesUnderTest, lab: Lab) -> tuple[str, str]:
    """A private root of its own on the lab's node (a root crawl or verify sees only this test's data)."""
    bucket = unique("idx")
    root = await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=lab.node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=lab.operator.md,
    )
    return root.root.id, bucket


# --- crawls -------------------------------------------------------------------------------------------


async def test_a_workspace_crawl_indexes_the_listing_and_a_recrawl_sweeps_what_went(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest, events: Any
) -> None:
    watcher = await events("wio.indexer.>")
    alice = await person(auth, "alice")
    ws = await create(workspaces, alice, lab, "private")
    neighbour = await create(workspaces, alice, lab, "private")
    keys = [*keys_in(ws, 330), f"{ws.prefix}deep/a/b/c/é 🐟.csv", f"{ws.prefix}.hidden"]
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, keys)
    # A folder marker inside, and objects of another workspace and outside every workspace: not indexed.
    await asyncio.to_thread(lab.admin_s3.put_object, Bucket=ws.bucket, Key=f"{ws.prefix}f00/", Body=b"")
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, [f"{neighbour.prefix}x.txt", "loose.txt"])

    reports = await index_workspace(indexer, alice, ref(ws))
    last = reports[-1]
    assert last.phase == indexer_pb2.CRAWL_PHASE_FINISHED, last.error
    assert all(r.phase != indexer_pb2.CRAWL_PHASE_FINISHED for r in reports[:-1])
    assert (last.objects, last.added, last.changed, last.removed) == (len(keys), len(keys), 0, 0)
    assert last.bytes == sum(len(f"body of {k}".encode()) for k in keys)
    expected = await asyncio.to_thread(listing, lab.admin_s3, ws.bucket, ws.prefix)
    assert len(expected) == len(keys)
    assert await indexed(indexer.runtime, ws.id) == expected
    assert await indexed(indexer.runtime, neighbour.id) == {}

    started = await watcher.wait_for(
        CRAWL_STARTED, events_pb2.CrawlStartedEvent.FromString, crawl_id=last.crawl_id
    )
    assert started and started[0].scope.workspace_id == ws.id and started[0].resumed_after == ""
    assert started[0].kind == "crawl" and started[0].meta.event_id

    # Some objects go behind the index's back: a new crawl removes exactly those records.
    gone = keys[10:50]
    await asyncio.to_thread(delete_objects, lab.admin_s3, ws.bucket, gone)
    last = (await index_workspace(indexer, alice, ws.id))[-1]
    assert last.phase == indexer_pb2.CRAWL_PHASE_FINISHED, last.error
    assert (last.objects, last.added, last.changed, last.removed) == (len(keys) - 40, 0, 0, 40)
    now = await asyncio.to_thread(listing, lab.admin_s3, ws.bucket, ws.prefix)
    assert await indexed(indexer.runtime, ws.id) == now
    assert set(expected) - set(now) == set(gone)
    finished = await watcher.wait_for(
        CRAWL_FINISHED, events_pb2.CrawlFinishedEvent.FromString, crawl_id=last.crawl_id
    )
    assert finished and (finished[0].objects, finished[0].removed, finished[0].kind) == (
        len(keys) - 40,
        40,
        "crawl",
    )

    status = await indexer.stub.GetIndexStatus(indexer_pb2.GetIndexStatusRequest(), metadata=alice.md)
    mine = {s.workspace_id: s for s in status.workspaces}
    # Besides her two, only other people's public workspaces (every user reads those) may show.
    others = {s.workspace.split("/")[0] for i, s in mine.items() if i not in (ws.id, neighbour.id)}
    assert {ws.id, neighbour.id} <= set(mine) and ref(ws).split("/")[0] not in others
    assert mine[ws.id].objects == len(keys) - 40 and mine[ws.id].crawled_at.seconds > 0
    assert mine[ws.id].state == "idle" and mine[ws.id].workspace == ref(ws)
    assert mine[neighbour.id].objects == 0 and mine[neighbour.id].crawled_at.seconds == 0
    one = await indexer.stub.GetIndexStatus(
        indexer_pb2.GetIndexStatusRequest(workspace=ws.name), metadata=alice.md
    )
    assert [s.workspace_id for s in one.workspaces] == [ws.id]


async def test_a_user_who_cannot_read_is_refused(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    alice, bob = await person(auth, "alice"), await person(auth, "bob")
    ws = await create(workspaces, alice, lab, "private")
    for reference in (ref(ws), ws.id):
        error = await refused(
            indexer.stub.IndexWorkspace(
                indexer_pb2.IndexWorkspaceRequest(workspace=reference), metadata=bob.md
            )
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND and error_reason(error) == "WORKSPACE_NOT_FOUND"
    # A root: only its node's operator or an admin.
    error = await refused(
        indexer.stub.IndexRoot(indexer_pb2.IndexRootRequest(root=ws.root_id), metadata=bob.md)
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    error = await refused(
        indexer.stub.VerifyRoot(indexer_pb2.VerifyRootRequest(root=ws.root_id), metadata=bob.md)
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    # No token, a wrong one: a streaming RPC is authenticated like any other.
    for metadata in ((), (("authorization", "Bearer not-a-token"),)):
        error = await refused(
            indexer.stub.IndexWorkspace(indexer_pb2.IndexWorkspaceRequest(workspace=ws.id), metadata=metadata)
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    status = await indexer.stub.GetIndexStatus(indexer_pb2.GetIndexStatusRequest(), metadata=bob.md)
    assert ws.id not in {s.workspace_id for s in status.workspaces}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await indexer.stub.GetIndexStatus(
            indexer_pb2.GetIndexStatusRequest(workspace=ref(ws)), metadata=bob.md
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_verify_finds_drift_behind_the_index_and_repairs_it(
    tmp_path: Path,
    lab: Lab,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
    events: Any,
) -> None:
    watcher = await events("wio.indexer.>")
    root_id, bucket = await own_root(nodes, lab)
    carol = await person(auth, "carol")
    made = [
        await workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(name=unique(n), root=root_id), metadata=carol.md
        )
        for n in ("a", "b")
    ]
    first, second = made[0].workspace, made[1].workspace
    await asyncio.to_thread(put_objects, lab.admin_s3, bucket, keys_in(first, 120) + keys_in(second, 80))
    await asyncio.to_thread(put_objects, lab.admin_s3, bucket, ["outside/of/every/workspace.txt"])

    last = (
        await progress_of(
            indexer.stub.IndexRoot(indexer_pb2.IndexRootRequest(root=root_id), metadata=lab.operator.md)
        )
    )[-1]
    assert last.phase == indexer_pb2.CRAWL_PHASE_FINISHED, last.error
    assert (last.objects, last.added) == (200, 200)

    # Behind the index's back: 7 new objects in the first, 2 rewritten (new content), 5 removed in the second.
    await asyncio.to_thread(
        put_objects, lab.admin_s3, bucket, [f"{first.prefix}new/{i}.txt" for i in range(7)]
    )
    rewritten = keys_in(first, 2)
    for key in rewritten:
        await asyncio.to_thread(
            lab.admin_s3.put_object, Bucket=bucket, Key=key, Body=b"other content, longer"
        )
    await asyncio.to_thread(delete_objects, lab.admin_s3, bucket, keys_in(second, 5))

    last = (
        await progress_of(
            indexer.stub.VerifyRoot(indexer_pb2.VerifyRootRequest(root=root_id), metadata=lab.operator.md)
        )
    )[-1]
    assert last.phase == indexer_pb2.CRAWL_PHASE_FINISHED, last.error
    assert (last.objects, last.added, last.changed, last.removed) == (202, 7, 2, 5)
    for ws in (first, second):
        assert await indexed(indexer.runtime, ws.id) == await asyncio.to_thread(
            listing, lab.admin_s3, bucket, ws.prefix
        )
    drift = await watcher.wait_for(DRIFT_FOUND, events_pb2.DriftFoundEvent.FromString, crawl_id=last.crawl_id)
    await asyncio.sleep(0.5)  # both workspaces' events
    drift = watcher.matching(DRIFT_FOUND, events_pb2.DriftFoundEvent.FromString, crawl_id=last.crawl_id)
    by_ws = {d.workspace_id: (d.added, d.changed, d.removed) for d in drift}
    assert by_ws == {first.id: (7, 2, 0), second.id: (0, 0, 5)}
    assert all(d.root_id == root_id and d.verified_at.seconds > 0 for d in drift)

    status = await indexer.stub.GetIndexStatus(indexer_pb2.GetIndexStatusRequest(), metadata=carol.md)
    mine = {s.workspace_id: s for s in status.workspaces}
    assert (mine[first.id].drift_added, mine[first.id].drift_changed, mine[first.id].drift_removed) == (
        7,
        2,
        0,
    )
    assert mine[second.id].drift_removed == 5 and mine[second.id].verified_at.seconds > 0

    # Repaired: a second verify finds nothing, and says so through the CLI too.
    config = tmp_path / "op" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[server]\naddress = "{auth.address}"\n[server.services]\nindexer = "{indexer.address}"\n'
        f'[auth]\napi_key = "{lab.operator.key}"\n'
    )
    config.chmod(0o600)
    cli = Cli(tmp_path, config)
    code, out, err = await cli("index", "verify", root_id)
    assert code == 0, err
    assert out.startswith(f"verified root {root_id}: 202 objects (") and out.strip().endswith(", no drift"), (
        out
    )
    carol_config = tmp_path / "carol" / "config.toml"
    carol_config.parent.mkdir(parents=True)
    carol_config.write_text(config.read_text().replace(lab.operator.key, carol.key))
    carol_config.chmod(0o600)
    as_carol = Cli(tmp_path, carol_config)
    code, out, err = await as_carol("index", ref(first))
    assert code == 0, err
    assert out.startswith(f"indexed {ref(first)}: 127 objects") and "0 added, 0 changed, 0 removed" in out, (
        out
    )
    code, out, err = await as_carol("index", "status", "--json")
    assert code == 0, err
    shown = {s["workspace_id"]: s for s in json.loads(out)}
    assert shown[second.id]["objects"] == "75" and shown[second.id]["state"] == "idle"
    code, out, err = await as_carol("index", "status")
    assert code == 0, err
    # The last verify found nothing: no drift shown.
    line = next(line for line in out.splitlines() if ref(second) in line)
    assert line.split()[2:4] == ["75", "3.9"] and line.split()[-2:] == ["none", "idle"], out
    code, _out, err = await as_carol("index", "--root", root_id)
    assert code != 0 and err.startswith("error: ") and "Traceback" not in err


class StopsTheNodeAfterTheFirstWrite:
    """The real index, but the node goes down right after the first page is written (mid-crawl)."""

    def __init__(self, index: Any, node: Any) -> None:
        self.index = index
        self.node = node
        self.writes = 0

    async def write(self, records: list[ObjectRecord], generation: int) -> WriteCounts:
        counts: WriteCounts = await self.index.write(records, generation)
        self.writes += 1
        if self.writes == 1:
            await asyncio.to_thread(self.node.stop)
        return counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)


async def test_a_node_down_mid_crawl_fails_it_with_the_reason_and_it_resumes_from_its_checkpoint(
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
    second_s3: Any,
    events: Any,
) -> None:
    watcher = await events("wio.indexer.>")
    operator = await person(auth, "op2", admin=True)
    node = unique("down")
    await nodes.register_test_s3(second_s3, node, operator.md)
    root = await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=node, bucket=unique("down"), type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    lab = Lab(
        node,
        operator,
        s3_client(second_s3.endpoint, second_s3.region, second_s3.access_key, second_s3.secret_key),
        {},
        {},
    )
    ws = await create(workspaces, operator, lab, "private")
    assert ws.root_id == root.root.id
    keys = keys_in(ws, 1300)
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, keys)

    base = indexer.crawler
    # Pages of 100, one waiting: the first server page (1,000 keys) is still being written when the node
    # goes, so the next ListObjectsV2 request meets it down.
    lister = MinioLister(CrawlConfig().networks, page_size=100, queue_pages=1, timeout_seconds=3.0)
    crawler = Crawler(
        StopsTheNodeAfterTheFirstWrite(base.index, second_s3),  # type: ignore[arg-type]
        base.ledger,
        base.directory,
        lister,
        base.records,
        base.events,
    )
    try:
        failed = await (await crawler.crawl_workspace(ws.id)).wait()
        assert failed.phase == Phase.FAILED and failed.reason == Reason.NODE_UNREACHABLE, failed
        row = await ledger_row(indexer.runtime, ws.id)
        assert row.state == "running" and row.resume_after.startswith(ws.prefix) and 0 < row.objects < 1300
        event = await watcher.wait_for(
            CRAWL_FAILED, events_pb2.CrawlFailedEvent.FromString, crawl_id=failed.crawl_id
        )
        assert event and event[0].reason == "NODE_UNREACHABLE"
        assert crawler.failures[ws.id].startswith("NODE_UNREACHABLE")

        # Asked again while it is down, it fails the same way and its checkpoint stays where it was.
        try:
            again = await (await crawler.crawl_workspace(ws.id)).wait()
            reason = again.reason
        except DomainError as error:  # no credentials from the node's STS either
            reason = error.reason
        assert reason in {Reason.NODE_UNREACHABLE, Reason.NODE_STS_FAILED}, reason
        assert (await ledger_row(indexer.runtime, ws.id)).resume_after == row.resume_after

        second_s3.start()
        resumed = await (await crawler.crawl_workspace(ws.id)).wait()
        assert resumed.phase == Phase.FINISHED, resumed
        assert resumed.crawl_id == failed.crawl_id and resumed.resumed_after == row.resume_after
        # Listed from the checkpoint on: the objects written before it plus those after it, each once.
        assert resumed.objects == 1300
        assert await indexed(indexer.runtime, ws.id) == await asyncio.to_thread(
            listing, lab.admin_s3, ws.bucket, ws.prefix
        )
        assert ws.id not in crawler.failures
    finally:
        await crawler.close()
        if not second_s3.is_running():
            second_s3.start()
        lister.close()


async def test_kill_9_mid_crawl_then_the_restarted_indexer_resumes_from_the_checkpoint(
    tmp_path: Path,
    infra: Any,
    lab: Lab,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
    events: Any,
) -> None:
    watcher = await events("wio.indexer.>")
    dave = await person(auth, "dave")
    ws = await create(workspaces, dave, lab, "private")
    count = 1500
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, keys_in(ws, count))
    address = f"127.0.0.1:{free_port()}"
    env = service_env(
        infra,
        "indexer",
        {
            "WIO_INDEXER_LISTEN": address,
            "WIO_AUTH_ADDRESS": auth.address,
            "WIO_INDEXER_SERVICE_API_KEY": await _service_key(auth, "indexer"),
            "WIO_WORKSPACES_ADDRESS": workspaces.address,
            # Small pages: a crawl of 1,500 objects takes many, so a kill lands in the middle of it.
            "WIO_INDEXER_PAGE_SIZE": "10",
            "WIO_INDEXER_QUEUE_PAGES": "1",
            "WIO_INDEXER_VERIFY_INTERVAL_SECONDS": "0",
            "WIO_INDEXER_RETRY_SECONDS": "3600",
            "WIO_NODES_ADMIN_NETWORKS": "127.0.0.0/8",
        },
    )

    async def healthy(channel: grpc.aio.Channel) -> None:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)

    first = ServiceProcess("indexer", address, env, tmp_path / "indexer-1.log")
    second: ServiceProcess | None = None
    try:
        await first.wait_ready(healthy)
        channel = grpc.aio.insecure_channel(address)
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        follow = asyncio.create_task(
            progress_of(
                stub.IndexWorkspace(indexer_pb2.IndexWorkspaceRequest(workspace=ws.id), metadata=dave.md)
            )
        )
        row = None
        for _ in range(600):
            row = await ledger_row(indexer.runtime, ws.id)
            if row is not None and row.objects >= 100:
                break
            await asyncio.sleep(0.01)
        first.kill()
        with contextlib.suppress(grpc.aio.AioRpcError):
            await follow
        await channel.close()
        row = await ledger_row(indexer.runtime, ws.id)
        assert row is not None and row.state == "running", row
        assert 0 < row.objects < count and row.resume_after.startswith(ws.prefix)
        checkpoint = row.resume_after

        # Started again, it resumes the crawl on its own (nobody asks for it).
        second = ServiceProcess("indexer", address, env, tmp_path / "indexer-2.log")
        await second.wait_ready(healthy)
        finished = await watcher.wait_for(
            CRAWL_FINISHED, events_pb2.CrawlFinishedEvent.FromString, within=60.0, crawl_id=row.id
        )
        assert finished, (tmp_path / "indexer-2.log").read_text()
        starts = watcher.matching(CRAWL_STARTED, events_pb2.CrawlStartedEvent.FromString, crawl_id=row.id)
        assert [s.resumed_after for s in starts] == ["", checkpoint]
        # Had it listed from the start, it would count the objects before the checkpoint twice.
        assert finished[0].objects == count
        assert await indexed(indexer.runtime, ws.id) == await asyncio.to_thread(
            listing, lab.admin_s3, ws.bucket, ws.prefix
        )
        assert (await ledger_row(indexer.runtime, ws.id)).state == "finished"
    finally:
        first.kill()
        if second is not None:
            second.kill()


class CountingDirectory:
    """The real workspaces client, counting the listing grants asked for."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory
        self.grants = 0

    async def listing_grant(self, root_id: str, workspace_id: str, on_behalf_of: str, admin: bool) -> Any:
        self.grants += 1
        return await self.directory.listing_grant(root_id, workspace_id, on_behalf_of, admin)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.directory, name)


async def test_credentials_about_to_expire_are_renewed_and_the_listing_goes_on_after_the_last_key(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    erin = await person(auth, "erin")
    ws = await create(workspaces, erin, lab, "private")
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, keys_in(ws, 130))
    base = indexer.crawler
    directory = CountingDirectory(base.directory)
    # Every grant (an hour long) counts as about to expire: a new one after each page of 20.
    lister = MinioLister(CrawlConfig().networks, page_size=20, queue_pages=1)
    crawler = Crawler(
        base.index,
        base.ledger,
        directory,
        lister,
        base.records,
        base.events,
        CrawlSettings(renew_margin=timedelta(days=1)),
    )
    try:
        done = await (await crawler.crawl_workspace(ws.id)).wait()
    finally:
        await crawler.close()
        lister.close()
    assert done.phase == Phase.FINISHED and (done.objects, done.added) == (130, 130), done
    # The first grant, one before the listing starts (it is already "expiring"), one after each page.
    assert directory.grants >= 130 // 20
    assert await indexed(indexer.runtime, ws.id) == await asyncio.to_thread(
        listing, lab.admin_s3, ws.bucket, ws.prefix
    )


async def test_a_second_request_for_a_running_scope_follows_the_same_crawl(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    fay = await person(auth, "fay")
    ws = await create(workspaces, fay, lab, "private")
    await asyncio.to_thread(put_objects, lab.admin_s3, ws.bucket, keys_in(ws, 60))
    crawler = indexer.crawler
    # Another crawl of the same root is running (held here): both requests wait for it, as one crawl.
    async with crawler._lock(ws.root_id):
        first = await crawler.crawl_workspace(ws.id)
        second = await crawler.crawl_workspace(ws.id)
        assert second is first
        assert first.progress.phase == Phase.STARTING
    followed = [p async for p in second.follow(0.05)]
    assert followed[-1].phase == Phase.FINISHED and followed[-1].objects == 60
    assert len({p.crawl_id for p in followed if p.crawl_id}) == 1
    # Finished, the scope is free: a new request is a new crawl.
    third = await crawler.crawl_workspace(ws.id)
    assert third is not first and (await third.wait()).crawl_id != followed[-1].crawl_id
