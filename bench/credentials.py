"""Prints IssueCredentials latency, p50/p99 over 2,000 requests each: cached (the same workspace again;
also for a member of a group the workspace is shared with, where auth is asked for the groups each time),
and uncached (every request a new set of workspaces, so a new session policy and an STS call), the
uncached time split into the node's STS time (reported by the service) and wio's own time.

Starts its own stack (`wio-dev up`) on free ports in a temporary folder. Targets: cached p50 <= 2 ms and
p99 <= 10 ms; uncached <= the STS time + 10 ms.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from bench.stack import Stack, percentiles, private_stack
from services.workspaces.api import STS_TIME_METADATA
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

WORKSPACES = 18


def timed(stub: Any, md: Any, refs: list[str]) -> tuple[float, float]:
    """(total seconds seen by the client, STS seconds reported by the service) for one request."""
    request = workspaces_pb2.IssueCredentialsRequest(workspaces=refs)
    started = time.perf_counter()
    _response, call = stub.IssueCredentials.with_call(request, metadata=md, timeout=30)
    total = time.perf_counter() - started
    sts_ms = dict(call.trailing_metadata() or ()).get(STS_TIME_METADATA, "0")
    return total, float(sts_ms) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.requests)


def run(stack: Stack, requests: int) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    created = auth.CreateUser(
        auth_pb2.CreateUserRequest(username="bench", email="bench@example.org", role=auth_pb2.ROLE_USER),
        metadata=stack.bearer(stack.admin_key),
    )
    md = stack.bearer(created.api_key_secret)
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    names = [f"bench-{i:02d}" for i in range(WORKSPACES)]
    for name in names:
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=name), metadata=md, timeout=30)

    for _ in range(50):  # warm-up: channels, clients, the first STS call
        timed(stub, md, [names[0]])
    cached = [timed(stub, md, [names[0]]) for _ in range(requests)]
    assert all(sts == 0 for _total, sts in cached), "a cached request called STS"
    print(f"cached:   {percentiles([t for t, _ in cached])} ({requests} requests)")

    # A workspace a group share gives: every request asks auth for the caller's groups again.
    member = auth.CreateUser(
        auth_pb2.CreateUserRequest(username="member", email="member@example.org", role=auth_pb2.ROLE_USER),
        metadata=stack.bearer(stack.admin_key),
    )
    member_md = stack.bearer(member.api_key_secret)
    auth.CreateGroup(auth_pb2.CreateGroupRequest(name="lab"), metadata=md)
    auth.AddGroupMember(auth_pb2.AddGroupMemberRequest(group="lab", username="member"), metadata=md)
    stub.CreateShare(
        workspaces_pb2.CreateShareRequest(
            workspace=names[0], sharee="group:lab", permission=workspaces_pb2.PERMISSION_READ
        ),
        metadata=md,
    )
    for _ in range(50):
        timed(stub, member_md, [f"bench/{names[0]}"])
    grouped = [timed(stub, member_md, [f"bench/{names[0]}"]) for _ in range(requests)]
    assert all(sts == 0 for _total, sts in grouped), "a cached request called STS"
    print(f"cached, through a group share: {percentiles([t for t, _ in grouped])} ({requests} requests)")

    # Every subset of 1-4 workspaces is another session policy, so none is in the cache.
    subsets = itertools.chain.from_iterable(itertools.combinations(names[1:], k) for k in range(1, 5))
    uncached = [timed(stub, md, list(refs)) for refs in itertools.islice(subsets, requests)]
    if len(uncached) < requests or any(sts == 0 for _total, sts in uncached):
        raise SystemExit("the uncached run did not call STS for every request")
    print(f"uncached: {percentiles([t for t, _ in uncached])} ({len(uncached)} requests)")
    print(f"  STS:    {percentiles([s for _, s in uncached])}")
    print(f"  wio:    {percentiles([t - s for t, s in uncached])} (total minus STS, per request)")


if __name__ == "__main__":
    main()
