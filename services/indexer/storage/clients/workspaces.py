"""The workspaces service as the indexer's rules see them (WorkspacesDirectory, over gRPC with the
indexer's service token): who can read what, list-only credentials, and where workspaces live."""

from __future__ import annotations

from datetime import UTC

import grpc

from services.common.clients import CALL_TIMEOUT_SECONDS, AuthClient
from services.common.grpc_errors import callee_errors
from services.indexer.domain.models import Location
from services.indexer.domain.ports import Accessible, ListingGrant
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc


def location_from(found: workspaces_pb2.WorkspaceLocation | workspaces_pb2.AccessibleWorkspace) -> Location:
    return Location(
        workspace_id=found.workspace_id,
        root_id=found.root_id,
        node_id=found.node_id,
        bucket=found.bucket,
        prefix=found.prefix,
        owner_id=found.owner_id,
        owner_username=found.owner_username,
        name=found.name,
        node_name=found.node_name,
    )


def grant_from(response: workspaces_pb2.IssueListingCredentialsResponse) -> ListingGrant:
    return ListingGrant(
        node_id=response.node_id,
        node_name=response.node_name,
        endpoint=response.endpoint,
        region=response.region,
        access_key=response.access_key,
        secret_key=response.secret_key,
        session_token=response.session_token,
        expires_at=response.expires_at.ToDatetime(tzinfo=UTC),
        bucket=response.bucket,
        prefix=response.prefix,
        root_id=response.root_id,
        locations=tuple(location_from(w) for w in response.workspaces),
    )


class WorkspacesClient:
    def __init__(self, channel: grpc.aio.Channel, auth: AuthClient) -> None:
        self.internal = workspaces_pb2_grpc.WorkspacesInternalServiceStub(channel)
        self.auth = auth

    async def accessible(self, user_id: str, known_revision: str) -> Accessible | None:
        """The workspaces the user can read; None when `known_revision` is still current."""
        metadata = await self.auth.call_metadata()
        with callee_errors("workspaces"):
            response = await self.internal.ListAccessibleWorkspaces(
                workspaces_pb2.ListAccessibleWorkspacesRequest(
                    user_id=user_id,
                    min_permission=workspaces_pb2.PERMISSION_READ,
                    known_revision=known_revision,
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        if response.unchanged:
            return None
        return Accessible(response.revision, tuple(location_from(w) for w in response.workspaces))

    async def listing_grant(
        self, root_id: str, workspace_id: str, on_behalf_of: str, admin: bool
    ) -> ListingGrant:
        metadata = await self.auth.call_metadata()
        with callee_errors("workspaces"):
            response = await self.internal.IssueListingCredentials(
                workspaces_pb2.IssueListingCredentialsRequest(
                    root_id=root_id,
                    workspace_id=workspace_id,
                    on_behalf_of_user_id=on_behalf_of,
                    on_behalf_of_admin=admin,
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return grant_from(response)

    async def locations(self, node_id: str) -> list[Location]:
        metadata = await self.auth.call_metadata()
        with callee_errors("workspaces"):
            response = await self.internal.ListWorkspaceLocations(
                workspaces_pb2.ListWorkspaceLocationsRequest(node_id=node_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return [location_from(w) for w in response.workspaces]
