"""Prints node-call latency with every node up and while another node is down, and how fast the outage
and the recovery are noticed.

Starts its own stack (`wio-dev up --second-node`) on free ports in a temporary folder, with a 2 s probe
interval, registers the second SeaweedFS as node `spoke`, and stops it mid-run by its PID.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from typing import Any

from bench.stack import Stack, percentiles, private_stack, wio_dev
from deploy.process import ManagedProcess
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

PROBE_SECONDS = 2.0


def timed_calls(stub: Any, md: Any, name: str, calls: int) -> list[float]:
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        stub.GetNode(nodes_pb2.GetNodeRequest(node=name), metadata=md, timeout=10)
        latencies.append(time.perf_counter() - started)
    return latencies


def wait_status(stub: Any, md: Any, name: str, wanted: int, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if stub.GetNode(nodes_pb2.GetNodeRequest(node=name), metadata=md, timeout=10).node.status == wanted:
            return time.monotonic() - started
        time.sleep(0.1)
    sys.exit(f"node {name} did not reach status {wanted} within {limit} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    extra = {"WIO_NODES_PROBE_INTERVAL_SECONDS": str(PROBE_SECONDS)}
    with private_stack("--second-node", extra_env=extra) as stack:
        run(stack, args.calls)


def run(stack: Stack, calls: int) -> None:
    env = stack.env
    md = stack.bearer(stack.admin_key)
    nodes = nodes_pb2_grpc.NodesServiceStub(stack.channel("nodes"))
    second = stack.stack["s3_second"]
    nodes.RegisterNode(stack.second_node_request("spoke"), metadata=md, timeout=30)
    timed_calls(nodes, md, "local", 50)  # warm-up
    before = timed_calls(nodes, md, "local", calls)
    print(f"GetNode(local), every node up:       {percentiles(before)} ({calls} calls)")

    spoke = ManagedProcess.from_json("s3_second", second["process"])
    spoke.send(signal.SIGTERM)
    detected = wait_status(nodes, md, "spoke", nodes_pb2.NODE_STATUS_OFFLINE, 60)
    print(f"spoke stopped: seen offline after {detected:.1f} s (probe interval {PROBE_SECONDS:.0f} s)")
    during = timed_calls(nodes, md, "local", calls)
    print(f"GetNode(local), while spoke is down: {percentiles(during)} ({calls} calls)")
    listing = []
    for _ in range(200):
        started = time.perf_counter()
        nodes.ListNodes(nodes_pb2.ListNodesRequest(), metadata=md, timeout=10)
        listing.append(time.perf_counter() - started)
    mean = statistics.mean(listing) * 1000
    print(f"ListNodes, while spoke is down:      {percentiles(listing)} (200 calls), mean {mean:.2f} ms")

    # `up` starts only what is not running, and SeaweedFS takes a few seconds to stop after the signal.
    stopping = time.monotonic()
    while spoke.is_running():
        if time.monotonic() - stopping > 60:
            sys.exit("the stopped node's SeaweedFS did not exit within 60 s")
        time.sleep(0.1)
    restart = time.monotonic()
    wio_dev(env, "up", "--second-node")
    started = time.monotonic() - restart
    recovered = wait_status(nodes, md, "spoke", nodes_pb2.NODE_STATUS_ONLINE, 60)
    total = started + recovered
    print(f"spoke restarted (start-up took {started:.1f} s): online {total:.1f} s after the restart began")


if __name__ == "__main__":
    main()
