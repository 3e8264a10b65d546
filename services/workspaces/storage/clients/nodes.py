"""The nodes service as the workspace rules see it (gRPC with this service's token)."""

from __future__ import annotations

import grpc

from services.common.clients import CALL_TIMEOUT_SECONDS, AuthClient
from services.common.grpc_errors import callee_errors
from services.common.memo import Memo
from services.workspaces.domain.ports import NodeAccess, RootInfo
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

ROOT_TYPES: dict[nodes_pb2.RootType.ValueType, str] = {
    nodes_pb2.ROOT_TYPE_PRIVATE: "private",
    nodes_pb2.ROOT_TYPE_PUBLIC: "public",
    nodes_pb2.ROOT_TYPE_UNMANAGED: "unmanaged",
}


def _root(root: nodes_pb2.Root) -> RootInfo:
    return RootInfo(
        id=root.id,
        node_id=root.node_id,
        node_name=root.node_name,
        bucket=root.bucket,
        base_prefix=root.base_prefix,
        type=ROOT_TYPES.get(root.type, ""),
        allowed_creators=tuple(root.allowed_creators),
        allowed_user_ids=frozenset(root.allowed_user_ids),
        allowed_group_ids=frozenset(root.allowed_group_ids),
    )


def _access(access: nodes_pb2.NodeAccess) -> NodeAccess:
    return NodeAccess(
        node_id=access.node_id,
        endpoint=access.endpoint,
        region=access.region,
        access_key=access.access_key,
        secret_key=access.secret_key,
        sts_endpoint=access.sts_endpoint,
        role_arn=access.role_arn,
        max_credential_seconds=access.max_credential_seconds,
        policy_size_limit=access.policy_size_limit,
        operator_id=access.operator_id,
        # A node service that predates capabilities sends none: the safe reading.
        object_case_ignored=(
            access.capabilities.object_case_ignored if access.HasField("capabilities") else True
        ),
        admin_networks=access.admin_networks,
    )


# How long an answer from another service is reused when no event says it changed (NATS down).
MEMO_SECONDS = 30.0


ROOT_PAGE = 1000  # the largest page nodes serves: few calls however many roots there are


class NodesClient:
    def __init__(self, channel: grpc.aio.Channel, auth: AuthClient) -> None:
        self.public = nodes_pb2_grpc.NodesServiceStub(channel)
        self.internal = nodes_pb2_grpc.NodesInternalServiceStub(channel)
        self.auth = auth
        # Node access is needed on every credential request; node events evict it. A stale entry cannot
        # widen anyone's rights: a node or root is only removed once no workspace uses it.
        self.access: Memo[str, NodeAccess] = Memo(MEMO_SECONDS)
        # The list of roots, for choosing where a workspace goes (the choice is checked: see the domain).
        self.root_list: Memo[str, list[RootInfo]] = Memo(MEMO_SECONDS)

    def forget_node(self, node_id: str) -> None:
        self.access.forget(node_id)
        self.root_list.clear()

    def forget_roots(self) -> None:
        self.root_list.clear()

    async def roots(self, fresh: bool = True) -> list[RootInfo]:
        if fresh:
            self.root_list.clear()
        return await self.root_list.get("", self._fetch_roots)

    async def _fetch_roots(self) -> list[RootInfo]:
        """Every root, oldest first: all the pages of ListRoots."""
        found: list[RootInfo] = []
        token = ""
        while True:
            metadata = await self.auth.call_metadata()
            with callee_errors("nodes"):
                response = await self.public.ListRoots(
                    nodes_pb2.ListRootsRequest(page_size=ROOT_PAGE, page_token=token),
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_SECONDS,
                )
            found += [_root(r) for r in response.roots]
            token = response.next_page_token
            if not token:
                return found

    async def root(self, root_id: str) -> tuple[RootInfo, NodeAccess]:
        """A root and its node's access; ROOT_NOT_FOUND (from nodes) once the root was removed."""
        metadata = await self.auth.call_metadata()
        with callee_errors("nodes"):
            response = await self.internal.GetRootAccess(
                nodes_pb2.GetRootAccessRequest(root_id=root_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return _root(response.root), _access(response.access)

    async def node(self, node_id: str) -> NodeAccess:
        return await self.access.get(node_id, lambda: self._fetch_node(node_id))

    async def _fetch_node(self, node_id: str) -> NodeAccess:
        metadata = await self.auth.call_metadata()
        with callee_errors("nodes"):
            response = await self.internal.GetNodeAccess(
                nodes_pb2.GetNodeAccessRequest(node_id=node_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return _access(response.access)
