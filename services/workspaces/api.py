"""gRPC servicers for workspaces, shares, permissions and credentials: proto <-> domain only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.common.proto import timestamp
from services.workspaces.domain.models import Decision, Level, Share, Workspace
from services.workspaces.domain.service import WorkspacesService
from services.workspaces.events.publishers import PERMISSIONS, TYPES
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

Ctx: TypeAlias = Any  # grpc ships no type information

STS_TIME_METADATA = "wio-sts-ms"
TYPE_NAMES: dict[int, str] = {int(v): k for k, v in TYPES.items()}
LEVELS: dict[int, Level] = {int(v): k for k, v in PERMISSIONS.items()}


def workspace_pb(workspace: Workspace, level: Level = Level.NONE) -> Any:
    return workspaces_pb2.Workspace(
        id=workspace.id,
        name=workspace.name,
        owner_id=workspace.owner_id,
        owner_username=workspace.owner_username,
        type=TYPES[workspace.type],
        node_id=workspace.node_id,
        node_name=workspace.node_name,
        root_id=workspace.root_id,
        bucket=workspace.bucket,
        prefix=workspace.prefix,
        created_at=timestamp(workspace.created_at),
        permission=PERMISSIONS.get(level, workspaces_pb2.PERMISSION_UNSPECIFIED),
    )


def share_pb(share: Share, workspace: Workspace) -> Any:
    return workspaces_pb2.Share(
        id=share.id,
        workspace_id=share.workspace_id,
        workspace=workspace.ref,
        sharee=share.sharee_label,
        permission=PERMISSIONS[share.level],
        expires_at=timestamp(share.expires_at),
        created_by=share.created_by,
        created_at=timestamp(share.created_at),
    )


def _level(value: int, field: str = "permission") -> Level:
    if value not in LEVELS:
        raise DomainError(Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field=field)
    return LEVELS[value]


def _type(value: int, required: bool) -> str:
    if value == workspaces_pb2.WORKSPACE_TYPE_UNSPECIFIED and not required:
        return ""
    if value not in TYPE_NAMES:
        raise DomainError(Reason.INVALID_ARGUMENT, "type must be private, public or unmanaged", field="type")
    return TYPE_NAMES[value]


def _expiry(request: Any) -> datetime | None:
    return request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None


def decision_pb(decision: Decision) -> Any:
    return workspaces_pb2.CheckPermissionResponse(
        permission=PERMISSIONS.get(decision.level, workspaces_pb2.PERMISSION_UNSPECIFIED),
        reason=decision.reason,
    )


class WorkspacesApi(workspaces_pb2_grpc.WorkspacesServiceServicer):
    def __init__(self, workspaces: WorkspacesService) -> None:
        self.workspaces = workspaces

    async def CreateWorkspace(self, request: Any, context: Ctx) -> Any:
        kind = _type(request.type, required=False) or "private"
        workspace = await self.workspaces.create_workspace(
            require_caller(), request.name, kind, request.node, request.root, request.prefix
        )
        return workspaces_pb2.CreateWorkspaceResponse(workspace=workspace_pb(workspace, Level.OWN))

    async def ListWorkspaces(self, request: Any, context: Ctx) -> Any:
        found = await self.workspaces.list_workspaces(
            require_caller(), request.owner, request.node, _type(request.type, False), request.name_contains
        )
        return workspaces_pb2.ListWorkspacesResponse(workspaces=[workspace_pb(w, d.level) for w, d in found])

    async def GetWorkspace(self, request: Any, context: Ctx) -> Any:
        resolved = await self.workspaces.get_workspace(require_caller(), request.workspace)
        return workspaces_pb2.GetWorkspaceResponse(
            workspace=workspace_pb(resolved.workspace, resolved.decision.level), path=resolved.path
        )

    async def DeleteWorkspace(self, request: Any, context: Ctx) -> Any:
        deleted = await self.workspaces.delete_workspace(require_caller(), request.workspace, request.force)
        return workspaces_pb2.DeleteWorkspaceResponse(objects_deleted=deleted)

    async def CreateShare(self, request: Any, context: Ctx) -> Any:
        share, workspace = await self.workspaces.create_share(
            require_caller(),
            request.workspace,
            request.sharee.strip(),
            _level(request.permission),
            _expiry(request),
        )
        return workspaces_pb2.CreateShareResponse(share=share_pb(share, workspace))

    async def ListShares(self, request: Any, context: Ctx) -> Any:
        made, with_me = await self.workspaces.list_shares(require_caller(), request.workspace)
        return workspaces_pb2.ListSharesResponse(
            made=[share_pb(s, w) for s, w in made], with_me=[share_pb(s, w) for s, w in with_me]
        )

    async def UpdateShare(self, request: Any, context: Ctx) -> Any:
        paths = set(request.update_mask.paths)
        if not paths or paths - {"permission", "expires_at"}:
            raise DomainError(
                Reason.INVALID_ARGUMENT, "update permission and/or expires_at", field="update_mask"
            )
        level = _level(request.permission) if "permission" in paths else None
        share, workspace = await self.workspaces.update_share(
            require_caller(), request.id, level, _expiry(request), "expires_at" in paths
        )
        return workspaces_pb2.UpdateShareResponse(share=share_pb(share, workspace))

    async def RevokeShare(self, request: Any, context: Ctx) -> Any:
        await self.workspaces.revoke_share(require_caller(), request.id)
        return workspaces_pb2.RevokeShareResponse()

    async def CheckPermission(self, request: Any, context: Ctx) -> Any:
        decision = await self.workspaces.check_permission(
            require_caller(), request.workspace, request.username
        )
        return decision_pb(decision)

    async def ExplainPermission(self, request: Any, context: Ctx) -> Any:
        wanted = _level(request.wanted, "wanted") if request.wanted else Level.READ
        found = await self.workspaces.explain_permission(
            require_caller(), request.workspace, request.username, wanted
        )
        return workspaces_pb2.ExplainPermissionResponse(
            workspace=found.workspace.ref,
            username=found.username,
            permission=PERMISSIONS.get(found.decision.level, workspaces_pb2.PERMISSION_UNSPECIFIED),
            allowed=found.allowed,
            summary=found.summary,
            factors=[
                workspaces_pb2.PermissionFactor(
                    permission=PERMISSIONS[f.level], reason=f.reason, active=f.active
                )
                for f in found.factors
            ],
        )

    async def ImportRoot(self, request: Any, context: Ctx) -> Any:
        result = await self.workspaces.import_root(require_caller(), request.root)
        return workspaces_pb2.ImportRootResponse(
            created=[workspace_pb(w, Level.OWN) for w in result.created],
            skipped=[workspaces_pb2.SkippedFolder(prefix=p, reason=r) for p, r in result.skipped],
            already_mapped=result.already_mapped,
        )

    async def CreateLink(self, request: Any, context: Ctx) -> Any:
        url, expires_at = await self.workspaces.create_link(
            require_caller(), request.object, request.expires_in_seconds
        )
        return workspaces_pb2.CreateLinkResponse(url=url, expires_at=timestamp(expires_at))

    async def IssueCredentials(self, request: Any, context: Ctx) -> Any:
        sets = await self.workspaces.issue_credentials(
            require_caller(), list(request.workspaces), request.node
        )
        # Lets clients and benchmarks tell the node's STS time from wio's own.
        sts_ms = sum(s.sts_seconds for s in sets) * 1000
        context.set_trailing_metadata(((STS_TIME_METADATA, f"{sts_ms:.3f}"),))
        return workspaces_pb2.IssueCredentialsResponse(
            sets=[
                workspaces_pb2.CredentialSet(
                    node_id=s.node.node_id,
                    node_name=s.node_name,
                    endpoint=s.node.endpoint,
                    region=s.node.region,
                    access_key=s.credentials.access_key,
                    secret_key=s.credentials.secret_key,
                    session_token=s.credentials.session_token,
                    expires_at=timestamp(datetime.fromtimestamp(s.credentials.expires_at, UTC)),
                    scopes=[
                        workspaces_pb2.CredentialScope(
                            workspace=w.ref, bucket=w.bucket, prefix=w.prefix, permission=PERMISSIONS[level]
                        )
                        for w, level in s.scopes
                    ],
                )
                for s in sets
            ]
        )


class WorkspacesInternalApi(workspaces_pb2_grpc.WorkspacesInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, workspaces: WorkspacesService) -> None:
        self.workspaces = workspaces

    async def ListAccessibleWorkspaces(self, request: Any, context: Ctx) -> Any:
        at_least = _level(request.min_permission) if request.min_permission else Level.READ
        found = await self.workspaces.accessible(request.user_id, at_least)
        return workspaces_pb2.ListAccessibleWorkspacesResponse(
            workspaces=[
                workspaces_pb2.AccessibleWorkspace(
                    workspace_id=w.id,
                    node_id=w.node_id,
                    bucket=w.bucket,
                    prefix=w.prefix,
                    permission=PERMISSIONS[level],
                )
                for w, level in found
            ]
        )

    async def CountRootWorkspaces(self, request: Any, context: Ctx) -> Any:
        return workspaces_pb2.CountRootWorkspacesResponse(
            count=await self.workspaces.count_in_root(request.root_id)
        )
