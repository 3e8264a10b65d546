"""Settings of the nodes service: the common ones plus WIO_NODES_*."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import CommonSettings, env, env_float, load_common
from services.common.netguard import DEFAULT_ADMIN_NETWORKS, PUBLIC, NetworkPolicy, parse_networks


def networks(allowed: str, admin: str) -> tuple[NetworkPolicy, NetworkPolicy]:
    """(for every node, for nodes an admin set up): WIO_NODES_ALLOWED_NETWORKS (default `public`) for
    every node, WIO_NODES_ADMIN_NETWORKS (default loopback and private ranges) in addition for an admin's.
    Link-local and metadata addresses are refused whatever these say."""
    public, everyone = parse_networks(allowed, "WIO_NODES_ALLOWED_NETWORKS")
    admin_public, admins = parse_networks(admin, "WIO_NODES_ADMIN_NETWORKS")
    return NetworkPolicy(public, everyone), NetworkPolicy(public or admin_public, (*everyone, *admins))


def _default_networks() -> tuple[NetworkPolicy, NetworkPolicy]:
    return networks(PUBLIC, DEFAULT_ADMIN_NETWORKS)


@dataclass(frozen=True)
class NodesSettings:
    common: CommonSettings
    probe_interval_seconds: float
    s3_timeout_seconds: float
    degraded_latency_ms: float
    workspaces_address: str
    user_networks: NetworkPolicy = field(default_factory=lambda: _default_networks()[0])
    admin_networks: NetworkPolicy = field(default_factory=lambda: _default_networks()[1])


def load() -> NodesSettings:
    user_networks, admin_networks = networks(
        env("WIO_NODES_ALLOWED_NETWORKS", PUBLIC), env("WIO_NODES_ADMIN_NETWORKS", DEFAULT_ADMIN_NETWORKS)
    )
    return NodesSettings(
        common=load_common("nodes"),
        probe_interval_seconds=env_float("WIO_NODES_PROBE_INTERVAL_SECONDS", 30.0),
        s3_timeout_seconds=env_float("WIO_NODES_S3_TIMEOUT_SECONDS", 4.0),
        degraded_latency_ms=env_float("WIO_NODES_DEGRADED_LATENCY_MS", 2000.0),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        user_networks=user_networks,
        admin_networks=admin_networks,
    )
