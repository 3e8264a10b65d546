"""gRPC servicers for nodes and roots: proto <-> domain only."""

from __future__ import annotations

from grpc.aio import ServicerContext

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.common.pages import PageRequest
from services.nodes.convert import ROOT_TYPE_NAMES, access_pb, check_pb, node_pb, root_pb, settings_from
from services.nodes.domain.service import UPDATABLE, NodesService
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc


class NodesApi(nodes_pb2_grpc.NodesServiceServicer):
    def __init__(self, nodes: NodesService) -> None:
        self.nodes = nodes

    async def RegisterNode(
        self,
        request: nodes_pb2.RegisterNodeRequest,
        context: ServicerContext[nodes_pb2.RegisterNodeRequest, nodes_pb2.RegisterNodeResponse],
    ) -> nodes_pb2.RegisterNodeResponse:
        node, check, notices, token = await self.nodes.register_node(require_caller(), settings_from(request))
        return nodes_pb2.RegisterNodeResponse(
            node=node_pb(node, True), check=check_pb(check), notices=notices, hook_token=token
        )

    async def ListNodes(
        self,
        request: nodes_pb2.ListNodesRequest,
        context: ServicerContext[nodes_pb2.ListNodesRequest, nodes_pb2.ListNodesResponse],
    ) -> nodes_pb2.ListNodesResponse:
        caller = require_caller()
        page = await self.nodes.page_nodes(caller, PageRequest(request.page_size, request.page_token))
        return nodes_pb2.ListNodesResponse(
            nodes=[node_pb(n, self.nodes.is_operator(caller, n)) for n in page.items],
            next_page_token=page.next_token,
        )

    async def GetNode(
        self,
        request: nodes_pb2.GetNodeRequest,
        context: ServicerContext[nodes_pb2.GetNodeRequest, nodes_pb2.GetNodeResponse],
    ) -> nodes_pb2.GetNodeResponse:
        return nodes_pb2.GetNodeResponse(
            node=node_pb(await self.nodes.get_node(require_caller(), request.node), True)
        )

    async def CheckNode(
        self,
        request: nodes_pb2.CheckNodeRequest,
        context: ServicerContext[nodes_pb2.CheckNodeRequest, nodes_pb2.CheckNodeResponse],
    ) -> nodes_pb2.CheckNodeResponse:
        node, check = await self.nodes.check_node(require_caller(), request.node)
        return nodes_pb2.CheckNodeResponse(node=node_pb(node, True), check=check_pb(check))

    async def UpdateNode(
        self,
        request: nodes_pb2.UpdateNodeRequest,
        context: ServicerContext[nodes_pb2.UpdateNodeRequest, nodes_pb2.UpdateNodeResponse],
    ) -> nodes_pb2.UpdateNodeResponse:
        changes: dict[str, object] = {}
        for path in request.update_mask.paths:
            if path not in UPDATABLE:
                raise DomainError(Reason.INVALID_ARGUMENT, f"cannot update {path!r}", field="update_mask")
            changes[path] = getattr(request.changes, path)
        node, check = await self.nodes.update_node(require_caller(), request.node, changes)
        return nodes_pb2.UpdateNodeResponse(node=node_pb(node, True), check=check_pb(check))

    async def DeleteNode(
        self,
        request: nodes_pb2.DeleteNodeRequest,
        context: ServicerContext[nodes_pb2.DeleteNodeRequest, nodes_pb2.DeleteNodeResponse],
    ) -> nodes_pb2.DeleteNodeResponse:
        await self.nodes.delete_node(require_caller(), request.node)
        return nodes_pb2.DeleteNodeResponse()

    async def CreateRoot(
        self,
        request: nodes_pb2.CreateRootRequest,
        context: ServicerContext[nodes_pb2.CreateRootRequest, nodes_pb2.CreateRootResponse],
    ) -> nodes_pb2.CreateRootResponse:
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

    async def ListRoots(
        self,
        request: nodes_pb2.ListRootsRequest,
        context: ServicerContext[nodes_pb2.ListRootsRequest, nodes_pb2.ListRootsResponse],
    ) -> nodes_pb2.ListRootsResponse:
        page = await self.nodes.list_roots(
            require_caller(), request.node, PageRequest(request.page_size, request.page_token)
        )
        return nodes_pb2.ListRootsResponse(
            roots=[root_pb(r) for r in page.items], next_page_token=page.next_token
        )

    async def GetRoot(
        self,
        request: nodes_pb2.GetRootRequest,
        context: ServicerContext[nodes_pb2.GetRootRequest, nodes_pb2.GetRootResponse],
    ) -> nodes_pb2.GetRootResponse:
        require_caller()
        return nodes_pb2.GetRootResponse(root=root_pb(await self.nodes.get_root(request.root)))

    async def DeleteRoot(
        self,
        request: nodes_pb2.DeleteRootRequest,
        context: ServicerContext[nodes_pb2.DeleteRootRequest, nodes_pb2.DeleteRootResponse],
    ) -> nodes_pb2.DeleteRootResponse:
        await self.nodes.delete_root(require_caller(), request.root)
        return nodes_pb2.DeleteRootResponse()

    async def RotateHookToken(
        self,
        request: nodes_pb2.RotateHookTokenRequest,
        context: ServicerContext[nodes_pb2.RotateHookTokenRequest, nodes_pb2.RotateHookTokenResponse],
    ) -> nodes_pb2.RotateHookTokenResponse:
        node, token = await self.nodes.rotate_hook_token(require_caller(), request.node)
        return nodes_pb2.RotateHookTokenResponse(node_id=node.id, hook_token=token)


class NodesInternalApi(nodes_pb2_grpc.NodesInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, nodes: NodesService) -> None:
        self.nodes = nodes

    async def GetNodeAccess(
        self,
        request: nodes_pb2.GetNodeAccessRequest,
        context: ServicerContext[nodes_pb2.GetNodeAccessRequest, nodes_pb2.GetNodeAccessResponse],
    ) -> nodes_pb2.GetNodeAccessResponse:
        return nodes_pb2.GetNodeAccessResponse(
            access=access_pb(await self.nodes.node_access(request.node_id))
        )

    async def GetRootAccess(
        self,
        request: nodes_pb2.GetRootAccessRequest,
        context: ServicerContext[nodes_pb2.GetRootAccessRequest, nodes_pb2.GetRootAccessResponse],
    ) -> nodes_pb2.GetRootAccessResponse:
        root, node = await self.nodes.root_access(request.root_id)
        return nodes_pb2.GetRootAccessResponse(root=root_pb(root), access=access_pb(node))

    async def VerifyHookToken(
        self,
        request: nodes_pb2.VerifyHookTokenRequest,
        context: ServicerContext[nodes_pb2.VerifyHookTokenRequest, nodes_pb2.VerifyHookTokenResponse],
    ) -> nodes_pb2.VerifyHookTokenResponse:
        node_id = await self.nodes.verify_hook_token(request.node, request.token)
        return nodes_pb2.VerifyHookTokenResponse(valid=node_id is not None, node_id=node_id or "")
