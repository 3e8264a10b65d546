"""The workspaces service as the node rules see it: how many workspaces a root holds."""

from __future__ import annotations

import grpc

from services.common.clients import CALL_TIMEOUT_SECONDS, AuthClient
from services.common.grpc_errors import callee_errors
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc


class WorkspacesUsage:
    """How many workspaces a root holds, from the workspaces service."""

    def __init__(self, channel: grpc.aio.Channel, auth: AuthClient) -> None:
        self.stub = workspaces_pb2_grpc.WorkspacesInternalServiceStub(channel)
        self.auth = auth

    async def workspaces_in(self, root_id: str) -> int:
        metadata = await self.auth.call_metadata()
        with callee_errors("workspaces"):
            response = await self.stub.CountRootWorkspaces(
                workspaces_pb2.CountRootWorkspacesRequest(root_id=root_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return int(response.count)
