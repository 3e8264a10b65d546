"""Prints `wio --help` start time and WhoAmI gRPC latency (p50/p99 over 2,000 calls).

Needs a running stack (`make run`); reads the CLI config the launcher wrote (WIO_CONFIG, else
.wio-dev/cli/config.toml, else ~/.config/wio/config.toml).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import grpc

from wio.auth.v1 import auth_pb2, auth_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent


def config_path() -> Path:
    for candidate in (
        os.environ.get("WIO_CONFIG", ""),
        str(ROOT / ".wio-dev" / "cli" / "config.toml"),
        str(Path.home() / ".config" / "wio" / "config.toml"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    sys.exit("no CLI config found: start the stack with `make run` first")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_help(runs: int) -> list[float]:
    wio = ROOT / ".venv" / "bin" / "wio"
    command = [str(wio) if wio.exists() else "wio", "--help"]
    subprocess.run(command, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


async def bench_whoami(address: str, api_key: str, calls: int) -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        token = (await stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=api_key))).access_token
        metadata = (("authorization", f"Bearer {token}"),)
        for _ in range(50):  # warm-up: connection, caches
            await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata)
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            await stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata, timeout=10)
            latencies.append(time.perf_counter() - started)
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--help-runs", type=int, default=20)
    args = parser.parse_args()

    help_times = bench_help(args.help_runs)
    print(
        f"wio --help: median {statistics.median(help_times) * 1000:.0f} ms, "
        f"min {min(help_times) * 1000:.0f} ms, max {max(help_times) * 1000:.0f} ms over {args.help_runs} runs"
    )

    config = tomllib.loads(config_path().read_text())
    address = os.environ.get("WIO_ADDRESS") or config["server"]["address"]
    api_key = os.environ.get("WIO_API_KEY") or config["auth"]["api_key"]
    latencies = asyncio.run(bench_whoami(address, api_key, args.calls))
    print(
        f"WhoAmI over gRPC: p50 {percentile(latencies, 0.50) * 1000:.2f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, mean {statistics.mean(latencies) * 1000:.2f} ms "
        f"over {len(latencies)} sequential calls"
    )


if __name__ == "__main__":
    main()
