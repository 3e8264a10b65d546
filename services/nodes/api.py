"""gRPC servicers for nodes and roots: proto <-> domain only."""

from __future__ import annotations

from typing import Any, TypeAlias

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.common.proto import timestamp
from services.common.s3 import NodeCheckResult
from services.nodes.domain.models import KINDS, Node, NodeSettings, Root
from services.nodes.domain.service import UPDATABLE, NodesService
from services.nodes.events.publishers import ROOT_TYPE, STATUS
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

Ctx: TypeAlias = Any  # grpc ships no type information

KIND = {name: getattr(nodes_pb2, f"NODE_KIND_{name.upper()}") for name in KINDS}
KIND_NAMES = {v: k for k, v in KIND.items()}
ROOT_TYPE_NAMES = {v: k for k, v in ROOT_TYPE.items()}


def node_pb(node: Node, detailed: bool) -> Any:
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
    )
    if detailed:
        # Operator and admins only; the secret key never leaves the service on a user-facing RPC.
        msg.sts_endpoint = s.sts_endpoint
        msg.role_arn = s.role_arn
        msg.access_key = s.access_key
        msg.status_detail = node.status_detail
    return msg


def root_pb(root: Root) -> Any:
    return nodes_pb2.Root(
        id=root.id,
        node_id=root.node_id,
        node_name=root.node_name,
        bucket=root.bucket,
        base_prefix=root.base_prefix,
        type=ROOT_TYPE[root.type],
        allowed_creators=[c.label() for c in root.allowed_creators],
        created_by=root.created_by,
        created_at=timestamp(root.created_at),
    )


def check_pb(check: NodeCheckResult | None) -> Any:
    if check is None:
        return None
    return nodes_pb2.NodeCheck(
        reachable=check.reachable,
        credentials_ok=check.credentials_ok,
        sts_ok=check.sts_ok,
        latency_ms=round(check.latency_ms, 2),
        detail=check.failure.message if check.failure else "",
    )


def settings_from(request: Any) -> NodeSettings:
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


class NodesApi(nodes_pb2_grpc.NodesServiceServicer):
    def __init__(self, nodes: NodesService) -> None:
        self.nodes = nodes

    async def RegisterNode(self, request: Any, context: Ctx) -> Any:
        node, check = await self.nodes.register_node(require_caller(), settings_from(request))
        return nodes_pb2.RegisterNodeResponse(node=node_pb(node, True), check=check_pb(check))

    async def ListNodes(self, request: Any, context: Ctx) -> Any:
        caller = require_caller()
        nodes = await self.nodes.list_nodes()
        return nodes_pb2.ListNodesResponse(
            nodes=[node_pb(n, self.nodes.is_operator(caller, n)) for n in nodes]
        )

    async def GetNode(self, request: Any, context: Ctx) -> Any:
        return nodes_pb2.GetNodeResponse(
            node=node_pb(await self.nodes.get_node(require_caller(), request.node), True)
        )

    async def CheckNode(self, request: Any, context: Ctx) -> Any:
        node, check = await self.nodes.check_node(require_caller(), request.node)
        return nodes_pb2.CheckNodeResponse(node=node_pb(node, True), check=check_pb(check))

    async def UpdateNode(self, request: Any, context: Ctx) -> Any:
        changes: dict[str, object] = {}
        for path in request.update_mask.paths:
            if path not in UPDATABLE:
                raise DomainError(Reason.INVALID_ARGUMENT, f"cannot update {path!r}", field="update_mask")
            changes[path] = getattr(request.changes, path)
        node, check = await self.nodes.update_node(require_caller(), request.node, changes)
        return nodes_pb2.UpdateNodeResponse(node=node_pb(node, True), check=check_pb(check))

    async def DeleteNode(self, request: Any, context: Ctx) -> Any:
        await self.nodes.delete_node(require_caller(), request.node)
        return nodes_pb2.DeleteNodeResponse()

    async def CreateRoot(self, request: Any, context: Ctx) -> Any:
        root_type = ROOT_TYPE_NAMES.get(request.type, "")
        root, created = await self.nodes.create_root(
            require_caller(),
            request.node,
            request.bucket,
            request.base_prefix,
            root_type,
            list(request.allowed_creators),
        )
        return nodes_pb2.CreateRootResponse(root=root_pb(root), bucket_created=created)

    async def ListRoots(self, request: Any, context: Ctx) -> Any:
        require_caller()
        return nodes_pb2.ListRootsResponse(
            roots=[root_pb(r) for r in await self.nodes.list_roots(request.node)]
        )

    async def GetRoot(self, request: Any, context: Ctx) -> Any:
        require_caller()
        return nodes_pb2.GetRootResponse(root=root_pb(await self.nodes.get_root(request.root)))

    async def DeleteRoot(self, request: Any, context: Ctx) -> Any:
        await self.nodes.delete_root(require_caller(), request.root)
        return nodes_pb2.DeleteRootResponse()


def access_pb(node: Node) -> Any:
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
    )


class NodesInternalApi(nodes_pb2_grpc.NodesInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, nodes: NodesService) -> None:
        self.nodes = nodes

    async def GetNodeAccess(self, request: Any, context: Ctx) -> Any:
        return nodes_pb2.GetNodeAccessResponse(
            access=access_pb(await self.nodes.node_access(request.node_id))
        )

    async def GetRootAccess(self, request: Any, context: Ctx) -> Any:
        root, node = await self.nodes.root_access(request.root_id)
        return nodes_pb2.GetRootAccessResponse(root=root_pb(root), access=access_pb(node))
