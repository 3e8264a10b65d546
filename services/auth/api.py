"""gRPC servicers for identity: proto <-> domain only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

from services.auth.domain.models import ApiKey, Group, User
from services.auth.domain.service import IdentityService
from services.auth.events.publishers import ROLES
from services.common.identity import require_caller
from services.common.proto import timestamp
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

ROLE_NAMES = {v: k for k, v in ROLES.items()}
Ctx: TypeAlias = Any  # grpc ships no type information


def user_pb(user: User, public_only: bool = False) -> Any:
    msg = auth_pb2.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=ROLES[user.role],
        disabled=user.disabled,
        created_at=timestamp(user.created_at),
        disabled_at=timestamp(user.disabled_at),
    )
    if not public_only and user.email:
        msg.email = user.email
    return msg


def group_pb(group: Group) -> Any:
    return auth_pb2.Group(
        id=group.id,
        name=group.name,
        description=group.description,
        created_by=group.created_by,
        created_at=timestamp(group.created_at),
        members=list(group.members),
        member_count=group.member_count,
    )


def key_pb(key: ApiKey) -> Any:
    return auth_pb2.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=timestamp(key.created_at),
        expires_at=timestamp(key.expires_at),
        last_used_at=timestamp(key.last_used_at),
        revoked=key.revoked_at is not None,
    )


class AuthApi(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, identity: IdentityService, directory: dict[str, str]) -> None:
        self.identity = identity
        self.directory = directory

    async def ExchangeApiKey(self, request: Any, context: Ctx) -> Any:
        token, expires = await self.identity.exchange_api_key(request.api_key)
        return auth_pb2.ExchangeApiKeyResponse(
            access_token=token,
            expires_at=timestamp(datetime.fromtimestamp(expires, UTC)),
            token_type="Bearer",
        )

    async def GetJwks(self, request: Any, context: Ctx) -> Any:
        return auth_pb2.GetJwksResponse(keys=[auth_pb2.Jwk(**k) for k in self.identity.keyring.jwks()])

    async def GetServiceDirectory(self, request: Any, context: Ctx) -> Any:
        return auth_pb2.GetServiceDirectoryResponse(
            services=[auth_pb2.ServiceEndpoint(name=n, address=a) for n, a in sorted(self.directory.items())]
        )

    async def WhoAmI(self, request: Any, context: Ctx) -> Any:
        return auth_pb2.WhoAmIResponse(user=user_pb(await self.identity.whoami(require_caller())))

    async def CreateUser(self, request: Any, context: Ctx) -> Any:
        user, key, secret = await self.identity.create_user(
            require_caller(),
            request.username,
            request.email,
            request.display_name,
            ROLE_NAMES.get(request.role, ""),
        )
        return auth_pb2.CreateUserResponse(user=user_pb(user), api_key=key_pb(key), api_key_secret=secret)

    async def ListUsers(self, request: Any, context: Ctx) -> Any:
        users = await self.identity.list_users(require_caller(), request.include_disabled)
        return auth_pb2.ListUsersResponse(users=[user_pb(u) for u in users])

    async def GetUser(self, request: Any, context: Ctx) -> Any:
        return auth_pb2.GetUserResponse(
            user=user_pb(await self.identity.get_user(require_caller(), request.username))
        )

    async def LookupUser(self, request: Any, context: Ctx) -> Any:
        user = await self.identity.lookup_user(require_caller(), request.query)
        return auth_pb2.LookupUserResponse(user=user_pb(user, public_only=True))

    async def DisableUser(self, request: Any, context: Ctx) -> Any:
        user = await self.identity.disable_user(require_caller(), request.username)
        return auth_pb2.DisableUserResponse(user=user_pb(user))

    async def CreateGroup(self, request: Any, context: Ctx) -> Any:
        group = await self.identity.create_group(require_caller(), request.name, request.description)
        return auth_pb2.CreateGroupResponse(group=group_pb(group))

    async def ListGroups(self, request: Any, context: Ctx) -> Any:
        groups = await self.identity.list_groups(require_caller(), request.mine)
        return auth_pb2.ListGroupsResponse(groups=[group_pb(g) for g in groups])

    async def GetGroup(self, request: Any, context: Ctx) -> Any:
        return auth_pb2.GetGroupResponse(
            group=group_pb(await self.identity.get_group(require_caller(), request.name))
        )

    async def DeleteGroup(self, request: Any, context: Ctx) -> Any:
        await self.identity.delete_group(require_caller(), request.name)
        return auth_pb2.DeleteGroupResponse()

    async def AddGroupMember(self, request: Any, context: Ctx) -> Any:
        group = await self.identity.add_member(require_caller(), request.group, request.username)
        return auth_pb2.AddGroupMemberResponse(group=group_pb(group))

    async def RemoveGroupMember(self, request: Any, context: Ctx) -> Any:
        group = await self.identity.remove_member(require_caller(), request.group, request.username)
        return auth_pb2.RemoveGroupMemberResponse(group=group_pb(group))

    async def CreateApiKey(self, request: Any, context: Ctx) -> Any:
        expires = request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None
        key, secret = await self.identity.create_api_key(require_caller(), request.name, expires)
        return auth_pb2.CreateApiKeyResponse(api_key=key_pb(key), secret=secret)

    async def ListApiKeys(self, request: Any, context: Ctx) -> Any:
        keys = await self.identity.list_api_keys(require_caller())
        return auth_pb2.ListApiKeysResponse(api_keys=[key_pb(k) for k in keys])

    async def RevokeApiKey(self, request: Any, context: Ctx) -> Any:
        key = await self.identity.revoke_api_key(require_caller(), request.id)
        return auth_pb2.RevokeApiKeyResponse(api_key=key_pb(key))


class AuthInternalApi(auth_pb2_grpc.AuthInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity

    async def ListUserGroups(self, request: Any, context: Ctx) -> Any:
        groups = await self.identity.groups_of_user(request.user_id)
        return auth_pb2.ListUserGroupsResponse(groups=[group_pb(g) for g in groups])

    async def BatchGetUsers(self, request: Any, context: Ctx) -> Any:
        users = await self.identity.users_by_ids(list(request.user_ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_pb(u, public_only=True) for u in users])


PUBLIC_METHODS = (
    "/wio.auth.v1.AuthService/ExchangeApiKey",
    "/wio.auth.v1.AuthService/GetJwks",
    "/wio.auth.v1.AuthService/GetServiceDirectory",
)
