"""The nodes service's proto <-> domain tables and converters, shared by its servicers and its event
publishers."""

from __future__ import annotations

from services.common.errors import DomainError, Reason
from services.common.proto import timestamp
from services.common.s3 import NodeCheckResult
from services.nodes.domain.models import KINDS, Node, NodeSettings, Root
from wio.nodes.v1 import nodes_pb2

KIND: dict[str, nodes_pb2.NodeKind.ValueType] = {
    name: nodes_pb2.NodeKind.Value(f"NODE_KIND_{name.upper()}") for name in KINDS
}
KIND_NAMES: dict[nodes_pb2.NodeKind.ValueType, str] = {v: k for k, v in KIND.items()}
STATUS: dict[str, nodes_pb2.NodeStatus.ValueType] = {
    "unknown": nodes_pb2.NODE_STATUS_UNSPECIFIED,
    "online": nodes_pb2.NODE_STATUS_ONLINE,
    "degraded": nodes_pb2.NODE_STATUS_DEGRADED,
    "offline": nodes_pb2.NODE_STATUS_OFFLINE,
}
ROOT_TYPE: dict[str, nodes_pb2.RootType.ValueType] = {
    "private": nodes_pb2.ROOT_TYPE_PRIVATE,
    "public": nodes_pb2.ROOT_TYPE_PUBLIC,
    "unmanaged": nodes_pb2.ROOT_TYPE_UNMANAGED,
}
ROOT_TYPE_NAMES: dict[nodes_pb2.RootType.ValueType, str] = {v: k for k, v in ROOT_TYPE.items()}


def node_pb(node: Node, detailed: bool) -> nodes_pb2.Node:
    s = node.settings
    msg = nodes_pb2.Node(
        id=node.id,
        name=s.name,
        endpoint=s.endpoint,
        region=s.region,
        kind=KIND[s.kind],
        operator_id=node.operator_id,
        operator_username=node.operator_username,
        status=STATUS[node.status],
        last_seen_at=timestamp(node.last_seen_at),
        latency_ms=round(node.latency_ms, 2),
        created_at=timestamp(node.created_at),
        max_credential_seconds=s.max_credential_seconds,
        policy_size_limit=s.policy_size_limit,
        capabilities=capabilities_pb(node),
    )
    if detailed:
        # Operator and admins only; the secret key never leaves the service on a user-facing RPC.
        msg.sts_endpoint = s.sts_endpoint
        msg.role_arn = s.role_arn
        msg.access_key = s.access_key
        msg.status_detail = node.status_detail
    return msg


def root_pb(root: Root) -> nodes_pb2.Root:
    return nodes_pb2.Root(
        id=root.id,
        node_id=root.node_id,
        node_name=root.node_name,
        bucket=root.bucket,
        base_prefix=root.base_prefix,
        type=ROOT_TYPE[root.type],
        allowed_creators=[c.label() for c in root.allowed_creators],
        allowed_user_ids=[c.id for c in root.allowed_creators if c.kind == "user"],
        allowed_group_ids=[c.id for c in root.allowed_creators if c.kind == "group"],
        created_by=root.created_by,
        created_at=timestamp(root.created_at),
    )


def check_pb(check: NodeCheckResult | None) -> nodes_pb2.NodeCheck | None:
    if check is None:
        return None
    return nodes_pb2.NodeCheck(
        reachable=check.reachable,
        credentials_ok=check.credentials_ok,
        sts_ok=check.sts_ok,
        latency_ms=round(check.latency_ms, 2),
        detail=check.failure.message if check.failure else "",
    )


def access_pb(node: Node) -> nodes_pb2.NodeAccess:
    s = node.settings
    return nodes_pb2.NodeAccess(
        node_id=node.id,
        endpoint=s.endpoint,
        region=s.region,
        access_key=s.access_key,
        secret_key=s.secret_key,
        sts_endpoint=s.sts_endpoint,
        role_arn=s.role_arn,
        max_credential_seconds=s.max_credential_seconds,
        policy_size_limit=s.policy_size_limit,
        kind=KIND[s.kind],
        status=STATUS[node.status],
        operator_id=node.operator_id,
        capabilities=capabilities_pb(node),
        admin_networks=s.admin_networks,
    )


def capabilities_pb(node: Node) -> nodes_pb2.NodeCapabilities:
    c = node.capabilities
    return nodes_pb2.NodeCapabilities(
        object_case_ignored=c.object_case_ignored,
        case_probed=c.case_probed,
        policy_size_limit=node.settings.policy_size_limit,
        escapes_honoured=c.escapes_honoured,
        min_credential_seconds=c.min_credential_seconds,
    )


def settings_from(request: nodes_pb2.RegisterNodeRequest) -> NodeSettings:
    if request.kind not in KIND_NAMES:
        raise DomainError(Reason.INVALID_ARGUMENT, f"kind must be one of {', '.join(KINDS)}", field="kind")
    return NodeSettings(
        name=request.name,
        endpoint=request.endpoint,
        region=request.region,
        kind=KIND_NAMES[request.kind],
        access_key=request.access_key,
        secret_key=request.secret_key,
        sts_endpoint=request.sts_endpoint,
        role_arn=request.role_arn,
        max_credential_seconds=request.max_credential_seconds,
        policy_size_limit=request.policy_size_limit,
    )
