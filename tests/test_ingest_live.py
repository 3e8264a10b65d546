"""Live updates on the real stack: bodies published to WIO_INGEST as the gateway publishes them (MinIO's
S3 event records, SeaweedFS's webhook notifications) reach the index through the indexer's durable
consumer, in the right final state whatever their order; a malformed body ends in the dead-letter
subject with its reason; an event outside every workspace is dropped; workspace deletion removes the
workspace's records."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.consumer import DELIVERIES_HEADER, REASON_HEADER
from services.common.server import Service
from services.indexer import server as indexer_server
from tests import test_workspaces
from tests.conftest import AuthUnderTest, WorkspacesUnderTest, free_port, serving
from tests.ingest_support import (
    Gateway,
    gateway_nats,
    index_engine,
    indexed,
    indexer_settings,
    minio_body,
    seaweed_body,
    settled,
    until,
)
from tests.test_workspaces import Lab, create, person
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab
__all__ = ["gateway_nats", "index_engine", "lab"]

CREATED = "s3:ObjectCreated:Put"
REMOVED = "s3:ObjectRemoved:Delete"


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[Service[Any]]:
    """The indexer in this process, with few attempts before a dead letter."""
    settings = await indexer_settings(
        infra,
        auth,
        f"127.0.0.1:{free_port()}",
        workspaces.address,
        max_deliver=3,
        locations_refresh_seconds=0.5,
    )
    service = await indexer_server.start(settings)
    async with serving(service):
        yield service


@pytest.fixture(scope="module")
async def owner(auth: AuthUnderTest) -> Any:
    return await person(auth, "ing")


async def test_minio_and_seaweedfs_bodies_index_and_unindex(
    lab: Lab,
    workspaces: WorkspacesUnderTest,
    indexer: Any,
    owner: Any,
    gateway_nats: Gateway,
    index_engine: Any,
) -> None:
    ws = await create(workspaces, owner, lab, "private")
    now = datetime.now(UTC)
    minio_key = f"{ws.prefix}reports/Q1 summary+final é.csv"
    seaweed_key = f"{ws.prefix}dir one/a b.txt"
    await gateway_nats.publish(
        ws.node_id, minio_body(CREATED, ws.bucket, minio_key, now, size=42, etag='"abc"', sequencer="10")
    )
    await gateway_nats.publish(ws.node_id, seaweed_body(ws.bucket, seaweed_key, size=5, when=now))
    # Folders never become records.
    await gateway_nats.publish(ws.node_id, minio_body(CREATED, ws.bucket, f"{ws.prefix}reports/", now))

    records = await until(
        lambda: _with_keys(index_engine, ws.id, {minio_key, seaweed_key}), what="both records"
    )
    report = records[minio_key]
    assert (report.path, report.name, report.extension) == (
        "reports/Q1 summary+final é.csv",
        "Q1 summary+final é.csv",
        "csv",
    )
    assert (report.size, report.etag, report.workspace_id, report.node_id) == (42, "abc", ws.id, ws.node_id)
    text = records[seaweed_key]
    assert (text.path, text.size, text.etag) == ("dir one/a b.txt", 5, "5d41402abc4b2a76b9719d911017c592")
    assert set(records) == {minio_key, seaweed_key}

    later = now + timedelta(seconds=2)
    await gateway_nats.publish(ws.node_id, minio_body(REMOVED, ws.bucket, minio_key, later, sequencer="11"))
    await gateway_nats.publish(ws.node_id, seaweed_body(ws.bucket, seaweed_key, deleted=True))
    await until(lambda: _without(index_engine, ws.id), what="both records to go")


async def test_out_of_order_pairs_end_in_the_right_state(
    lab: Lab,
    workspaces: WorkspacesUnderTest,
    indexer: Any,
    owner: Any,
    gateway_nats: Gateway,
    index_engine: Any,
    infra: Any,
) -> None:
    ws = await create(workspaces, owner, lab, "private")
    t1 = datetime.now(UTC)
    t2 = t1 + timedelta(milliseconds=300)
    node, bucket, p = ws.node_id, ws.bucket, ws.prefix
    pairs = [
        # (key, first published, then published): the later change must win either way
        (
            f"{p}deleted-late.txt",
            minio_body(REMOVED, bucket, f"{p}deleted-late.txt", t2),
            minio_body(CREATED, bucket, f"{p}deleted-late.txt", t1, 3),
        ),
        (
            f"{p}deleted.txt",
            minio_body(CREATED, bucket, f"{p}deleted.txt", t1, 3),
            minio_body(REMOVED, bucket, f"{p}deleted.txt", t2),
        ),
        (
            f"{p}recreated.txt",
            minio_body(CREATED, bucket, f"{p}recreated.txt", t2, 7),
            minio_body(REMOVED, bucket, f"{p}recreated.txt", t1),
        ),
        (
            f"{p}recreated-late.txt",
            minio_body(REMOVED, bucket, f"{p}recreated-late.txt", t1),
            minio_body(CREATED, bucket, f"{p}recreated-late.txt", t2, 7),
        ),
        # MinIO's sequencer orders two changes of one key even within one millisecond
        (
            f"{p}seq.txt",
            minio_body(REMOVED, bucket, f"{p}seq.txt", t1, sequencer="1A"),
            minio_body(CREATED, bucket, f"{p}seq.txt", t1, 9, sequencer="19"),
        ),
        # SeaweedFS: an old create arriving after the delete of that version
        (
            f"{p}sw.txt",
            seaweed_body(bucket, f"{p}sw.txt", deleted=True),
            seaweed_body(bucket, f"{p}sw.txt", when=t1 - timedelta(seconds=5)),
        ),
    ]
    for _key, first, _then in pairs:
        await gateway_nats.publish(node, first)
    await settled(infra)
    for _key, _first, then in pairs:
        await gateway_nats.publish(node, then)
    # And a redelivered (duplicated) old create changes nothing either.
    await gateway_nats.publish(node, pairs[0][2])
    await settled(infra)
    records = await indexed(index_engine, ws.id)
    assert set(records) == {f"{p}recreated.txt", f"{p}recreated-late.txt"}
    assert all(r.size == 7 for r in records.values())


async def test_malformed_body_is_dead_lettered_with_its_reason(
    lab: Lab, workspaces: WorkspacesUnderTest, indexer: Any, owner: Any, gateway_nats: Gateway, events: Any
) -> None:
    node_id = str(uuid.uuid4())
    watcher = await events("wio.ingest.deadletter.>")
    body = b'{"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": "broken"}]}'
    await gateway_nats.publish(node_id, body)
    await gateway_nats.publish(node_id, b"\x00 not json")

    async def both() -> list[Any]:
        found = [m for m in watcher.messages if m.subject == f"wio.ingest.deadletter.{node_id}"]
        return found if len(found) == 2 else []

    dead = {m.data: m for m in await until(both, what="two dead letters")}
    assert dead[body].headers[REASON_HEADER] == "MALFORMED_EVENT: Records[0].s3 is missing or not an object"
    assert dead[body].headers["Wio-Node-Id"] == node_id
    assert dead[body].headers[DELIVERIES_HEADER] == "1"
    assert dead[b"\x00 not json"].headers[REASON_HEADER].startswith("MALFORMED_EVENT: body is not JSON")


async def test_events_outside_every_workspace_are_dropped(
    lab: Lab,
    workspaces: WorkspacesUnderTest,
    indexer: Any,
    owner: Any,
    gateway_nats: Gateway,
    index_engine: Any,
    infra: Any,
    events: Any,
) -> None:
    watcher = await events("wio.ingest.deadletter.>")
    ws = await create(workspaces, owner, lab, "private")
    now = datetime.now(UTC)
    parent = ws.prefix.rstrip("/").rsplit("/", 1)[0] + "/"
    outside = [
        minio_body(CREATED, ws.bucket, f"{parent}beside-the-workspace.txt", now, 1),
        minio_body(CREATED, ws.bucket, "top-level.txt", now, 1),
        minio_body(CREATED, f"other-{uuid.uuid4().hex[:6]}", f"{ws.prefix}x.txt", now, 1),  # another bucket
        seaweed_body(ws.bucket, ws.prefix.rstrip("/") + "-sibling/x.txt"),  # a prefix sharing the name
    ]
    for body in outside:
        await gateway_nats.publish(ws.node_id, body)
    await settled(infra)
    assert await indexed(index_engine, ws.id) == {}
    assert not [m for m in watcher.messages if m.subject.endswith(ws.node_id)]


async def test_a_new_workspace_first_upload_is_not_dropped(
    lab: Lab,
    workspaces: WorkspacesUnderTest,
    indexer: Any,
    owner: Any,
    gateway_nats: Gateway,
    index_engine: Any,
) -> None:
    # The indexer has just loaded the node's workspaces (for another workspace's event)...
    first = await create(workspaces, owner, lab, "private")
    now = datetime.now(UTC)
    await gateway_nats.publish(
        first.node_id, minio_body(CREATED, first.bucket, f"{first.prefix}a.txt", now, 1)
    )
    await until(lambda: _with_keys(index_engine, first.id, {f"{first.prefix}a.txt"}), what="the first record")
    # ... then a workspace is created and written to at once.
    second = await create(workspaces, owner, lab, "private")
    key = f"{second.prefix}first.txt"
    await gateway_nats.publish(second.node_id, minio_body(CREATED, second.bucket, key, now, 1))
    await until(lambda: _with_keys(index_engine, second.id, {key}), what="the new workspace's first record")


async def test_deleting_a_workspace_removes_its_records(
    lab: Lab,
    workspaces: WorkspacesUnderTest,
    indexer: Any,
    owner: Any,
    gateway_nats: Gateway,
    index_engine: Any,
) -> None:
    ws = await create(workspaces, owner, lab, "private")
    now = datetime.now(UTC)
    keys = {f"{ws.prefix}f{i}.bin" for i in range(3)}
    for key in keys:
        await gateway_nats.publish(ws.node_id, minio_body(CREATED, ws.bucket, key, now, 10))
    await until(lambda: _with_keys(index_engine, ws.id, keys), what="three records")
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=f"{ws.owner_username}/{ws.name}"), metadata=owner.md
    )
    await until(lambda: _without(index_engine, ws.id), what="the deleted workspace's records to go")


async def _with_keys(engine: Any, workspace_id: str, keys: set[str]) -> dict[str, Any] | None:
    records = await indexed(engine, workspace_id)
    return records if keys <= set(records) else None


async def _without(engine: Any, workspace_id: str) -> bool:
    return not await indexed(engine, workspace_id)
