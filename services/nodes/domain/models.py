"""Nodes and roots as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

KINDS = ("minio", "aws", "seaweedfs", "ceph", "generic")
STATUSES = ("unknown", "online", "degraded", "offline")
ROOT_TYPES = ("private", "public", "unmanaged")


@dataclass(frozen=True)
class NodeSettings:
    """What the operator gives at registration; the secret is kept only encrypted."""

    name: str
    endpoint: str
    region: str
    kind: str
    access_key: str
    secret_key: str = field(repr=False)
    sts_endpoint: str = ""
    role_arn: str = ""
    max_credential_seconds: int = 0
    policy_size_limit: int = 0
    # Set by wio, never by the request: the connection settings were last set by an admin, so the node
    # may be reached on the networks open to admins only (loopback, private ranges), and its failures
    # may say why they failed.
    admin_networks: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What a node's S3 does with session policies. Whether object resources match ignoring case is
    probed (rules.capabilities_after); until a probe tells, it is taken as ignored, the safe reading.
    The other facts are known per kind."""

    object_case_ignored: bool = True
    case_probed: bool = False
    escapes_honoured: bool = False
    min_credential_seconds: int = 900


@dataclass(frozen=True)
class Node:
    id: str
    settings: NodeSettings
    operator_id: str
    operator_username: str
    created_at: datetime
    status: str = "unknown"
    status_detail: str = ""
    last_seen_at: datetime | None = None
    latency_ms: float = 0.0
    capabilities: Capabilities = Capabilities()

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True)
class Creator:
    """One entry of a root's allowed creators."""

    kind: str  # "user" or "group"
    id: str
    name: str

    def label(self) -> str:
        return self.name if self.kind == "user" else f"group:{self.name}"


@dataclass(frozen=True)
class Root:
    id: str
    node_id: str
    node_name: str
    bucket: str
    base_prefix: str
    type: str
    created_by: str
    created_at: datetime
    allowed_creators: tuple[Creator, ...] = ()
