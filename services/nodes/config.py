"""Settings of the nodes service: the common ones plus WIO_NODES_*."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import CommonSettings, env, env_float, load_common


@dataclass(frozen=True)
class NodesSettings:
    common: CommonSettings
    probe_interval_seconds: float
    s3_timeout_seconds: float
    degraded_latency_ms: float
    workspaces_address: str


def load() -> NodesSettings:
    return NodesSettings(
        common=load_common("nodes"),
        probe_interval_seconds=env_float("WIO_NODES_PROBE_INTERVAL_SECONDS", 30.0),
        s3_timeout_seconds=env_float("WIO_NODES_S3_TIMEOUT_SECONDS", 4.0),
        degraded_latency_ms=env_float("WIO_NODES_DEGRADED_LATENCY_MS", 2000.0),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
    )
