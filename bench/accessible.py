"""Prints ListAccessibleWorkspaces latency as the indexer sees it, for a user who reads N workspaces (200
by default; half through direct shares, half through a group): a full answer (no known revision) against
an `unchanged` one (the revision it knew is still current: a membership look-up and one read of the rights
revisions, no listing), each beside a bare gRPC health check to the same service.

Starts its own stack (`wio-dev up`) on free ports in a temporary folder.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.credentials import health_calls, p50
from bench.stack import Stack, percentiles, private_stack
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.workspaces, args.requests)


def timed(call: Any, request: Any, md: Any, requests: int) -> tuple[list[float], Any]:
    latencies, answer = [], None
    for _ in range(requests):
        started = time.perf_counter()
        answer = call(request, metadata=md, timeout=30)
        latencies.append(time.perf_counter() - started)
    return latencies, answer


def run(stack: Stack, count: int, requests: int, names: str = "") -> None:
    """`names` is put before the names of the users and the group made, so runs can share a stack."""
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    admin = stack.bearer(stack.admin_key)
    people = {}
    for role in ("owner", "reader"):
        name = f"{names}{role}"
        created = auth.CreateUser(
            auth_pb2.CreateUserRequest(username=name, email=f"{name}@example.org", role=auth_pb2.ROLE_USER),
            metadata=admin,
        )
        people[role] = (created.user.id, stack.bearer(created.api_key_secret))
    (_owner_id, owner), (reader_id, _reader) = people["owner"], people["reader"]
    lab, reader = f"{names}lab", f"{names}reader"
    auth.CreateGroup(auth_pb2.CreateGroupRequest(name=lab), metadata=owner)
    auth.AddGroupMember(auth_pb2.AddGroupMemberRequest(group=lab, username=reader), metadata=owner)
    channel = stack.channel("workspaces")
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(channel)
    for i in range(count):
        name = f"ws-{i:04d}"
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=name), metadata=owner, timeout=30)
        sharee = reader if i % 2 else f"group:{lab}"
        stub.CreateShare(
            workspaces_pb2.CreateShareRequest(
                workspace=name, sharee=sharee, permission=workspaces_pb2.PERMISSION_READ
            ),
            metadata=owner,
        )
    indexer = stack.bearer(stack.stack["service_keys"]["indexer"])
    internal = workspaces_pb2_grpc.WorkspacesInternalServiceStub(channel).ListAccessibleWorkspaces

    health_calls(channel, 200)  # warm-up
    health = health_calls(channel, requests)
    full_request = workspaces_pb2.ListAccessibleWorkspacesRequest(user_id=reader_id)
    timed(internal, full_request, indexer, 50)
    full, answer = timed(internal, full_request, indexer, requests)
    assert len(answer.workspaces) == count, len(answer.workspaces)
    known = workspaces_pb2.ListAccessibleWorkspacesRequest(user_id=reader_id, known_revision=answer.revision)
    timed(internal, known, indexer, 50)
    unchanged, again = timed(internal, known, indexer, requests)
    assert again.unchanged and not again.workspaces
    print(f"health check: {percentiles(health)} ({requests} calls)")
    print(f"full answer, {count} workspaces: {percentiles(full)}; p50 {p50(full) / p50(health):.1f} x health")
    print(f"unchanged:  {percentiles(unchanged)}; p50 {p50(unchanged) / p50(health):.1f} x health")
    print(f"  full / unchanged p50: {p50(full) / p50(unchanged):.1f}; revision {len(answer.revision)} chars")


if __name__ == "__main__":
    main()
