"""The indexer's reactions to other services' events, on the real stack: importing an unmanaged root
starts its first crawl (the existing objects become records with no other step); removing a node
removes whatever records still carry its id; old tombstones expire."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.common.server import Service
from services.indexer import server as indexer_server
from services.indexer.domain.models import Location, ObjectChange, record_for
from services.indexer.events.subscribers import TombstoneExpiry
from services.indexer.storage.pg_index import PgObjectIndex
from tests import test_workspaces
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest, free_port, serving
from tests.ingest_support import index_engine, indexed, indexer_settings, until
from tests.test_workspaces import Lab, person, unique
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab
__all__ = ["index_engine", "lab"]


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[Service[Any]]:
    settings = await indexer_settings(infra, auth, f"127.0.0.1:{free_port()}", workspaces.address)
    service = await indexer_server.start(settings)
    async with serving(service):
        yield service


async def test_importing_a_root_crawls_it(
    lab: Lab, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest, indexer: Any, index_engine: Any
) -> None:
    bucket = unique("ixi")
    lab.admin_s3.create_bucket(Bucket=bucket)
    existing = {"survey/2024/a.csv", "survey/2024/b.csv", "images/x.png"}
    for key in existing:
        lab.admin_s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    root = (
        await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(node=lab.node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_UNMANAGED),
            metadata=lab.operator.md,
        )
    ).root
    result = await workspaces.stub.ImportRoot(
        ws_pb2.ImportRootRequest(root=root.id), metadata=lab.operator.md
    )
    by_prefix = {w.prefix: w.id for w in result.created}
    assert set(by_prefix) == {"survey/", "images/"}

    async def crawled() -> bool:
        survey = await indexed(index_engine, by_prefix["survey/"])
        images = await indexed(index_engine, by_prefix["images/"])
        return set(survey) | set(images) == existing

    await until(crawled, within=60, what="the imported root's first crawl")


async def test_removing_a_node_removes_records_that_carry_its_id(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, indexer: Any, index_engine: Any
) -> None:
    operator = await person(auth, "ixn", admin=True)
    name = unique("gone")
    await nodes.register_test_s3(infra.s3, name, operator.md)
    node_id = (await nodes.stub.GetNode(nodes_pb2.GetNodeRequest(node=name), metadata=operator.md)).node.id
    # A node with workspaces cannot be removed, and their records go with them; these stand for any
    # left behind (a crawl finishing late), written straight to the index.
    where = Location(str(uuid.uuid4()), str(uuid.uuid4()), node_id, "b", "ws/", "o", "owner", "ws", name)
    now = datetime.now(UTC)
    records = [record_for(where, f"ws/{i}.txt", 1, "e", now) for i in range(3)]
    index = PgObjectIndex(index_engine)
    await index.write([r for r in records if r is not None], generation=1)
    assert len(await indexed(index_engine, where.workspace_id)) == 3

    await nodes.stub.DeleteNode(nodes_pb2.DeleteNodeRequest(node=name), metadata=operator.md)

    async def gone() -> bool:
        return not await indexed(index_engine, where.workspace_id)

    await until(gone, what="the removed node's records to go")


async def test_tombstones_expire_after_their_time(index_engine: Any) -> None:
    index = PgObjectIndex(index_engine)
    node_id = str(uuid.uuid4())
    old, recent = datetime.now(UTC) - timedelta(hours=3), datetime.now(UTC) - timedelta(minutes=1)
    for key, at in (("old.txt", old), ("recent.txt", recent)):
        await index.apply(ObjectChange(node_id, "b", key, True, at), None)
    expired = await TombstoneExpiry(index, keep_seconds=3600, every_seconds=0).run_once()
    assert expired >= 1
    async with index_engine.connect() as conn:
        left = (
            await conn.execute(
                text("SELECT key FROM indexer.tombstones WHERE node_id = CAST(:n AS uuid)"), {"n": node_id}
            )
        ).scalars()
        assert set(left) == {"recent.txt"}
