"""The workspaces service's events, written to the outbox inside the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.common.proto import timestamp
from services.common.subjects import OutboxEvents, Subjects
from services.workspaces.convert import PERMISSIONS, TYPES
from services.workspaces.domain.models import Link, Share, Workspace
from wio.workspaces.v1 import events_pb2

WORKSPACE_CREATED = "wio.workspaces.workspace.created"
WORKSPACE_DELETED = "wio.workspaces.workspace.deleted"
WORKSPACE_PURGED = "wio.workspaces.workspace.purged"
SHARE_GRANTED = "wio.workspaces.share.granted"
SHARE_UPDATED = "wio.workspaces.share.updated"
SHARE_REVOKED = "wio.workspaces.share.revoked"
SHARE_SUBJECTS = {"granted": SHARE_GRANTED, "updated": SHARE_UPDATED, "revoked": SHARE_REVOKED}
CREDENTIALS_ISSUED = "wio.workspaces.credentials.issued"
ROOT_IMPORTED = "wio.workspaces.root.imported"
LINK_CREATED = "wio.workspaces.link.created"
LINK_REVOKED = "wio.workspaces.link.revoked"
LINK_SUBJECTS = {"created": LINK_CREATED, "revoked": LINK_REVOKED}

# Every subject this service publishes and its message type (docs/events.md is generated from it).
SUBJECTS: Subjects = {
    WORKSPACE_CREATED: events_pb2.WorkspaceCreatedEvent,
    WORKSPACE_DELETED: events_pb2.WorkspaceDeletedEvent,
    WORKSPACE_PURGED: events_pb2.WorkspacePurgedEvent,
    SHARE_GRANTED: events_pb2.ShareChangedEvent,
    SHARE_UPDATED: events_pb2.ShareChangedEvent,
    SHARE_REVOKED: events_pb2.ShareChangedEvent,
    CREDENTIALS_ISSUED: events_pb2.CredentialsIssuedEvent,
    ROOT_IMPORTED: events_pb2.RootImportedEvent,
    LINK_CREATED: events_pb2.LinkChangedEvent,
    LINK_REVOKED: events_pb2.LinkChangedEvent,
}


class OutboxWorkspacesEvents(OutboxEvents):
    subjects = SUBJECTS

    async def workspace_created(self, workspace: Workspace) -> None:
        event = events_pb2.WorkspaceCreatedEvent(
            workspace_id=workspace.id,
            name=workspace.name,
            owner_id=workspace.owner_id,
            node_id=workspace.node_id,
            bucket=workspace.bucket,
            prefix=workspace.prefix,
            type=TYPES[workspace.type],
        )
        await self.outbox.add(self.session, WORKSPACE_CREATED, event)

    async def workspace_deleted(self, workspace: Workspace) -> None:
        event = events_pb2.WorkspaceDeletedEvent(
            workspace_id=workspace.id, name=workspace.name, owner_id=workspace.owner_id
        )
        await self.outbox.add(self.session, WORKSPACE_DELETED, event)

    async def workspace_purged(self, workspace: Workspace) -> None:
        event = events_pb2.WorkspacePurgedEvent(
            workspace_id=workspace.id,
            name=workspace.name,
            owner_id=workspace.owner_id,
            node_id=workspace.node_id,
            bucket=workspace.bucket,
            prefix=workspace.prefix,
        )
        await self.outbox.add(self.session, WORKSPACE_PURGED, event)

    async def share_changed(self, verb: str, share: Share) -> None:
        event = events_pb2.ShareChangedEvent(
            share_id=share.id,
            workspace_id=share.workspace_id,
            sharee_kind=share.sharee_kind,
            sharee_id=share.sharee_id,
            permission=PERMISSIONS[share.level],
            expires_at=timestamp(share.expires_at),
        )
        await self.outbox.add(self.session, SHARE_SUBJECTS[verb], event)

    async def credentials_issued(
        self, user_id: str, node_id: str, workspace_ids: list[str], expires_at: float, access_key: str
    ) -> None:
        event = events_pb2.CredentialsIssuedEvent(
            user_id=user_id,
            node_id=node_id,
            workspace_ids=workspace_ids,
            expires_at=timestamp(datetime.fromtimestamp(expires_at, UTC)),
            access_key=access_key,
        )
        await self.outbox.add(self.session, CREDENTIALS_ISSUED, event)

    async def root_imported(self, root_id: str, node_id: str, workspace_ids: Sequence[str]) -> None:
        event = events_pb2.RootImportedEvent(root_id=root_id, node_id=node_id, workspace_ids=workspace_ids)
        await self.outbox.add(self.session, ROOT_IMPORTED, event)

    async def link_changed(self, verb: str, link: Link) -> None:
        event = events_pb2.LinkChangedEvent(
            link_id=link.id,
            workspace_id=link.workspace_id,
            creator_id=link.creator_id,
            path=link.path,
            expires_at=timestamp(link.expires_at),
        )
        await self.outbox.add(self.session, LINK_SUBJECTS[verb], event)
