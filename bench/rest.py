"""The REST gateway against direct gRPC, on a private stack: the same calls (WhoAmI, ListWorkspaces,
GetWorkspace) made in turns through `GET /v1/...` on one keep-alive HTTP connection and through a gRPC
channel, p50/p99 of each and what the gateway adds at p50 (target <= 1 ms); then the gateway's
throughput with 32 concurrent clients (threads, each with its own keep-alive connection).

    python -m bench.rest [--requests N] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stack import Stack, percentile, percentiles, private_stack
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

CLIENTS = 32


class Rest:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str) -> Any:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:200])
        return json.loads(body)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), independent of the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def compare(stack: Stack, requests: int) -> None:
    token = stack.bearer(stack.admin_key)
    metadata = token
    bearer = token[0][1].split(" ", 1)[1]
    auth = auth_pb2_grpc.AuthServiceStub(stack.channel("auth"))
    ws = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    rest = Rest(int(stack.stack["gateway"]["port"]), bearer)
    name = f"bench-{int(time.time())}"
    created = ws.CreateWorkspace(
        workspaces_pb2.CreateWorkspaceRequest(name=name, type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE),
        metadata=metadata,
    ).workspace
    ref = f"{created.owner_username}/{created.name}"
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "WhoAmI",
            lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata),
            lambda: rest.get("/v1/auth/whoami"),
        ),
        (
            "ListWorkspaces",
            lambda: ws.ListWorkspaces(workspaces_pb2.ListWorkspacesRequest(), metadata=metadata),
            lambda: rest.get("/v1/workspaces"),
        ),
        (
            "GetWorkspace",
            lambda: ws.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace=ref), metadata=metadata),
            lambda: rest.get(f"/v1/workspaces/{ref}"),
        ),
    ]
    pid = int(stack.stack["gateway"]["process"]["pid"])
    for title, grpc_call, rest_call in cases:
        for _ in range(50):  # warm up: connections, token caches
            grpc_call()
            rest_call()
        via_grpc: list[float] = []
        via_rest: list[float] = []
        cpu = 0.0
        for _ in range(requests):
            via_grpc.append(timed(grpc_call))
            before = cpu_seconds(pid)
            via_rest.append(timed(rest_call))
            cpu += cpu_seconds(pid) - before
        added = (percentile(via_rest, 0.5) - percentile(via_grpc, 0.5)) * 1000
        print(f"{title}, {requests} calls each, in turns:")
        print(f"  gRPC: {percentiles(via_grpc)}")
        print(f"  REST: {percentiles(via_rest)}")
        print(f"  the gateway adds {added:.2f} ms at p50 (target <= 1 ms)")
        print(f"  gateway CPU per REST call: {cpu / requests * 1000:.2f} ms")


def throughput(stack: Stack, seconds: float) -> None:
    bearer = stack.bearer(stack.admin_key)[0][1].split(" ", 1)[1]
    port = int(stack.stack["gateway"]["port"])
    counts = [0] * CLIENTS
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    stop = threading.Event()

    def client(i: int) -> None:
        rest = Rest(port, bearer)
        while not stop.is_set():
            latencies[i].append(timed(lambda: rest.get("/v1/auth/whoami")))
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # ramp up
    before = sum(counts)
    time.sleep(seconds)
    done = sum(counts) - before
    stop.set()
    for thread in threads:
        thread.join()
    merged = [x for per in latencies for x in per]
    print(f"GET /v1/auth/whoami, {CLIENTS} concurrent clients, {seconds:.0f} s:")
    print(f"  {done / seconds:.0f} requests/s; latency {percentiles(merged)}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rest")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.requests, args.seconds)


def run(stack: Stack, requests: int, seconds: float) -> None:
    compare(stack, requests)
    throughput(stack, seconds)


if __name__ == "__main__":
    main()
