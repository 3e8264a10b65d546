"""gRPC servicers for workspaces, shares, permissions and credentials: proto <-> domain only."""

from __future__ import annotations

from grpc.aio import ServicerContext

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.common.proto import timestamp
from services.workspaces.convert import (
    PERMISSIONS,
    accessible_pb,
    credential_set_pb,
    expiry_from,
    level_from,
    listing_grant_pb,
    location_pb,
    permission_pb,
    share_pb,
    type_from,
    workspace_pb,
)
from services.workspaces.domain.models import Level
from services.workspaces.domain.service import WorkspacesService
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

STS_TIME_METADATA = "wio-sts-ms"


class WorkspacesApi(workspaces_pb2_grpc.WorkspacesServiceServicer):
    def __init__(self, workspaces: WorkspacesService) -> None:
        self.workspaces = workspaces

    async def CreateWorkspace(
        self,
        request: workspaces_pb2.CreateWorkspaceRequest,
        context: ServicerContext[
            workspaces_pb2.CreateWorkspaceRequest, workspaces_pb2.CreateWorkspaceResponse
        ],
    ) -> workspaces_pb2.CreateWorkspaceResponse:
        kind = type_from(request.type, required=False) or "private"
        workspace, marker_pending = await self.workspaces.create_workspace(
            require_caller(), request.name, kind, request.node, request.root, request.prefix
        )
        return workspaces_pb2.CreateWorkspaceResponse(
            workspace=workspace_pb(workspace, Level.OWN), marker_pending=marker_pending
        )

    async def ListWorkspaces(
        self,
        request: workspaces_pb2.ListWorkspacesRequest,
        context: ServicerContext[workspaces_pb2.ListWorkspacesRequest, workspaces_pb2.ListWorkspacesResponse],
    ) -> workspaces_pb2.ListWorkspacesResponse:
        found = await self.workspaces.list_workspaces(
            require_caller(),
            request.owner,
            request.node,
            type_from(request.type, required=False),
            request.name_contains,
        )
        return workspaces_pb2.ListWorkspacesResponse(workspaces=[workspace_pb(w, d.level) for w, d in found])

    async def GetWorkspace(
        self,
        request: workspaces_pb2.GetWorkspaceRequest,
        context: ServicerContext[workspaces_pb2.GetWorkspaceRequest, workspaces_pb2.GetWorkspaceResponse],
    ) -> workspaces_pb2.GetWorkspaceResponse:
        resolved = await self.workspaces.get_workspace(require_caller(), request.workspace)
        return workspaces_pb2.GetWorkspaceResponse(
            workspace=workspace_pb(resolved.workspace, resolved.decision.level), path=resolved.path
        )

    async def DeleteWorkspace(
        self,
        request: workspaces_pb2.DeleteWorkspaceRequest,
        context: ServicerContext[
            workspaces_pb2.DeleteWorkspaceRequest, workspaces_pb2.DeleteWorkspaceResponse
        ],
    ) -> workspaces_pb2.DeleteWorkspaceResponse:
        deleted, pending = await self.workspaces.delete_workspace(
            require_caller(), request.workspace, request.force
        )
        return workspaces_pb2.DeleteWorkspaceResponse(objects_deleted=deleted, objects_pending=pending)

    async def CreateShare(
        self,
        request: workspaces_pb2.CreateShareRequest,
        context: ServicerContext[workspaces_pb2.CreateShareRequest, workspaces_pb2.CreateShareResponse],
    ) -> workspaces_pb2.CreateShareResponse:
        share, workspace = await self.workspaces.create_share(
            require_caller(),
            request.workspace,
            request.sharee.strip(),
            level_from(request.permission),
            expiry_from(request),
        )
        return workspaces_pb2.CreateShareResponse(share=share_pb(share, workspace))

    async def ListShares(
        self,
        request: workspaces_pb2.ListSharesRequest,
        context: ServicerContext[workspaces_pb2.ListSharesRequest, workspaces_pb2.ListSharesResponse],
    ) -> workspaces_pb2.ListSharesResponse:
        made, with_me = await self.workspaces.list_shares(require_caller(), request.workspace)
        return workspaces_pb2.ListSharesResponse(
            made=[share_pb(s, w) for s, w in made], with_me=[share_pb(s, w) for s, w in with_me]
        )

    async def UpdateShare(
        self,
        request: workspaces_pb2.UpdateShareRequest,
        context: ServicerContext[workspaces_pb2.UpdateShareRequest, workspaces_pb2.UpdateShareResponse],
    ) -> workspaces_pb2.UpdateShareResponse:
        paths = set(request.update_mask.paths)
        if not paths or paths - {"permission", "expires_at"}:
            raise DomainError(
                Reason.INVALID_ARGUMENT, "update permission and/or expires_at", field="update_mask"
            )
        level = level_from(request.permission) if "permission" in paths else None
        share, workspace = await self.workspaces.update_share(
            require_caller(),
            request.id,
            level,
            expiry_from(request),
            "expires_at" in paths,
        )
        return workspaces_pb2.UpdateShareResponse(share=share_pb(share, workspace))

    async def RevokeShare(
        self,
        request: workspaces_pb2.RevokeShareRequest,
        context: ServicerContext[workspaces_pb2.RevokeShareRequest, workspaces_pb2.RevokeShareResponse],
    ) -> workspaces_pb2.RevokeShareResponse:
        await self.workspaces.revoke_share(require_caller(), request.id)
        return workspaces_pb2.RevokeShareResponse()

    async def CheckPermission(
        self,
        request: workspaces_pb2.CheckPermissionRequest,
        context: ServicerContext[
            workspaces_pb2.CheckPermissionRequest, workspaces_pb2.CheckPermissionResponse
        ],
    ) -> workspaces_pb2.CheckPermissionResponse:
        decision = await self.workspaces.check_permission(
            require_caller(), request.workspace, request.username
        )
        return workspaces_pb2.CheckPermissionResponse(
            permission=permission_pb(decision.level), reason=decision.reason
        )

    async def ExplainPermission(
        self,
        request: workspaces_pb2.ExplainPermissionRequest,
        context: ServicerContext[
            workspaces_pb2.ExplainPermissionRequest, workspaces_pb2.ExplainPermissionResponse
        ],
    ) -> workspaces_pb2.ExplainPermissionResponse:
        wanted = level_from(request.wanted, "wanted") if request.wanted else Level.READ
        found = await self.workspaces.explain_permission(
            require_caller(), request.workspace, request.username, wanted
        )
        return workspaces_pb2.ExplainPermissionResponse(
            workspace=found.workspace.ref,
            username=found.username,
            permission=permission_pb(found.decision.level),
            allowed=found.allowed,
            summary=found.summary,
            factors=[
                workspaces_pb2.PermissionFactor(
                    permission=PERMISSIONS[f.level], reason=f.reason, active=f.active
                )
                for f in found.factors
            ],
        )

    async def ImportRoot(
        self,
        request: workspaces_pb2.ImportRootRequest,
        context: ServicerContext[workspaces_pb2.ImportRootRequest, workspaces_pb2.ImportRootResponse],
    ) -> workspaces_pb2.ImportRootResponse:
        result = await self.workspaces.import_root(require_caller(), request.root)
        return workspaces_pb2.ImportRootResponse(
            created=[workspace_pb(w, Level.OWN) for w in result.created],
            skipped=[workspaces_pb2.SkippedFolder(prefix=p, reason=r) for p, r in result.skipped],
            already_mapped=result.already_mapped,
        )

    async def CreateLink(
        self,
        request: workspaces_pb2.CreateLinkRequest,
        context: ServicerContext[workspaces_pb2.CreateLinkRequest, workspaces_pb2.CreateLinkResponse],
    ) -> workspaces_pb2.CreateLinkResponse:
        url, expires_at = await self.workspaces.create_link(
            require_caller(), request.object, request.expires_in_seconds
        )
        return workspaces_pb2.CreateLinkResponse(url=url, expires_at=timestamp(expires_at))

    async def IssueCredentials(
        self,
        request: workspaces_pb2.IssueCredentialsRequest,
        context: ServicerContext[
            workspaces_pb2.IssueCredentialsRequest, workspaces_pb2.IssueCredentialsResponse
        ],
    ) -> workspaces_pb2.IssueCredentialsResponse:
        sets = await self.workspaces.issue_credentials(
            require_caller(), list(request.workspaces), request.node
        )
        # Lets clients and benchmarks tell the node's STS time from wio's own.
        sts_ms = sum(s.sts_seconds for s in sets) * 1000
        context.set_trailing_metadata(((STS_TIME_METADATA, f"{sts_ms:.3f}"),))
        return workspaces_pb2.IssueCredentialsResponse(sets=[credential_set_pb(s) for s in sets])


