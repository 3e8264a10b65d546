"""The CLI's start-up, measured against Typer's own: medians of `python -c "import typer"`, `wio --help`
and `wio whoami` (with a cached token), run in turns in one run, and the two ratios (targets: --help
<= 1.2 x, whoami <= 2.5 x the import). Also WhoAmI's gRPC latency without the CLI.

Uses a running stack (`make run`: WIO_CONFIG, else .wio-dev/cli/config.toml) when one answers, else
starts a private one on free ports (bench/stack.py) and stops it afterwards.

    python -m bench.cli_and_whoami [--runs 30] [--calls 1000] [--own-stack]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from bench.stack import BIN, Stack, percentiles, private_stack
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
HELP_TARGET = 1.2
WHOAMI_TARGET = 2.5


def running_config() -> Path | None:
    """The CLI config of a running stack, when there is one and its identity service answers."""
    for candidate in (os.environ.get("WIO_CONFIG", ""), str(ROOT / ".wio-dev" / "cli" / "config.toml")):
        if not candidate or not Path(candidate).is_file():
            continue
        address = tomllib.loads(Path(candidate).read_text())["server"]["address"]
        with grpc.insecure_channel(address) as channel:
            try:
                auth_pb2_grpc.AuthServiceStub(channel).GetServiceDirectory(
                    auth_pb2.GetServiceDirectoryRequest(), timeout=2
                )
            except grpc.RpcError:
                continue
        return Path(candidate)
    return None


@contextmanager
def stack_config(own_stack: bool) -> Iterator[Path]:
    found = None if own_stack else running_config()
    if found is not None:
        print(f"stack: the running one ({found})")
        yield found
        return
    print("stack: a private one on free ports (starting...)", flush=True)
    with private_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        yield write_config(stack, Path(tmp))


def write_config(stack: Stack, folder: Path) -> Path:
    """A CLI config in `folder` for `stack`'s identity service and admin key."""
    path = folder / "config.toml"
    path.write_text(
        f'[server]\naddress = "{stack.config["server"]["address"]}"\n[auth]\napi_key = "{stack.admin_key}"\n'
    )
    return path


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


async def whoami_latency(address: str, api_key: str, calls: int) -> list[float]:
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    parser.add_argument("--calls", type=int, default=1000, help="WhoAmI gRPC calls (default 1000)")
    parser.add_argument("--own-stack", action="store_true", help="start a private stack even if one runs")
    args = parser.parse_args()
    with stack_config(args.own_stack) as found:
        run(found, args.runs, args.calls)


def run(found: Path, runs: int, calls: int) -> None:
    """The measurements against the stack whose CLI config is `found`."""
    python, wio = str(BIN / "python"), str(BIN / "wio")
    with tempfile.TemporaryDirectory() as tmp:
        # A copy of the config, so the token cache the runs use is this run's own.
        config = Path(tmp) / "config.toml"
        shutil.copy(found, config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
        env["WIO_CONFIG"] = str(config)
        # Bytecode as an installed wheel has it (pip compiles at install): the warm-up run writes the
        # project's .pyc files, which an editable install would otherwise recompile on every run here.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        commands = {
            "python -c 'import typer'": [python, "-c", "import typer"],
            "wio --help": [wio, "--help"],
            "wio whoami (cached token)": [wio, "whoami"],
        }
        for command in commands.values():  # warm the page cache; whoami caches its token
            timed(command, env)
        if not (Path(tmp) / "token.json").is_file():
            sys.exit("wio whoami did not cache its token")
        # In turns, so a change in the machine's load touches every command alike.
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(timed(command, env))

        raw = tomllib.loads(config.read_text())
        latencies = asyncio.run(whoami_latency(raw["server"]["address"], raw["auth"]["api_key"], calls))

    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:<27} median {medians[name] * 1000:6.1f} ms  "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}; {len(values)} runs)"
        )
    base = medians["python -c 'import typer'"]
    help_ratio = medians["wio --help"] / base
    whoami_ratio = medians["wio whoami (cached token)"] / base
    print(f"wio --help / import typer:  {help_ratio:.2f} x  (target <= {HELP_TARGET} x)")
    print(f"wio whoami / import typer:  {whoami_ratio:.2f} x  (target <= {WHOAMI_TARGET} x)")
    print(f"WhoAmI over gRPC, no CLI:   {percentiles(latencies)} over {len(latencies)} sequential calls")


if __name__ == "__main__":
    main()
