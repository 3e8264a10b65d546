"""Prints how workspace creation scales, and what unrelated writes do to cached credential requests:

- create rate of one user at about 10 workspaces and at about 3,000 (target: the same)
- single create p50, beside the S3 folder-marker write it includes (target: <= 15 ms plus that write)
- 8 concurrent clients (8 users) against one client: rate and ratio (target >= 3)
- cached IssueCredentials p50, quiet and while unrelated share changes run at 10/s (target <= 1.2 x)

Starts its own stack (`wio-dev up`) on free ports in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import boto3
import grpc
from botocore.client import Config

from bench.stack import Stack, percentile, percentiles, private_stack
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

WINDOW = 50  # creates per rate window
CLIENTS = 8
PER_CLIENT = 100
CHANGES_PER_SECOND = 10.0


def new_user(stack: Stack, name: str) -> Any:
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    created = auth.CreateUser(
        auth_pb2.CreateUserRequest(username=name, email=f"{name}@example.org", role=auth_pb2.ROLE_USER),
        metadata=stack.bearer(stack.admin_key),
    )
    return stack.bearer(created.api_key_secret)


async def create_many(address: str, md: Any, prefix: str, count: int) -> list[float]:
    """Creates `count` workspaces one after another; the seconds each took."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
        took = []
        for i in range(count):
            started = time.perf_counter()
            await stub.CreateWorkspace(
                workspaces_pb2.CreateWorkspaceRequest(name=f"{prefix}-{i:05d}"), metadata=md, timeout=30
            )
            took.append(time.perf_counter() - started)
        return took


async def concurrent_rate(address: str, users: list[Any], prefix: str) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(create_many(address, md, f"{prefix}{i}", PER_CLIENT) for i, md in enumerate(users))
    )
    return len(users) * PER_CLIENT / (time.perf_counter() - started)


def marker_writes(stack: Stack, bucket: str, count: int) -> list[float]:
    """What the folder-marker write costs on its own: an empty object put with the node's own keys."""
    s3 = stack.stack["s3"]
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        config=Config(s3={"addressing_style": "path"}),
    )
    took = []
    for i in range(count):
        started = time.perf_counter()
        client.put_object(Bucket=bucket, Key=f"bench-markers/m{i:05d}/", Body=b"")
        took.append(time.perf_counter() - started)
    return took


async def cached_latencies(address: str, md: Any, ref: str, count: int) -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
        request = workspaces_pb2.IssueCredentialsRequest(workspaces=[ref])
        for _ in range(50):
            await stub.IssueCredentials(request, metadata=md, timeout=30)
        took = []
        for _ in range(count):
            started = time.perf_counter()
            await stub.IssueCredentials(request, metadata=md, timeout=30)
            took.append(time.perf_counter() - started)
        return took


async def share_changes(address: str, md: Any, refs: list[str], sharee: str, stop: asyncio.Event) -> int:
    """Grants and revokes shares of other workspaces to another user, CHANGES_PER_SECOND changes a second."""
    changes = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
        next_at = time.perf_counter()
        while not stop.is_set():
            ref = refs[changes // 2 % len(refs)]
            if changes % 2 == 0:
                granted = await stub.CreateShare(
                    workspaces_pb2.CreateShareRequest(
                        workspace=ref, sharee=sharee, permission=workspaces_pb2.PERMISSION_READ
                    ),
                    metadata=md,
                    timeout=30,
                )
            else:
                await stub.RevokeShare(workspaces_pb2.RevokeShareRequest(id=granted.share.id), metadata=md)
            changes += 1
            next_at += 1 / CHANGES_PER_SECOND
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return changes


async def with_background(
    address: str, md: Any, ref: str, count: int, other: Any, refs: list[str]
) -> tuple[list[float], int]:
    stop = asyncio.Event()
    background = asyncio.create_task(share_changes(address, other, refs, "sharee", stop))
    try:
        await asyncio.sleep(0.5)
        took = await cached_latencies(address, md, ref, count)
    finally:
        stop.set()
    return took, await background


def rate(took: list[float]) -> float:
    return len(took) / sum(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.workspaces, args.requests)


def run(stack: Stack, workspaces: int, requests: int) -> None:
    address = stack.config["server"]["services"]["workspaces"]
    writer = new_user(stack, "writer")
    took = asyncio.run(create_many(address, writer, "ws", workspaces))
    early, late = took[10 : 10 + WINDOW], took[-WINDOW:]
    print(f"one user, creates {10}-{10 + WINDOW}: {rate(early):.1f}/s")
    ratio = rate(late) / rate(early)
    print(f"one user, creates {workspaces - WINDOW}-{workspaces}: {rate(late):.1f}/s ({ratio:.2f} x)")
    single = took[10:510]
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    bucket = stub.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(workspace="ws-00000"), metadata=writer
    ).workspace.bucket
    markers = marker_writes(stack, bucket, 200)
    print(f"single create: {percentiles(single)} ({len(single)} creates)")
    print(f"  S3 marker write alone: {percentiles(markers)}")
    own = percentile(single, 0.5) - percentile(markers, 0.5)
    print(f"  create p50 minus marker p50: {own * 1000:.2f} ms (target <= 15 ms)")

    one = asyncio.run(concurrent_rate(address, [new_user(stack, "solo")], "solo"))
    many = asyncio.run(concurrent_rate(address, [new_user(stack, f"c{i}") for i in range(CLIENTS)], "many"))
    print(f"1 client: {one:.1f} creates/s; {CLIENTS} clients: {many:.1f}/s ({many / one:.2f} x, target >= 3)")

    reader = new_user(stack, "reader")
    stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name="mine"), metadata=reader)
    other = new_user(stack, "other")
    new_user(stack, "sharee")
    refs = []
    for i in range(20):
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=f"theirs-{i:02d}"), metadata=other)
        refs.append(f"other/theirs-{i:02d}")
    quiet = asyncio.run(cached_latencies(address, reader, "reader/mine", requests))
    busy, changes = asyncio.run(with_background(address, reader, "reader/mine", requests, other, refs))
    print(f"cached, quiet: {percentiles(quiet)}")
    print(f"cached, {CHANGES_PER_SECOND:.0f} unrelated share changes/s ({changes} made): {percentiles(busy)}")
    print(f"  p50 {percentile(busy, 0.5) / percentile(quiet, 0.5):.2f} x quiet (target <= 1.2)")


if __name__ == "__main__":
    main()
