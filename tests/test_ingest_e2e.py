"""End to end, no manual step: a SeaweedFS node whose webhook (notification.toml with the node's hook
token) points at the gateway; an upload made with a user's brokered credentials becomes searchable and a
delete disappears, through webhook -> gateway -> JetStream -> indexer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from services.indexer import server as indexer_server
from tests.conftest import AuthUnderTest, WorkspacesUnderTest, free_port, serving
from tests.hooked_node import HookedNode, hook_gateway, hooked, hooked_workspace
from tests.ingest_support import index_engine, indexed, indexer_settings, until
from tests.test_workspaces import person, ref
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc

pytestmark = pytest.mark.e2e

__all__ = ["hook_gateway", "hooked", "index_engine"]


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[grpc.aio.Channel]:
    settings = await indexer_settings(infra, auth, f"127.0.0.1:{free_port()}", workspaces.address)
    service = await indexer_server.start(settings)
    async with serving(service) as channel:
        yield channel


async def test_an_upload_with_brokered_credentials_becomes_searchable_and_a_delete_disappears(
    hooked: HookedNode, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: Any, index_engine: Any
) -> None:
    alice = await person(auth, "e2e")
    ws, s3 = await hooked_workspace(workspaces, alice, hooked, "data")
    key = f"{ws.prefix}results/run {uuid.uuid4().hex[:6]}.csv"
    await asyncio.to_thread(
        s3.put_object, Bucket=ws.bucket, Key=key, Body=b"a,b\n1,2\n", ContentType="text/csv"
    )

    async def found() -> Any:
        return (await indexed(index_engine, ws.id)).get(key)

    record = await until(found, within=30, what="the upload to be indexed")
    # Searchable by its owner, through the indexer's API.
    search = indexer_pb2_grpc.IndexerServiceStub(indexer).SearchObjects
    words = indexer_pb2.SearchObjectsRequest(query="results", workspaces=[ws.id])
    hits = (await search(words, metadata=alice.md)).objects
    assert [(h.key, h.workspace, h.size) for h in hits] == [(key, ref(ws), 8)]
    assert (record.size, record.content_type, record.node_id) == (8, "text/csv", hooked.node_id)
    assert record.etag == (await asyncio.to_thread(s3.head_object, Bucket=ws.bucket, Key=key))["ETag"].strip(
        '"'
    )

    await asyncio.to_thread(s3.delete_object, Bucket=ws.bucket, Key=key)

    async def gone() -> bool:
        return key not in await indexed(index_engine, ws.id)

    await until(gone, within=30, what="the delete to remove the record")
    assert not (await search(words, metadata=alice.md)).objects
