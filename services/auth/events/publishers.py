"""Auth's events, written to the outbox inside the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Sequence

from services.auth.convert import ROLES
from services.auth.domain.models import ApiKey, Group, User
from services.common.subjects import OutboxEvents, Subjects
from wio.auth.v1 import events_pb2

USER_CREATED = "wio.auth.user.created"
USER_DISABLED = "wio.auth.user.disabled"
GROUP_MEMBER_ADDED = "wio.auth.group.member_added"
GROUP_MEMBER_REMOVED = "wio.auth.group.member_removed"
GROUP_DELETED = "wio.auth.group.deleted"
APIKEY_REVOKED = "wio.auth.apikey.revoked"

# Every subject this service publishes and its message type (docs/events.md is generated from it).
SUBJECTS: Subjects = {
    USER_CREATED: events_pb2.UserCreatedEvent,
    USER_DISABLED: events_pb2.UserDisabledEvent,
    GROUP_MEMBER_ADDED: events_pb2.GroupMemberAddedEvent,
    GROUP_MEMBER_REMOVED: events_pb2.GroupMemberRemovedEvent,
    GROUP_DELETED: events_pb2.GroupDeletedEvent,
    APIKEY_REVOKED: events_pb2.ApiKeyRevokedEvent,
}


class OutboxIdentityEvents(OutboxEvents):
    """Membership events are published before the change is acknowledged: the workspaces service's copy
    of memberships relies on finding every acknowledged change in the stream."""

    subjects = SUBJECTS

    async def user_created(self, user: User) -> None:
        event = events_pb2.UserCreatedEvent(user_id=user.id, username=user.username, role=ROLES[user.role])
        await self.outbox.add(self.session, USER_CREATED, event)

    async def user_disabled(self, user: User) -> None:
        event = events_pb2.UserDisabledEvent(user_id=user.id, username=user.username)
        await self.outbox.add(self.session, USER_DISABLED, event)

    async def member_added(self, group: Group, user: User) -> None:
        event = events_pb2.GroupMemberAddedEvent(
            group_id=group.id, group_name=group.name, user_id=user.id, username=user.username
        )
        await self.outbox.add(self.session, GROUP_MEMBER_ADDED, event, before_reply=True)

    async def member_removed(self, group: Group, user: User) -> None:
        event = events_pb2.GroupMemberRemovedEvent(
            group_id=group.id, group_name=group.name, user_id=user.id, username=user.username
        )
        await self.outbox.add(self.session, GROUP_MEMBER_REMOVED, event, before_reply=True)

    async def group_deleted(self, group: Group, member_ids: Sequence[str]) -> None:
        event = events_pb2.GroupDeletedEvent(
            group_id=group.id, group_name=group.name, member_user_ids=member_ids
        )
        await self.outbox.add(self.session, GROUP_DELETED, event, before_reply=True)

    async def api_key_revoked(self, key: ApiKey) -> None:
        event = events_pb2.ApiKeyRevokedEvent(api_key_id=key.id, user_id=key.user_id)
        await self.outbox.add(self.session, APIKEY_REVOKED, event)
