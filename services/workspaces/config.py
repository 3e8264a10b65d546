"""Settings of the workspaces service: the common ones plus WIO_WORKSPACES_*."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import CommonSettings, ConfigError, env, env_float, env_int, load_common
from services.common.netguard import NetworkPolicy, node_networks, node_networks_from_env

# The HTTP gateway's default address (gateway/config.py), where links point unless told otherwise.
DEFAULT_GATEWAY_PUBLIC_URL = "http://127.0.0.1:50160"


@dataclass(frozen=True)
class WorkspacesSettings:
    common: CommonSettings
    nodes_address: str
    credential_seconds: int
    s3_timeout_seconds: float
    # A deleted workspace's objects are swept once more this long after the delete, and its name is free
    # only then: credentials issued before the delete may write until they expire.
    last_sweep_seconds: float = 960.0
    # Where this service may connect for a node (the nodes service's settings, read here too): the
    # admins' networks only for nodes an admin set up, checked on every connection.
    user_networks: NetworkPolicy = field(default_factory=lambda: node_networks()[0])
    admin_networks: NetworkPolicy = field(default_factory=lambda: node_networks()[1])
    # Where links point: the HTTP gateway as the outside world reaches it (`<url>/l/<id>.<secret>`).
    gateway_public_url: str = DEFAULT_GATEWAY_PUBLIC_URL


def load() -> WorkspacesSettings:
    seconds = env_int("WIO_WORKSPACES_CREDENTIAL_SECONDS", 900)
    if not 900 <= seconds <= 43200:
        raise ConfigError("WIO_WORKSPACES_CREDENTIAL_SECONDS must lie between 900 and 43200")
    user_networks, admin_networks = node_networks_from_env()
    public_url = env("WIO_GATEWAY_PUBLIC_URL", DEFAULT_GATEWAY_PUBLIC_URL).rstrip("/")
    scheme, _, rest = public_url.partition("://")
    if scheme not in {"http", "https"} or not rest or any(c in rest for c in "?#"):
        raise ConfigError(f"WIO_GATEWAY_PUBLIC_URL must be an http(s) URL without query, got {public_url!r}")
    return WorkspacesSettings(
        common=load_common("workspaces"),
        nodes_address=env("WIO_NODES_ADDRESS", "127.0.0.1:50152"),
        credential_seconds=seconds,
        s3_timeout_seconds=env_float("WIO_WORKSPACES_S3_TIMEOUT_SECONDS", 5.0),
        # The longest credential lifetime (they are issued for at most credential_seconds) and a margin.
        last_sweep_seconds=env_float("WIO_WORKSPACES_LAST_SWEEP_SECONDS", seconds + 60.0),
        user_networks=user_networks,
        admin_networks=admin_networks,
        gateway_public_url=public_url,
    )