class WorkspacesInternalApi(workspaces_pb2_grpc.WorkspacesInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, workspaces: WorkspacesService) -> None:
        self.workspaces = workspaces

    async def ListAccessibleWorkspaces(
        self,
        request: workspaces_pb2.ListAccessibleWorkspacesRequest,
        context: ServicerContext[
            workspaces_pb2.ListAccessibleWorkspacesRequest, workspaces_pb2.ListAccessibleWorkspacesResponse
        ],
    ) -> workspaces_pb2.ListAccessibleWorkspacesResponse:
        at_least = level_from(request.min_permission) if request.min_permission else Level.READ
        answer = await self.workspaces.accessible(request.user_id, at_least, request.known_revision)
        return workspaces_pb2.ListAccessibleWorkspacesResponse(
            workspaces=[accessible_pb(w, level) for w, level in answer.workspaces],
            revision=answer.revision,
            unchanged=answer.unchanged,
        )

    async def CountRootWorkspaces(
        self,
        request: workspaces_pb2.CountRootWorkspacesRequest,
        context: ServicerContext[
            workspaces_pb2.CountRootWorkspacesRequest, workspaces_pb2.CountRootWorkspacesResponse
        ],
    ) -> workspaces_pb2.CountRootWorkspacesResponse:
        return workspaces_pb2.CountRootWorkspacesResponse(
            count=await self.workspaces.count_in_root(request.root_id)
        )

    async def IssueListingCredentials(
        self,
        request: workspaces_pb2.IssueListingCredentialsRequest,
        context: ServicerContext[
            workspaces_pb2.IssueListingCredentialsRequest, workspaces_pb2.IssueListingCredentialsResponse
        ],
    ) -> workspaces_pb2.IssueListingCredentialsResponse:
        grant = await self.workspaces.listing_grant(
            require_caller(),
            request.root_id,
            request.workspace_id,
            request.on_behalf_of_user_id,
            request.on_behalf_of_admin,
        )
        return listing_grant_pb(grant)

    async def ListWorkspaceLocations(
        self,
        request: workspaces_pb2.ListWorkspaceLocationsRequest,
        context: ServicerContext[
            workspaces_pb2.ListWorkspaceLocationsRequest, workspaces_pb2.ListWorkspaceLocationsResponse
        ],
    ) -> workspaces_pb2.ListWorkspaceLocationsResponse:
        found = await self.workspaces.locations(request.node_id)
        return workspaces_pb2.ListWorkspaceLocationsResponse(workspaces=[location_pb(w) for w in found])
