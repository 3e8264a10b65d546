"""The identity service as the workspace rules see it (gRPC with this service's token)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc

from services.common.clients import CALL_TIMEOUT_SECONDS, AuthClient
from services.common.errors import DomainError, Reason
from services.common.grpc_errors import callee_errors
from wio.auth.v1 import auth_pb2, auth_pb2_grpc


class IdentityClient:
    def __init__(self, auth: AuthClient, channel: grpc.aio.Channel) -> None:
        self.auth = auth
        self.internal = auth_pb2_grpc.AuthInternalServiceStub(channel)

    async def groups(self, user_id: str) -> dict[str, str]:
        # Auth's answer as it is now; the membership copy (events/memberships.py) keeps it only while it
        # can show that no later change was acknowledged.
        metadata = await self.auth.call_metadata()
        with callee_errors("identity"):
            response = await self.internal.ListUserGroups(
                auth_pb2.ListUserGroupsRequest(user_id=user_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return {g.id: g.name for g in response.groups}

    async def user(self, username: str) -> tuple[str, str]:
        user = await self.auth.lookup_user(username)
        return str(user.id), str(user.username)

    async def existing(self, names: Sequence[str]) -> set[str]:
        """Usernames are looked up one by one, concurrently; a match by email does not count."""

        async def exists(name: str) -> bool:
            try:
                user = await self.auth.lookup_user(name)
            except DomainError as error:
                if error.reason == Reason.USER_NOT_FOUND:
                    return False
                raise
            return str(user.username) == name

        found = await asyncio.gather(*(exists(name) for name in names))
        return {name for name, yes in zip(names, found, strict=True) if yes}

    async def enabled(self, user_id: str) -> bool:
        metadata = await self.auth.call_metadata()
        with callee_errors("identity"):
            response = await self.internal.BatchGetUsers(
                auth_pb2.BatchGetUsersRequest(user_ids=[user_id]),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return any(u.id == user_id and not u.disabled for u in response.users)

    async def group(self, name: str) -> tuple[str, str]:
        group = await self.auth.get_group(name)
        return str(group.id), str(group.name)
