"""Port settings of the local stack: every port has a default and an environment variable.

Defaults stay clear of 5432 and 4222, where a system PostgreSQL or NATS often listens.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import asdict, dataclass, fields

from deploy.errors import LaunchError

HOST = "127.0.0.1"

SERVICES = ("auth", "nodes", "workspaces", "indexer")


@dataclass(frozen=True)
class Port:
    """One port and the variable that sets it, so an error can tell the user what to change."""

    name: str
    env: str
    default: int

    def value(self) -> int:
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        try:
            port = int(raw)
        except ValueError as exc:
            raise LaunchError(f"{self.env} must be a port number, got {raw!r}") from exc
        if not 1 <= port <= 65535:
            raise LaunchError(f"{self.env} must be between 1 and 65535, got {port}")
        return port

    def is_set(self) -> bool:
        return bool(os.environ.get(self.env, "").strip())


POSTGRES = Port("postgres", "WIO_DEV_PG_PORT", 15432)
NATS = Port("nats", "WIO_DEV_NATS_PORT", 14222)
GATEWAY = Port("gateway", "WIO_DEV_GATEWAY_PORT", 50160)
SERVICE_PORTS = {
    name: Port(name, f"WIO_DEV_{name.upper()}_PORT", 50151 + i) for i, name in enumerate(SERVICES)
}


@dataclass(frozen=True)
class WeedPorts:
    """Every port one `weed mini` opens. All are pinned: its defaults collide between two nodes."""

    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> WeedPorts:
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})

    @classmethod
    def free(cls) -> WeedPorts:
        """Ports the system has just handed out, for a throwaway node."""
        return cls(*pick_free_ports(len(fields(cls))))

    def values(self) -> list[int]:
        return list(self.as_dict().values())


# The second node's defaults are the first node's plus 100.
_WEED_DEFAULTS = WeedPorts(
    s3=18333,
    s3_grpc=28333,
    master=19333,
    master_grpc=29333,
    volume=18340,
    volume_grpc=28340,
    filer=18888,
    filer_grpc=28888,
    admin=18646,
    admin_grpc=28646,
)


def weed_port_settings(second: bool = False) -> dict[str, Port]:
    """WIO_DEV_S3_PORT, WIO_DEV_S3_MASTER_PORT, ...; the second node uses WIO_DEV_S3_SECOND_*."""
    prefix = "WIO_DEV_S3_SECOND" if second else "WIO_DEV_S3"
    offset = 100 if second else 0
    node = "s3_second" if second else "s3"
    settings: dict[str, Port] = {}
    for name, default in _WEED_DEFAULTS.as_dict().items():
        part = "" if name == "s3" else "_" + name.removeprefix("s3_").upper()
        settings[name] = Port(f"{node} {name}", f"{prefix}{part}_PORT", default + offset)
    return settings


def port_is_free(port: int, host: str = HOST) -> bool:
    # SO_REUSEADDR like the servers themselves, so a port left in TIME_WAIT still counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(ports: dict[int, str]) -> None:
    """Fail naming every busy port and what sets it; `ports` maps a port to its description."""
    busy = [f"  {port} ({what})" for port, what in ports.items() if not port_is_free(port)]
    if busy:
        raise LaunchError(
            "these ports on 127.0.0.1 are already in use:\n"
            + "\n".join(busy)
            + "\nstop whatever holds them or choose other ports with the variables named"
        )


def pick_free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct ports that were free a moment ago (all held open together so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def pick_free_port(host: str = HOST) -> int:
    return pick_free_ports(1, host)[0]
