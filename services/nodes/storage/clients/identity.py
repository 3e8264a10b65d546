"""The identity service as the node rules see it: names of allowed creators."""

from __future__ import annotations

from services.common.clients import AuthClient
from services.nodes.domain.models import Creator


class AuthDirectory:
    def __init__(self, auth: AuthClient) -> None:
        self.auth = auth

    async def user(self, username: str) -> Creator:
        user = await self.auth.lookup_user(username)
        return Creator("user", str(user.id), str(user.username))

    async def group(self, name: str) -> Creator:
        group = await self.auth.get_group(name)
        return Creator("group", str(group.id), str(group.name))
