"""Search and totals through the indexer's gRPC service on the real stack: results come only from
workspaces the workspaces service says the caller can read, asked on every search, so a share shows its
files on the next search and a revoke hides them on the very next one. Records are written straight to
the index (the crawl and the events are tested on their own)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    NodesUnderTest,
    WorkspacesUnderTest,
    _service_key,
    common_settings,
    free_port,
    serving,
)
from tests.test_cli_nodes import Cli, one_clean_line
from tests.test_workspaces import READ, Lab, Person, create, expect_error, person, share
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class IndexerUnderTest:
    address: str
    stub: Any  # the aio stub
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
            address, indexer_pb2_grpc.IndexerServiceStub(channel), PgObjectIndex(service.runtime.engine)
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
            indexer.stub.SearchObjects(bad, metadata=md),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
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


async def test_search_and_du_through_the_cli(
    tmp_path: Path,
    lab: Lab,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
) -> None:
    frank = await person(auth, "frank")
    ws = await create(workspaces, frank, lab, "private")
    tag = uuid.uuid4().hex[:8]
    await put(indexer, ws, f"a/{tag}_one.csv", f"b/{tag}_two.csv", f"c/{tag}_big.bin", size=1536)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\naddress = "{auth.address}"\n'
        f'[server.services]\nnodes = "{nodes.address}"\nworkspaces = "{workspaces.address}"\n'
        f'indexer = "{indexer.address}"\n[auth]\napi_key = "{frank.key}"\n'
    )
    config.chmod(0o600)
    cli = Cli(tmp_path, config)
    ref = f"{frank.name}/{ws.name}"

    code, out, err = await cli("search", tag, "--ext", "csv")
    assert code == 0, err
    assert out.splitlines() == [
        f"{ref}/a/{tag}_one.csv  1.5K  2026-03-01 00:00:00",
        f"{ref}/b/{tag}_two.csv  1.5K  2026-03-01 00:01:00",
    ]
    # Pages are followed up to --limit (one object a page here), and the rest is announced.
    code, out, err = await cli("search", tag, "--limit", "2", "--sort", "modified", "--desc")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [
        f"{ref}/c/{tag}_big.bin",
        f"{ref}/b/{tag}_two.csv",
    ]
    assert "more than 2" in err
    code, out, _ = await cli("search", f'"{tag}_t"', "--json", "-w", ws.name)
    assert code == 0 and [o["path"] for o in json.loads(out)] == [f"b/{tag}_two.csv"]

    code, out, err = await cli("du", ref, "--by", "extension")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert ["csv", "2", "3.0K", "3,072"] in rows and ["bin", "1", "1.5K", "1,536"] in rows
    assert rows[-1] == ["total", "3", "4.5K", "4,608"]
    code, out, _ = await cli("du", "--json")
    assert code == 0 and {r["key"]: int(r["objects"]) for r in json.loads(out)["rows"]}[ref] == 3

    code, _, err = await cli("search", tag, "--min-size", "lots")
    assert code != 0 and "not a size" in err
    code, _, err = await cli("search", tag, "--ext", "a.b")
    assert code != 0
    one_clean_line(err)
    assert "extensions" in err
