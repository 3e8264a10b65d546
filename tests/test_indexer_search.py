"""Search and totals through the indexer's gRPC service on the real stack: results come only from
workspaces the workspaces service says the caller can read, asked on every search, so a share shows its
files on the next search and a revoke hides them on the very next one. Records are written straight to
the index (the crawl and the events are tested on their own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from services.indexer import server as indexer_server
from services.indexer.config import IndexerSettings
from services.indexer.domain.models import Location, ObjectRecord, record_for
from services.indexer.storage.pg_index import PgObjectIndex
from tests import test_workspaces
from tests.conftest import (
    AuthUnderTest,
    WorkspacesUnderTest,
    _service_key,
    common_settings,
    free_port,
    serving,
)
from tests.test_workspaces import READ, Lab, Person, create, expect_error, person, share
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class IndexerUnderTest:
    stub: indexer_pb2_grpc.IndexerServiceStub
    index: PgObjectIndex


@pytest.fixture(scope="module")
async def indexer(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> AsyncIterator[IndexerUnderTest]:
    address = f"127.0.0.1:{free_port()}"
    common = common_settings(
        "indexer", infra, address, auth.address, service_api_key=await _service_key(auth, "indexer")
    )
    service = await indexer_server.start(
        IndexerSettings(common=common, workspaces_address=workspaces.address)
    )
    async with serving(service) as channel:
        yield IndexerUnderTest(
            indexer_pb2_grpc.IndexerServiceStub(channel), PgObjectIndex(service.runtime.engine)
        )


def _location(ws: Any) -> Location:
    return Location(
        workspace_id=ws.id,
        root_id=ws.root_id,
        node_id=ws.node_id,
        bucket=ws.bucket,
        prefix=ws.prefix,
        owner_id=ws.owner_id,
        owner_username=ws.owner_username,
        name=ws.name,
        node_name="",
    )


async def put(indexer: IndexerUnderTest, ws: Any, *paths: str, size: int = 100) -> list[ObjectRecord]:
    loc = _location(ws)
    records = [
        record_for(loc, loc.prefix + path, size, "etag", T0 + timedelta(minutes=i))
        for i, path in enumerate(paths)
    ]
    written = [r for r in records if r is not None]
    await indexer.index.write(written, 1)
    return written


async def search(indexer: IndexerUnderTest, who: Person, query: str = "", **fields: Any) -> list[str]:
    response = await indexer.stub.SearchObjects(
        indexer_pb2.SearchObjectsRequest(query=query, **fields), metadata=who.md
    )
    return sorted(f"{o.workspace}/{o.path}" for o in response.objects)


async def test_alice_finds_hers_bob_only_what_is_shared_until_the_revoke(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    alice, bob = await person(auth, "alice"), await person(auth, "bob")
    private = await create(workspaces, alice, lab, "private")
    public = await create(workspaces, alice, lab, "public")
    tag = uuid.uuid4().hex[:8]
    await put(indexer, private, f"results/{tag}_report.csv", "results/other.txt")
    await put(indexer, public, f"pub/{tag}_report.pdf")
    mine, theirs = f"{alice.name}/{private.name}", f"{alice.name}/{public.name}"

    assert await search(indexer, alice, tag) == [
        f"{mine}/results/{tag}_report.csv",
        f"{theirs}/pub/{tag}_report.pdf",
    ]
    assert await search(indexer, bob, tag) == [f"{theirs}/pub/{tag}_report.pdf"]
    # Naming the private workspace changes nothing: no result, no error that says it exists.
    assert await search(indexer, bob, tag, workspaces=[mine]) == []
    assert await search(indexer, bob, tag, workspaces=[private.id]) == []
    assert await search(indexer, bob, tag, owners=[alice.name]) == [f"{theirs}/pub/{tag}_report.pdf"]

    granted = await share(workspaces, alice, private, bob.name, READ)
    assert await search(indexer, bob, tag) == [
        f"{mine}/results/{tag}_report.csv",
        f"{theirs}/pub/{tag}_report.pdf",
    ]
    assert await search(indexer, bob, f'"{tag}_rep" csv', workspaces=[mine]) == [
        f"{mine}/results/{tag}_report.csv"
    ]

    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granted.id), metadata=alice.md)
    assert await search(indexer, bob, tag) == [f"{theirs}/pub/{tag}_report.pdf"]

    totals = await indexer.stub.GetTotals(
        indexer_pb2.GetTotalsRequest(group_by=indexer_pb2.TOTALS_GROUP_WORKSPACE), metadata=alice.md
    )
    rows = {r.key: (r.objects, r.bytes) for r in totals.rows}
    assert rows[mine] == (2, 200) and rows[theirs] == (1, 100)
    by_owner = await indexer.stub.GetTotals(
        indexer_pb2.GetTotalsRequest(group_by=indexer_pb2.TOTALS_GROUP_OWNER), metadata=bob.md
    )
    assert {r.key: r.objects for r in by_owner.rows}.get(alice.name) == 1
    by_extension = await indexer.stub.GetTotals(
        indexer_pb2.GetTotalsRequest(group_by=indexer_pb2.TOTALS_GROUP_EXTENSION, workspaces=[mine]),
        metadata=alice.md,
    )
    assert {r.key: r.objects for r in by_extension.rows} == {"csv": 1, "txt": 1}
    assert (by_extension.objects, by_extension.bytes) == (2, 200)


async def test_pages_follow_each_other_and_tokens_cannot_be_forged(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    carol, dave = await person(auth, "carol"), await person(auth, "dave")
    ws = await create(workspaces, carol, lab, "private")
    tag = uuid.uuid4().hex[:8]
    written = await put(indexer, ws, *(f"d{i % 3}/{tag}-{i:02d}.dat" for i in range(12)))
    seen: list[str] = []
    token = ""
    for _ in range(5):
        response = await indexer.stub.SearchObjects(
            indexer_pb2.SearchObjectsRequest(
                query=tag, page_size=5, page_token=token, sort=indexer_pb2.SORT_FIELD_MODIFIED
            ),
            metadata=carol.md,
        )
        seen.extend(o.key for o in response.objects)
        token = response.next_page_token
        if not token:
            break
    assert seen == [r.key for r in written]  # modified order, each once

    first = await indexer.stub.SearchObjects(
        indexer_pb2.SearchObjectsRequest(query=tag, page_size=5), metadata=carol.md
    )
    token = first.next_page_token
    assert token
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad, md in [
        (indexer_pb2.SearchObjectsRequest(query=tag, page_size=5, page_token=tampered), carol.md),
        (indexer_pb2.SearchObjectsRequest(query=tag + " x", page_size=5, page_token=token), carol.md),
        (indexer_pb2.SearchObjectsRequest(query=tag, page_size=5, page_token=token), dave.md),
        (indexer_pb2.SearchObjectsRequest(query=tag, page_size=5, page_token="not-a-token"), carol.md),
    ]:
        error = await expect_error(
            indexer.stub.SearchObjects(bad, metadata=md), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"
        )
        assert "page_token" in (error.details() or "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_size": -1}, "min_size"),
        ({"max_size": -5}, "max_size"),
        ({"min_size": 10, "max_size": 5}, "min_size"),
        ({"extensions": ["tar.gz"]}, "extensions"),
        ({"page_size": 5000}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"query": '"unclosed'}, "query"),
        ({"sort": 42}, "sort"),
        (
            {
                "modified_after": timestamp_pb2.Timestamp(seconds=200),
                "modified_before": timestamp_pb2.Timestamp(seconds=100),
            },
            "modified_after",
        ),
    ],
)
async def test_a_bad_filter_names_its_field(
    auth: AuthUnderTest, indexer: IndexerUnderTest, fields: dict[str, Any], field: str
) -> None:
    who = await person(auth, "erin")
    call = indexer.stub.SearchObjects(indexer_pb2.SearchObjectsRequest(**fields), metadata=who.md)
    error = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert (error.details() or "").startswith(f"{field}:")


async def test_search_needs_a_caller(indexer: IndexerUnderTest) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await indexer.stub.SearchObjects(indexer_pb2.SearchObjectsRequest(query="x"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
