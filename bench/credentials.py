"""Prints IssueCredentials latency and throughput, each figure with its ratio to a bare gRPC health check
to the same workspaces service measured in the same run, so the targets hold whatever the machine's speed.

- health: grpc.health.v1 Check, p50/p99 over N calls, and calls/s from 64 concurrent clients
- cached: the same request again (p50 <= 2 x health, p99 <= 4 x health)
- cached, through a group share: the caller reaches the workspace only through a group (same targets)
- uncached: every request another set of workspaces, so a new session policy and an STS call;
  p50 <= STS p50 + 2 x health p50 (the STS time is reported by the service in the `wio-sts-ms` trailer)
- throughput: cached requests from 64 concurrent clients >= 0.5 x the health check's at 64

The four latencies are measured in interleaved rounds of 50 calls each, so that they meet the machine in
the same state.

Starts its own stack (`wio-dev up`) on free ports in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.stack import Stack, percentile, percentiles, private_stack
from services.workspaces.api import STS_TIME_METADATA
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

WORKSPACES = 18
CLIENTS = 64
THROUGHPUT_SECONDS = 5.0
# Calls of each kind in a row before the next kind's (see run).
ROUND = 50


def timed(stub: Any, md: Any, refs: list[str]) -> tuple[float, float]:
    """(total seconds seen by the client, STS seconds reported by the service) for one request."""
    request = workspaces_pb2.IssueCredentialsRequest(workspaces=refs)
    started = time.perf_counter()
    _response, call = stub.IssueCredentials.with_call(request, metadata=md, timeout=30)
    total = time.perf_counter() - started
    sts_ms = dict(call.trailing_metadata() or ()).get(STS_TIME_METADATA, "0")
    return total, float(sts_ms) / 1000


def health_calls(channel: grpc.Channel, calls: int) -> list[float]:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest()
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        stub.Check(request, timeout=10)
        latencies.append(time.perf_counter() - started)
    return latencies


def p50(values: list[float]) -> float:
    return percentile(values, 0.5)


def with_ratio(values: list[float], health: list[float]) -> str:
    return (
        f"{percentiles(values)}; p50 {p50(values) / p50(health):.2f} x health, "
        f"p99 {percentile(values, 0.99) / percentile(health, 0.99):.2f} x health"
    )


async def _throughput(address: str, call: Any, seconds: float) -> float:
    """Calls per second from CLIENTS concurrent clients (one channel each) during `seconds`."""
    channels = [grpc.aio.insecure_channel(address) for _ in range(CLIENTS)]
    done = 0
    stop_at = 0.0

    async def client(channel: grpc.aio.Channel) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call(channel)
            done += 1

    try:
        for channel in channels:  # connected and warm before the clock starts
            await call(channel)
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in channels))
        return done / (time.perf_counter() - started)
    finally:
        for channel in channels:
            await channel.close()


def throughput(stack: Stack, md: Any, ref: str, seconds: float) -> tuple[float, float]:
    address = stack.config["server"]["services"]["workspaces"]
    health_request = health_pb2.HealthCheckRequest()
    credentials_request = workspaces_pb2.IssueCredentialsRequest(workspaces=[ref])

    async def health(channel: grpc.aio.Channel) -> None:
        await health_pb2_grpc.HealthStub(channel).Check(health_request, timeout=30)

    async def cached(channel: grpc.aio.Channel) -> None:
        await workspaces_pb2_grpc.WorkspacesServiceStub(channel).IssueCredentials(
            credentials_request, metadata=md, timeout=30
        )

    return (
        asyncio.run(_throughput(address, health, seconds)),
        asyncio.run(_throughput(address, cached, seconds)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.requests)


def run(stack: Stack, requests: int, seconds: float = THROUGHPUT_SECONDS, names: str = "") -> None:
    """`seconds` of each throughput run; `names` is put before the names of the users and the group
    made, so runs can share a stack."""
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    owner, member_name, lab = f"{names}bench", f"{names}member", f"{names}lab"
    created = auth.CreateUser(
        auth_pb2.CreateUserRequest(username=owner, email=f"{owner}@example.org", role=auth_pb2.ROLE_USER),
        metadata=stack.bearer(stack.admin_key),
    )
    md = stack.bearer(created.api_key_secret)
    channel = stack.channel("workspaces")
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
    workspaces = [f"bench-{i:02d}" for i in range(WORKSPACES)]
    for name in workspaces:
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=name), metadata=md, timeout=30)

    # A workspace a group share gives: the caller's groups come from the service's copy of memberships.
    member = auth.CreateUser(
        auth_pb2.CreateUserRequest(
            username=member_name, email=f"{member_name}@example.org", role=auth_pb2.ROLE_USER
        ),
        metadata=stack.bearer(stack.admin_key),
    )
    member_md = stack.bearer(member.api_key_secret)
    auth.CreateGroup(auth_pb2.CreateGroupRequest(name=lab), metadata=md)
    auth.AddGroupMember(auth_pb2.AddGroupMemberRequest(group=lab, username=member_name), metadata=md)
    stub.CreateShare(
        workspaces_pb2.CreateShareRequest(
            workspace=workspaces[0], sharee=f"group:{lab}", permission=workspaces_pb2.PERMISSION_READ
        ),
        metadata=md,
    )
    shared = f"{owner}/{workspaces[0]}"

    health_calls(channel, 200)  # warm-up: channels, clients, the first STS call
    for _ in range(50):
        timed(stub, md, [workspaces[0]])
        timed(stub, member_md, [shared])
    # Every subset of 1-4 workspaces is another session policy, so none is in the cache.
    subsets = itertools.chain.from_iterable(itertools.combinations(workspaces[1:], k) for k in range(1, 5))
    health: list[float] = []
    cached: list[tuple[float, float]] = []
    grouped: list[tuple[float, float]] = []
    uncached: list[tuple[float, float]] = []
    # Interleaved in short rounds, so that every kind of call meets the machine in the same state: on a
    # shared machine the speed drifts within a minute, and a ratio of figures taken at different times
    # would measure the drift.
    for start in range(0, requests, ROUND):
        calls = min(ROUND, requests - start)
        health += health_calls(channel, calls)
        cached += [timed(stub, md, [workspaces[0]]) for _ in range(calls)]
        grouped += [timed(stub, member_md, [shared]) for _ in range(calls)]
        uncached += [timed(stub, md, list(refs)) for refs in itertools.islice(subsets, calls)]
    assert all(sts == 0 for _total, sts in cached + grouped), "a cached request called STS"
    if len(uncached) < len(health) or any(sts == 0 for _total, sts in uncached):
        raise SystemExit("the uncached run did not call STS for every request")

    print(f"health check: {percentiles(health)} ({len(health)} calls)")
    print(f"cached: {with_ratio([t for t, _ in cached], health)} (target 2 x, 4 x)")
    print(f"cached, through a group share: {with_ratio([t for t, _ in grouped], health)} (target 2 x, 4 x)")
    totals, sts = [t for t, _ in uncached], [s for _, s in uncached]
    budget = p50(sts) + 2 * p50(health)
    print(f"uncached: {percentiles(totals)} ({len(uncached)} requests)")
    print(f"  STS:    {percentiles(sts)}")
    print(f"  wio:    {percentiles([t - s for t, s in uncached])} (total minus STS, per request)")
    print(
        f"  p50 {p50(totals) * 1000:.2f} ms against STS p50 + 2 x health p50 = {budget * 1000:.2f} ms "
        f"({p50(totals) / budget:.2f} x that budget; target <= 1)"
    )

    health_rate, cached_rate = throughput(stack, md, workspaces[0], seconds)
    print(
        f"throughput, {CLIENTS} clients: health {health_rate:.0f}/s, cached credentials {cached_rate:.0f}/s"
    )
    print(f"  cached {cached_rate / health_rate:.2f} x health (target >= 0.5)")


if __name__ == "__main__":
    main()
