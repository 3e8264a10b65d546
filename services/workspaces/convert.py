"""The workspaces service's proto <-> domain tables and converters, shared by its servicers and its event
publishers."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.proto import time_from, timestamp
from services.workspaces.domain.models import Level, Link, Share, Workspace
from services.workspaces.domain.service import CredentialSet, ListingGrant
from wio.workspaces.v1 import workspaces_pb2

PERMISSIONS: dict[Level, workspaces_pb2.Permission.ValueType] = {
    Level.READ: workspaces_pb2.PERMISSION_READ,
    Level.READWRITE: workspaces_pb2.PERMISSION_READWRITE,
    Level.OWN: workspaces_pb2.PERMISSION_OWN,
}
LEVELS: dict[workspaces_pb2.Permission.ValueType, Level] = {v: k for k, v in PERMISSIONS.items()}
TYPES: dict[str, workspaces_pb2.WorkspaceType.ValueType] = {
    "private": workspaces_pb2.WORKSPACE_TYPE_PRIVATE,
    "public": workspaces_pb2.WORKSPACE_TYPE_PUBLIC,
    "unmanaged": workspaces_pb2.WORKSPACE_TYPE_UNMANAGED,
}
TYPE_NAMES: dict[workspaces_pb2.WorkspaceType.ValueType, str] = {v: k for k, v in TYPES.items()}


def permission_pb(level: Level) -> workspaces_pb2.Permission.ValueType:
    """A level as the proto enum; no permission at all is PERMISSION_UNSPECIFIED."""
    return PERMISSIONS.get(level, workspaces_pb2.PERMISSION_UNSPECIFIED)


def level_from(value: workspaces_pb2.Permission.ValueType, field: str = "permission") -> Level:
    if value not in LEVELS:
        raise DomainError(Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field=field)
    return LEVELS[value]


def type_from(value: workspaces_pb2.WorkspaceType.ValueType, required: bool) -> str:
    """A workspace type's name; "" for an unset type when none is required."""
    if value == workspaces_pb2.WORKSPACE_TYPE_UNSPECIFIED and not required:
        return ""
    if value not in TYPE_NAMES:
        raise DomainError(Reason.INVALID_ARGUMENT, "type must be private, public or unmanaged", field="type")
    return TYPE_NAMES[value]


def expiry_from(
    request: workspaces_pb2.CreateShareRequest | workspaces_pb2.UpdateShareRequest,
) -> datetime | None:
    """A share's expiry as asked; None when the request sets none."""
    return time_from(request.expires_at, "expires_at") if request.HasField("expires_at") else None


def workspace_pb(workspace: Workspace, level: Level = Level.NONE) -> workspaces_pb2.Workspace:
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
        permission=permission_pb(level),
    )


def share_pb(share: Share, workspace: Workspace) -> workspaces_pb2.Share:
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


def link_pb(link: Link) -> workspaces_pb2.Link:
    """Never the secret: it exists only in CreateLink's answer."""
    return workspaces_pb2.Link(
        id=link.id,
        object=link.object_ref,
        workspace_id=link.workspace_id,
        creator_id=link.creator_id,
        creator=link.creator_username,
        created_at=timestamp(link.created_at),
        expires_at=timestamp(link.expires_at),
        revoked_at=timestamp(link.revoked_at),
    )


def credential_set_pb(issued: CredentialSet) -> workspaces_pb2.CredentialSet:
    return workspaces_pb2.CredentialSet(
        node_id=issued.node.node_id,
        node_name=issued.node_name,
        endpoint=issued.node.endpoint,
        region=issued.node.region,
        access_key=issued.credentials.access_key,
        secret_key=issued.credentials.secret_key,
        session_token=issued.credentials.session_token,
        expires_at=timestamp(datetime.fromtimestamp(issued.credentials.expires_at, UTC)),
        scopes=[
            workspaces_pb2.CredentialScope(
                workspace=w.ref, bucket=w.bucket, prefix=w.prefix, permission=PERMISSIONS[level]
            )
            for w, level in issued.scopes
        ],
    )


def accessible_pb(workspace: Workspace, level: Level) -> workspaces_pb2.AccessibleWorkspace:
    return workspaces_pb2.AccessibleWorkspace(
        workspace_id=workspace.id,
        node_id=workspace.node_id,
        bucket=workspace.bucket,
        prefix=workspace.prefix,
        permission=PERMISSIONS[level],
        owner_username=workspace.owner_username,
        name=workspace.name,
        node_name=workspace.node_name,
        root_id=workspace.root_id,
        owner_id=workspace.owner_id,
    )


def location_pb(workspace: Workspace) -> workspaces_pb2.WorkspaceLocation:
    return workspaces_pb2.WorkspaceLocation(
        workspace_id=workspace.id,
        root_id=workspace.root_id,
        node_id=workspace.node_id,
        bucket=workspace.bucket,
        prefix=workspace.prefix,
        owner_id=workspace.owner_id,
        owner_username=workspace.owner_username,
        name=workspace.name,
        node_name=workspace.node_name,
    )


def listing_grant_pb(grant: ListingGrant) -> workspaces_pb2.IssueListingCredentialsResponse:
    return workspaces_pb2.IssueListingCredentialsResponse(
        node_id=grant.node.node_id,
        node_name=grant.node_name,
        endpoint=grant.node.endpoint,
        region=grant.node.region,
        access_key=grant.credentials.access_key,
        secret_key=grant.credentials.secret_key,
        session_token=grant.credentials.session_token,
        expires_at=timestamp(datetime.fromtimestamp(grant.credentials.expires_at, UTC)),
        bucket=grant.bucket,
        prefix=grant.prefix,
        root_id=grant.root_id,
        workspaces=[location_pb(w) for w in grant.workspaces],
    )
