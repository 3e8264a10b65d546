"""Prints each service's memory (resident now, and its peak) after the product's main flows: users and a
group, ten registrations refused for a mistyped secret key, a second node registered with a root, checked
and removed again, 200 workspaces each shared with a user and with the group, credentials and listings
by the sharees.

Starts its own stack (`wio-dev up --second-node`) on free ports in a temporary folder.
Target: every service under 150 MB resident.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.stack import Stack, private_stack
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

SERVICES = ("auth", "nodes", "workspaces", "indexer")
TARGET_MB = 150.0
MISTYPED_KEYS = 10


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def service_pids(stack: Stack) -> dict[str, int]:
    return {name: int(stack.stack["services"][name]["process"]["pid"]) for name in SERVICES}


def report(stack: Stack, when: str) -> dict[str, float]:
    print(f"{when}:")
    now_by_service = {}
    for name, pid in service_pids(stack).items():
        now, peak = memory_mb(pid)
        now_by_service[name] = now
        verdict = "ok" if now < TARGET_MB else f"OVER {TARGET_MB:.0f} MB"
        print(f"  {name:<11} {now:7.1f} MB resident, peak {peak:7.1f} MB  ({verdict})")
    return now_by_service


def main_flows(stack: Stack, workspaces_count: int, names: str = "") -> None:
    """`names` is put before the names of the users and the group made, so runs can share a stack."""
    admin = stack.bearer(stack.admin_key)
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    keys = {}
    for role in ("owner", "reader", "member"):
        name = f"{names}{role}"
        created = auth.CreateUser(
            auth_pb2.CreateUserRequest(username=name, email=f"{name}@example.org", role=auth_pb2.ROLE_USER),
            metadata=admin,
        )
        keys[role] = stack.bearer(created.api_key_secret)
    owner, lab = keys["owner"], f"{names}lab"
    auth.CreateGroup(auth_pb2.CreateGroupRequest(name=lab), metadata=owner)
    auth.AddGroupMember(auth_pb2.AddGroupMemberRequest(group=lab, username=f"{names}member"), metadata=owner)

    # A second node comes and goes, with a root on it; before it, registrations with mistyped keys.
    nodes = nodes_pb2_grpc.NodesServiceStub(stack.channel("nodes"))
    for attempt in range(MISTYPED_KEYS):
        mistyped = stack.second_node_request(f"typo-{attempt}", secret_key=f"mistyped-{attempt}")
        try:
            nodes.RegisterNode(mistyped, metadata=admin, timeout=60)
        except grpc.RpcError as refused:
            assert refused.code() != grpc.StatusCode.OK
        else:
            raise SystemExit("a registration with a wrong secret key was accepted")
    node = nodes.RegisterNode(stack.second_node_request("second"), metadata=admin, timeout=60).node
    root = nodes.CreateRoot(
        nodes_pb2.CreateRootRequest(node="second", bucket="spoke", type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=admin,
        timeout=60,
    ).root
    nodes.DeleteRoot(nodes_pb2.DeleteRootRequest(root=root.id), metadata=admin, timeout=60)
    for _ in range(MISTYPED_KEYS):
        nodes.CheckNode(nodes_pb2.CheckNodeRequest(node="local"), metadata=admin, timeout=60)
    nodes.DeleteNode(nodes_pb2.DeleteNodeRequest(node=node.id), metadata=admin, timeout=60)

    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    workspaces = [f"ws-{i:03d}" for i in range(workspaces_count)]
    tomorrow = Timestamp()
    tomorrow.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    for name in workspaces:
        stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=name), metadata=owner, timeout=30)
        for sharee in (f"{names}reader", f"group:{lab}"):
            stub.CreateShare(
                workspaces_pb2.CreateShareRequest(
                    workspace=name,
                    sharee=sharee,
                    permission=workspaces_pb2.PERMISSION_READ,
                    expires_at=tomorrow,
                ),
                metadata=owner,
                timeout=30,
            )
    for who in ("reader", "member"):
        stub.ListWorkspaces(workspaces_pb2.ListWorkspacesRequest(), metadata=keys[who], timeout=30)
        for start in range(0, len(workspaces), 10):
            refs = [f"{names}owner/{n}" for n in workspaces[start : start + 10]]
            stub.IssueCredentials(
                workspaces_pb2.IssueCredentialsRequest(workspaces=refs), metadata=keys[who], timeout=60
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=200)
    args = parser.parse_args()
    with private_stack("--second-node") as stack:
        run(stack, args.workspaces)


def run(stack: Stack, workspaces: int, names: str = "") -> None:
    report(stack, "after start")
    main_flows(stack, workspaces, names)
    after = report(stack, f"after the main flows ({workspaces} workspaces shared)")
    over = [name for name, mb in after.items() if mb >= TARGET_MB]
    print("all services under target" if not over else f"over target: {', '.join(over)}")


if __name__ == "__main__":
    main()
