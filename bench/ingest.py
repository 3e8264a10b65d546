"""Event-to-searchable latency of live updates: 1,000 uploads with brokered credentials into a workspace on
the local SeaweedFS of a private stack (`wio-dev up`), each travelling SeaweedFS webhook -> gateway ->
JetStream (WIO_INGEST) -> the indexer's consumer -> the index. Prints p50/p95/max (target p95 <= 1 s).

"Searchable" is when a query of the index (run every 20 ms while the uploads go) first finds the record,
compared with the moment the upload's PUT returned (one machine, one clock). The stages are split at the
time JetStream stored the gateway's message (read back from WIO_INGEST afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import boto3
from botocore.config import Config

from bench.stack import Stack, percentile, private_stack
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

TARGET_P95 = 1.0
POLL_SECONDS = 0.02


def brokered_client(stack: Stack, workspace: str) -> Any:
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    reply = stub.IssueCredentials(
        workspaces_pb2.IssueCredentialsRequest(workspaces=[workspace]), metadata=stack.bearer(stack.admin_key)
    )
    creds = reply.sets[0]
    return boto3.session.Session().client(
        "s3",
        endpoint_url=creds.endpoint,
        region_name=creds.region or "us-east-1",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=32, retries={"max_attempts": 3}),
    )


async def indexed_at(database_url: str, workspace_id: str, want: int, within: float) -> dict[str, float]:
    """key -> when a query first found its record (epoch seconds; the query runs every POLL_SECONDS, so
    this is at most that much late), once `want` records are there or `within` seconds passed."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    seen: dict[str, float] = {}
    try:
        deadline = time.monotonic() + within
        while len(seen) < want and time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT key FROM indexer.objects WHERE workspace_id = $1::uuid", workspace_id
            )
            now = time.time()
            for row in rows:
                seen.setdefault(row["key"], now)
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()
    return seen


async def published_at(stack: Stack, node_id: str, since: float, want: int) -> dict[str, float]:
    """key -> when the gateway stored its first create event in WIO_INGEST (epoch seconds), read back as
    the operators' read-only NATS user."""
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from services.indexer.domain.ingest import MalformedEvent, parse_event

    users = stack.stack["nats"]["users"]
    nc = await nats.connect(str(stack.stack["nats"]["url"]), user="reader", password=users["reader"])
    found: dict[str, float] = {}
    try:
        js = nc.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=datetime.fromtimestamp(since - 1, UTC),
        )
        sub = await js.subscribe(f"wio.ingest.s3.{node_id}", ordered_consumer=True, config=config)
        try:
            while len(found) < want:
                try:
                    msg = await sub.next_msg(timeout=5)
                except TimeoutError:
                    break
                stamp = msg.metadata.timestamp.timestamp()
                try:
                    changes = parse_event(node_id, msg.data, msg.metadata.timestamp)
                except MalformedEvent:
                    continue
                for change in changes:
                    if not change.deleted:
                        found.setdefault(change.key, stamp)
        finally:
            await sub.unsubscribe()
    finally:
        await nc.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="uploads in flight at once")
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.uploads, args.concurrency)


def run(stack: Stack, uploads: int, concurrency: int) -> None:
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    name = f"ingest-{uuid.uuid4().hex[:6]}"
    ws = stub.CreateWorkspace(
        workspaces_pb2.CreateWorkspaceRequest(
            name=name, type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE, node="local"
        ),
        metadata=stack.bearer(stack.admin_key),
    ).workspace
    s3 = brokered_client(stack, f"{ws.owner_username}/{ws.name}")
    database_url = str(stack.stack["postgres"]["url"])

    # One upload first: connections, the indexer's list of the node's workspaces.
    s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}warm-up.txt", Body=b"w")
    asyncio.run(indexed_at(database_url, ws.id, 1, 30))

    done: dict[str, float] = {}

    def upload(i: int) -> None:
        key = f"{ws.prefix}run/{i:05d}.dat"
        s3.put_object(Bucket=ws.bucket, Key=key, Body=b"x" * 100)
        done[key] = time.time()

    async def watched_uploads() -> tuple[dict[str, float], float]:
        watching = asyncio.create_task(indexed_at(database_url, ws.id, uploads + 1, 180))
        began = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            await asyncio.gather(
                *(asyncio.get_running_loop().run_in_executor(pool, upload, i) for i in range(uploads))
            )
        return await watching, time.monotonic() - began

    started_wall = time.time()
    written, upload_seconds = asyncio.run(watched_uploads())
    latencies = [written[key] - at for key, at in done.items() if key in written]
    missing = len(done) - len(latencies)
    stored = asyncio.run(published_at(stack, ws.node_id, started_wall, uploads + 1))
    to_stream = [stored[key] - at for key, at in done.items() if key in stored]
    to_index = [written[key] - stored[key] for key in done if key in stored and key in written]
    log = Path(stack.env["WIO_DEV_STATE"]) / "logs" / "indexer.log"
    troubles = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if " WARNING " in line or " ERROR " in line
    ]

    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    rate = uploads / upload_seconds
    print(f"event-to-searchable over {len(latencies)} uploads ({concurrency} in flight, {rate:.0f}/s),")
    print("SeaweedFS webhook -> gateway -> JetStream -> indexer -> a committed record:")
    print(f"  p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    print(f"  target p95 <= {TARGET_P95:.1f} s: {'met' if p95 <= TARGET_P95 else 'NOT met'}")
    for label, values in (
        ("upload -> stored in JetStream (SeaweedFS webhook, gateway)", to_stream),
        ("stored in JetStream -> searchable (indexer)", to_index),
    ):
        if values:
            print(
                f"  {label}: p50 {percentile(values, 0.5) * 1000:.0f} ms,"
                f" p95 {percentile(values, 0.95) * 1000:.0f} ms ({len(values)} events)"
            )
    slow = sorted(latencies)[-5:]
    print(
        f"  p99 {percentile(latencies, 0.99) * 1000:.0f} ms; slowest: {', '.join(f'{v:.1f} s' for v in slow)}"
    )
    if troubles:
        print(f"  the indexer logged {len(troubles)} warning(s)/error(s), e.g.:")
        for line in troubles[:5]:
            print(f"    {line[:200]}")
    if missing:
        print(f"  {missing} upload(s) not indexed within 180 s")


if __name__ == "__main__":
    main()
