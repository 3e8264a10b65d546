"""The nodes and identity services as the workspace rules see them (gRPC with this service's token)."""

from __future__ import annotations

from typing import Any

import grpc

from services.common.clients import CALL_TIMEOUT_SECONDS, AuthClient
from services.common.errors import DomainError, Reason
from services.common.memo import Memo
from services.workspaces.domain.ports import NodeAccess, RootInfo
from wio.auth.v1 import auth_pb2, auth_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

ROOT_TYPES = {
    nodes_pb2.ROOT_TYPE_PRIVATE: "private",
    nodes_pb2.ROOT_TYPE_PUBLIC: "public",
    nodes_pb2.ROOT_TYPE_UNMANAGED: "unmanaged",
}


def _unavailable(what: str, exc: grpc.aio.AioRpcError) -> DomainError:
    return DomainError(
        Reason.DEPENDENCY_UNAVAILABLE, f"the {what} service did not answer ({exc.code().name})"
    )


def _root(root: Any) -> RootInfo:
    return RootInfo(
        id=root.id,
        node_id=root.node_id,
        node_name=root.node_name,
        bucket=root.bucket,
        base_prefix=root.base_prefix,
        type=ROOT_TYPES.get(root.type, ""),
        allowed_creators=tuple(root.allowed_creators),
    )


def _access(access: Any) -> NodeAccess:
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
    )


# How long an answer from another service is reused when no event says it changed (NATS down).
MEMO_SECONDS = 30.0


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
        try:
            response = await self.public.ListRoots(
                nodes_pb2.ListRootsRequest(),
                metadata=await self.auth.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("nodes", exc) from exc
        return [_root(r) for r in response.roots]

    async def root(self, root_id: str) -> tuple[RootInfo, NodeAccess]:
        try:
            response = await self.internal.GetRootAccess(
                nodes_pb2.GetRootAccessRequest(root_id=root_id),
                metadata=await self.auth.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise DomainError(Reason.ROOT_NOT_FOUND, "the workspace's root was removed") from exc
            raise _unavailable("nodes", exc) from exc
        return _root(response.root), _access(response.access)

    async def node(self, node_id: str) -> NodeAccess:
        return await self.access.get(node_id, lambda: self._fetch_node(node_id))

    async def _fetch_node(self, node_id: str) -> NodeAccess:
        try:
            response = await self.internal.GetNodeAccess(
                nodes_pb2.GetNodeAccessRequest(node_id=node_id),
                metadata=await self.auth.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise DomainError(Reason.NODE_NOT_FOUND, "the workspace's node was removed") from exc
            raise _unavailable("nodes", exc) from exc
        return _access(response.access)


class IdentityClient:
    def __init__(self, auth: AuthClient, channel: grpc.aio.Channel) -> None:
        self.auth = auth
        self.internal = auth_pb2_grpc.AuthInternalServiceStub(channel)

    async def groups(self, user_id: str) -> dict[str, str]:
        # Auth's answer as it is now; the membership copy (events/memberships.py) keeps it only while it
        # can show that no later change was acknowledged.
        try:
            response = await self.internal.ListUserGroups(
                auth_pb2.ListUserGroupsRequest(user_id=user_id),
                metadata=await self.auth.call_metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("identity", exc) from exc
        return {g.id: g.name for g in response.groups}

    async def user(self, username: str) -> tuple[str, str]:
        user = await self.auth.lookup_user(username)
        return str(user.id), str(user.username)

    async def group(self, name: str) -> tuple[str, str]:
        group = await self.auth.get_group(name)
        return str(group.id), str(group.name)
