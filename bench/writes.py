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


async def concurrent_rate(address: str, users: list[Any], prefix: str, per_client: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(create_many(address, md, f"{prefix}{i}", per_client) for i, md in enumerate(users))
    )
    return len(users) * per_client / (time.perf_counter() - started)


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
        if changes % 2:  # leave no share behind for the next round
            await stub.RevokeShare(workspaces_pb2.RevokeShareRequest(id=granted.share.id), metadata=md)
    return changes


async def with_background(
    address: str, md: Any, ref: str, count: int, other: Any, refs: list[str], sharee: str
) -> tuple[list[float], int]:
    stop = asyncio.Event()
    background = asyncio.create_task(share_changes(address, other, refs, sharee, stop))
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


async def interleaved(address: str, small: Any, big: Any, count: int) -> tuple[list[float], list[float]]:
    """`count` creates each for a user with few workspaces and one with many, alternating, so that the
    machine's changing load falls on both alike."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
        took: tuple[list[float], list[float]] = ([], [])
        for i in range(count):
            for md, prefix, into in ((small, "few", took[0]), (big, "more", took[1])):
                started = time.perf_counter()
                await stub.CreateWorkspace(
                    workspaces_pb2.CreateWorkspaceRequest(name=f"{prefix}-{i:05d}"), metadata=md, timeout=30
                )
                into.append(time.perf_counter() - started)
        return took


def run(
    stack: Stack,
    workspaces: int,
    requests: int,
    creates: int = WINDOW * 4,
    per_client: int = PER_CLIENT,
    names: str = "",
) -> None:
    """`creates`: single creates at each size (and marker writes alone); `per_client`: creates of each
    concurrent client; `names` is put before the names of the users made, so runs can share a stack."""
    address = stack.config["server"]["services"]["workspaces"]
    big = new_user(stack, f"{names}big")
    took = asyncio.run(create_many(address, big, "ws", workspaces))
    blocks = [took[i : i + 500] for i in range(0, len(took), 500)]
    print("one user, creates per block of 500: " + ", ".join(f"{rate(b):.1f}/s" for b in blocks))
    small = new_user(stack, f"{names}small")
    asyncio.run(create_many(address, small, "ws", 10))
    few, more = asyncio.run(interleaved(address, small, big, creates))
    print(
        f"one user at 10-{10 + len(few)} workspaces: {rate(few):.1f}/s; "
        f"at {workspaces}-{workspaces + len(more)}: {rate(more):.1f}/s "
        f"({rate(more) / rate(few):.2f} x; alternating, target 1)"
    )
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    found = stub.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace="ws-00000"), metadata=big)
    markers = marker_writes(stack, found.workspace.bucket, creates)
    single = few + more
    print(f"single create: {percentiles(single)} ({len(single)} creates)")
    print(f"  S3 marker write alone: {percentiles(markers)}")
    own = percentile(single, 0.5) - percentile(markers, 0.5)
    print(f"  create p50 minus marker p50: {own * 1000:.2f} ms (target <= 15 ms)")

    # Two rounds each, alternating, so that the machine's changing load falls on both alike.
    ones, manys = [], []
    for round_ in range(2):
        solo = [new_user(stack, f"{names}solo{round_}")]
        ones.append(asyncio.run(concurrent_rate(address, solo, "solo", per_client)))
        users = [new_user(stack, f"{names}c{round_}x{i}") for i in range(CLIENTS)]
        manys.append(asyncio.run(concurrent_rate(address, users, "many", per_client)))
    one, many = sum(ones) / 2, sum(manys) / 2
    print(f"1 client: {one:.1f} creates/s; {CLIENTS} clients: {many:.1f}/s ({many / one:.2f} x, target >= 3)")

    reader = new_user(stack, f"{names}reader")
    stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name="mine"), metadata=reader)
    other = new_user(stack, f"{names}other")
    sharee = f"{names}sharee"
    new_user(stack, sharee)
    refs = []
    for i in range(20):
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=f"theirs-{i:02d}"), metadata=other)
        refs.append(f"{names}other/theirs-{i:02d}")
    quiet: list[float] = []
    busy: list[float] = []
    changes = 0
    for _ in range(2):  # alternating, as above
        mine = f"{names}reader/mine"
        quiet += asyncio.run(cached_latencies(address, reader, mine, requests // 2))
        took, made = asyncio.run(with_background(address, reader, mine, requests // 2, other, refs, sharee))
        busy, changes = busy + took, changes + made
    print(f"cached, quiet: {percentiles(quiet)}")
    print(f"cached, {CHANGES_PER_SECOND:.0f} unrelated share changes/s ({changes} made): {percentiles(busy)}")
    print(f"  p50 {percentile(busy, 0.5) / percentile(quiet, 0.5):.2f} x quiet (target <= 1.2)")


if __name__ == "__main__":
    main()
