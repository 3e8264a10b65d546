"""Prints ListWorkspaces latency for the first page (default size, 100) when the caller can see 10
workspaces and when they can see 10,000, in the same database, and a page deep in the larger listing.

Target: the first page over 10,000 visible workspaces answers as fast as over 10 (keyset pagination over
the listing's index; the permission rule and the filters run in the query).

Starts its own stack (`wio-dev up`) on free ports in a temporary folder. The 10,010 workspaces are written
straight into the workspaces service's tables (creating them through the API would time the folder markers
on S3, not the listing): `many` owns half of theirs and sees the other half through shares to them; `few`
owns 10.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.stack import Stack, percentile, private_stack
from services.workspaces.domain.models import ListingFilters, Principal
from services.workspaces.storage import tables as t
from services.workspaces.storage.repository import visible_page_query
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

MANY = 10_000
FEW = 10


def figures(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5) * 1000:.2f} ms, p95 {percentile(values, 0.95) * 1000:.2f} ms"


def new_user(stack: Stack, name: str) -> tuple[str, str]:
    stub = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    reply = stub.CreateUser(
        auth_pb2.CreateUserRequest(username=name, email=f"{name}@example.org"),
        metadata=stack.bearer(stack.admin_key),
    )
    return reply.user.id, reply.api_key_secret


def rows(owner_id: str, owner: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    root, node = str(uuid.uuid4()), str(uuid.uuid4())
    return [
        {
            "id": str(uuid.uuid4()),
            "name": f"ws-{i:05d}",
            "owner_id": owner_id,
            "owner_username": owner,
            "type": "private",
            "node_id": node,
            "node_name": "bench",
            "root_id": root,
            "bucket": "bench",
            "prefix": f"{owner}/ws-{i:05d}/",
            "created_at": datetime.now(UTC),
        }
        for i in range(start, start + count)
    ]


async def fill(database_url: str, users: dict[str, str], names: dict[str, str], many_count: int) -> None:
    engine = create_async_engine(database_url)
    many = rows(users["many"], names["many"], many_count // 2)
    others = rows(users["other"], names["other"], many_count - many_count // 2)
    shares = [
        {
            "id": str(uuid.uuid4()),
            "workspace_id": w["id"],
            "sharee_kind": "user",
            "sharee_id": users["many"],
            "sharee_name": names["many"],
            "level": 1,
            "created_by": users["other"],
            "created_at": datetime.now(UTC),
        }
        for w in others
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(t.workspaces), [*many, *others, *rows(users["few"], names["few"], FEW)])
        await conn.execute(insert(t.shares), shares)
        for table in ("workspaces", "shares"):
            await conn.exec_driver_sql(f"ANALYZE workspaces.{table}")
    await engine.dispose()


def timed(stub: Any, md: Any, request: Any, calls: int) -> tuple[list[float], Any]:
    latencies, reply = [], None
    for _ in range(calls):
        started = time.perf_counter()
        reply = stub.ListWorkspaces(request, metadata=md, timeout=30)
        latencies.append(time.perf_counter() - started)
    return latencies, reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.calls, args.explain)


async def show_plans(database_url: str, users: dict[str, str], names: dict[str, str], deep: int) -> None:
    """EXPLAIN ANALYZE of the first page's query for both users, and of page `deep` + 1 of `many`."""
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        # The key of the row where page `deep` + 1 of `many` starts (found with OFFSET here only, to show it).
        row = (
            await conn.execute(
                text(
                    "SELECT owner_username, name, id::text FROM workspaces.workspaces "
                    "ORDER BY owner_username, name, id OFFSET :skip LIMIT 1"
                ),
                {"skip": deep * 100 - 1},
            )
        ).one()
        for name, after in (("few", None), ("many", None), ("many", tuple(row))):
            principal = Principal(users[name], names[name], frozenset())
            query = visible_page_query(principal, datetime.now(UTC), ListingFilters(), after, 100)
            sql = query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            plan = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print(f"--- {name}, {'after ' + str(after) if after else 'first page'}")
            print("\n".join(row[0] for row in plan))
    await engine.dispose()


async def query_times(
    database_url: str, users: dict[str, str], names: dict[str, str], many_count: int, calls: int
) -> None:
    """The first page's query alone (no gRPC, no service), to tell its cost from the machine's load."""
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        for name, visible in (("few", FEW), ("many", many_count)):
            principal = Principal(users[name], names[name], frozenset())
            latencies = []
            for i in range(calls + 30):
                query = visible_page_query(principal, datetime.now(UTC), ListingFilters(), None, 100)
                started = time.perf_counter()
                await conn.execute(query)
                if i >= 30:  # warm-up
                    latencies.append(time.perf_counter() - started)
            print(f"its SQL alone, first page of {visible} visible: {figures(latencies)} ({calls} queries)")
    await engine.dispose()


def run(stack: Stack, calls: int, explain: bool = False, many: int = MANY, names: str = "") -> None:
    """`many` workspaces visible to the larger caller; `names` is put before the names of the users
    made, so runs can share a stack."""
    users, keys, usernames = {}, {}, {}
    for name in ("many", "few", "other"):
        usernames[name] = f"{names}{name}"
        users[name], keys[name] = new_user(stack, usernames[name])
    # Page 61 of 10,000: a page about 60 % of the way into the larger listing.
    deep = max(1, many * 6 // 1000)
    asyncio.run(fill(stack.stack["postgres"]["url"], users, usernames, many))
    if explain:
        asyncio.run(show_plans(stack.stack["postgres"]["url"], users, usernames, deep))
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    results = {}
    # The default page (100 rows: 10 for `few`), then pages of 10 for both: the same answer size, so only
    # what the caller can see differs.
    for size in (0, 10):
        request = workspaces_pb2.ListWorkspacesRequest(page_size=size)
        for name, visible in (("few", FEW), ("many", many)):
            md = stack.bearer(keys[name])
            timed(stub, md, request, 30)  # warm-up
            latencies, reply = timed(stub, md, request, calls)
            results[name, size] = latencies
            print(
                f"ListWorkspaces, first page (page_size {size or 'default'}), {len(reply.workspaces)} rows "
                f"of {visible} visible: {figures(latencies)} ({calls} calls)"
            )
    # A page deep in the listing costs the same: it starts at the token's key, never skips rows.
    md = stack.bearer(keys["many"])
    request = workspaces_pb2.ListWorkspacesRequest()
    for _ in range(deep):
        request.page_token = stub.ListWorkspaces(request, metadata=md, timeout=30).next_page_token
    latencies, reply = timed(stub, md, request, calls)
    shown = f"page {deep + 1} of {many} visible ({len(reply.workspaces)} rows)"
    print(f"ListWorkspaces, {shown}: {figures(latencies)} ({calls} calls)")
    asyncio.run(query_times(stack.stack["postgres"]["url"], users, usernames, many, calls))
    for size in (0, 10):
        ratio = percentile(results["many", size], 0.5) / percentile(results["few", size], 0.5)
        print(f"page_size {size or 'default'}: p50 over {many} visible / p50 over {FEW} visible: {ratio:.2f}")


if __name__ == "__main__":
    main()
