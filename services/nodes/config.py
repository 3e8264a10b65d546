"""Settings of the nodes service: the common ones plus WIO_NODES_*."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import CommonSettings, env, env_float, load_common
from services.common.netguard import NetworkPolicy, node_networks, node_networks_from_env


@dataclass(frozen=True)
class NodesSettings:
    common: CommonSettings
    probe_interval_seconds: float
    s3_timeout_seconds: float
    degraded_latency_ms: float
    workspaces_address: str
    user_networks: NetworkPolicy = field(default_factory=lambda: node_networks()[0])
    admin_networks: NetworkPolicy = field(default_factory=lambda: node_networks()[1])


def load() -> NodesSettings:
    user_networks, admin_networks = node_networks_from_env()
    return NodesSettings(
        common=load_common("nodes"),
        probe_interval_seconds=env_float("WIO_NODES_PROBE_INTERVAL_SECONDS", 30.0),
        s3_timeout_seconds=env_float("WIO_NODES_S3_TIMEOUT_SECONDS", 4.0),
        degraded_latency_ms=env_float("WIO_NODES_DEGRADED_LATENCY_MS", 2000.0),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        user_networks=user_networks,
        admin_networks=admin_networks,
    )
