"""What the benchmarks share: a private stack on free ports, and how figures are printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from deploy.ports import SERVICES, pick_free_ports, weed_port_settings
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    stack: dict[str, Any]  # stack.json
    config: dict[str, Any]  # the CLI config the launcher wrote

    def channel(self, service: str) -> grpc.Channel:
        if service == "auth":
            return grpc.insecure_channel(self.config["server"]["address"])
        return grpc.insecure_channel(self.config["server"]["services"][service])

    def bearer(self, api_key: str) -> tuple[tuple[str, str], ...]:
        stub = auth_pb2_grpc.AuthServiceStub(self.channel("auth"))
        token = stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=api_key)).access_token
        return (("authorization", f"Bearer {token}"),)

    @property
    def admin_key(self) -> str:
        return str(self.config["auth"]["api_key"])

    def second_node_request(self, name: str, secret_key: str = "") -> nodes_pb2.RegisterNodeRequest:
        """A RegisterNodeRequest for the stack's second SeaweedFS (`up --second-node`); a `secret_key`
        given replaces the real one."""
        second = self.stack["s3_second"]
        return nodes_pb2.RegisterNodeRequest(
            name=name,
            endpoint=second["endpoint"],
            region=second["region"],
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=second["access_key"],
            secret_key=secret_key or second["secret_key"],
            role_arn=second["role_arn"],
        )


def stack_env(state: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    names = ["WIO_DEV_PG_PORT", "WIO_DEV_NATS_PORT"]
    names += [p.env for p in weed_port_settings().values()] + [
        p.env for p in weed_port_settings(True).values()
    ]
    names += [f"WIO_DEV_{s.upper()}_PORT" for s in (*SERVICES, "gateway")]
    env.update({n: str(p) for n, p in zip(names, pick_free_ports(len(names)), strict=True)})
    env["WIO_DEV_STATE"] = str(state)
    env.update(extra or {})
    return env


def wio_dev(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "wio-dev"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        # The stack's folder is temporary: show the ends of its logs before it goes.
        state = Path(env["WIO_DEV_STATE"])
        logs = sorted([*(state / "logs").glob("*.log"), *state.glob("**/data/log")])
        tails = "".join(
            f"\n--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            for log in logs
        )
        sys.exit(f"wio-dev {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}{tails}")


@contextmanager
def private_stack(*up_args: str, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`wio-dev up` in a temporary folder on free ports, stopped (`down`) on the way out."""
    with tempfile.TemporaryDirectory(prefix="wio-bench-") as tmp:
        Path(tmp).chmod(0o711)
        state = Path(tmp) / "state"
        env = stack_env(state, extra_env)
        wio_dev(env, "up", *up_args)
        try:
            stack = json.loads((state / "stack.json").read_text())
            config = tomllib.loads((state / "cli" / "config.toml").read_text())
            yield Stack(env, stack, config)
        finally:
            wio_dev(env, "down")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def percentiles(values: list[float]) -> str:
    """Seconds in, milliseconds out."""
    return (
        f"p50 {percentile(values, 0.5) * 1000:.2f} ms, p99 {percentile(values, 0.99) * 1000:.2f} ms, "
        f"max {max(values) * 1000:.2f} ms"
    )
