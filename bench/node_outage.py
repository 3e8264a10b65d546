"""Prints node-call latency with every node up and while another node is down, and how fast the outage
and the recovery are noticed.

Starts its own stack (`wio-dev up --second-node`) on free ports in a temporary folder, with a 2 s probe
interval, registers the second SeaweedFS as node `spoke`, and stops it mid-run by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import grpc

from deploy.ports import SERVICES, pick_free_ports, weed_port_settings
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

BIN = Path(sys.executable).parent
PROBE_SECONDS = 2.0


def stack_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    names = ["WIO_DEV_PG_PORT", "WIO_DEV_NATS_PORT"]
    names += [p.env for p in weed_port_settings().values()] + [
        p.env for p in weed_port_settings(True).values()
    ]
    names += [f"WIO_DEV_{s.upper()}_PORT" for s in SERVICES]
    env.update({n: str(p) for n, p in zip(names, pick_free_ports(len(names)), strict=True)})
    env["WIO_DEV_STATE"] = str(state)
    env["WIO_NODES_PROBE_INTERVAL_SECONDS"] = str(PROBE_SECONDS)
    return env


def wio_dev(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "wio-dev"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        sys.exit(f"wio-dev {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms"


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
    with tempfile.TemporaryDirectory(prefix="wio-bench-") as tmp:
        Path(tmp).chmod(0o711)
        env = stack_env(Path(tmp) / "state")
        wio_dev(env, "up", "--second-node")
        try:
            run(env, args.calls)
        finally:
            wio_dev(env, "down")


def run(env: dict[str, str], calls: int) -> None:
    state = Path(env["WIO_DEV_STATE"])
    stack = json.loads((state / "stack.json").read_text())
    config = tomllib.loads((state / "cli" / "config.toml").read_text())
    auth = auth_pb2_grpc.AuthServiceStub(grpc.insecure_channel(config["server"]["address"]))
    token = auth.ExchangeApiKey(
        auth_pb2.ExchangeApiKeyRequest(api_key=config["auth"]["api_key"])
    ).access_token
    md = (("authorization", f"Bearer {token}"),)
    nodes = nodes_pb2_grpc.NodesServiceStub(grpc.insecure_channel(config["server"]["services"]["nodes"]))
    second = stack["s3_second"]
    nodes.RegisterNode(
        nodes_pb2.RegisterNodeRequest(
            name="spoke",
            endpoint=second["endpoint"],
            region=second["region"],
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=second["access_key"],
            secret_key=second["secret_key"],
            role_arn=second["role_arn"],
        ),
        metadata=md,
        timeout=30,
    )
    timed_calls(nodes, md, "local", 50)  # warm-up
    before = timed_calls(nodes, md, "local", calls)
    print(f"GetNode(local), every node up:       {percentiles(before)} ({calls} calls)")

    os.kill(int(second["process"]["pid"]), signal.SIGTERM)
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

    restart = time.monotonic()
    wio_dev(env, "up", "--second-node")
    started = time.monotonic() - restart
    recovered = wait_status(nodes, md, "spoke", nodes_pb2.NODE_STATUS_ONLINE, 60)
    total = started + recovered
    print(f"spoke restarted (start-up took {started:.1f} s): online {total:.1f} s after the restart began")


if __name__ == "__main__":
    main()
