"""gRPC servicers for identity: proto <-> domain only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from grpc.aio import ServicerContext

from services.auth.convert import ROLE_NAMES, group_pb, key_pb, user_pb
from services.auth.domain.service import IdentityService
from services.common.callers import CLIENT_ADDRESS_KEY, forwards_addresses
from services.common.identity import current_caller, require_caller
from services.common.pages import PageRequest
from services.common.proto import time_from, timestamp
from wio.auth.v1 import auth_pb2, auth_pb2_grpc


def client_address(context: ServicerContext[Any, Any]) -> str:
    """The caller's address without its port ("ipv4:10.0.0.7", "ipv6:[::1]"), as gRPC saw the peer; for
    a call forwarded by the HTTP gateway (its service token on the call), the HTTP client's address."""
    caller = current_caller()
    if caller is not None and caller.is_service and forwards_addresses(caller.username):
        for key, value in context.invocation_metadata() or ():
            if key == CLIENT_ADDRESS_KEY and value:
                text = value if isinstance(value, str) else value.decode(errors="replace")
                return f"via-gateway:{text[:64]}"
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind in {"ipv4", "ipv6"}:
        return f"{kind}:{rest.rpartition(':')[0] or rest}"
    return peer


class AuthApi(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, identity: IdentityService, directory: dict[str, str]) -> None:
        self.identity = identity
        self.directory = directory

    async def ExchangeApiKey(
        self,
        request: auth_pb2.ExchangeApiKeyRequest,
        context: ServicerContext[auth_pb2.ExchangeApiKeyRequest, auth_pb2.ExchangeApiKeyResponse],
    ) -> auth_pb2.ExchangeApiKeyResponse:
        token, expires = await self.identity.exchange_api_key(request.api_key, client_address(context))
        return auth_pb2.ExchangeApiKeyResponse(
            access_token=token,
            expires_at=timestamp(datetime.fromtimestamp(expires, UTC)),
            token_type="Bearer",
        )

    async def GetJwks(
        self,
        request: auth_pb2.GetJwksRequest,
        context: ServicerContext[auth_pb2.GetJwksRequest, auth_pb2.GetJwksResponse],
    ) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(keys=[auth_pb2.Jwk(**k) for k in self.identity.keyring.jwks()])

    async def GetServiceDirectory(
        self,
        request: auth_pb2.GetServiceDirectoryRequest,
        context: ServicerContext[auth_pb2.GetServiceDirectoryRequest, auth_pb2.GetServiceDirectoryResponse],
    ) -> auth_pb2.GetServiceDirectoryResponse:
        return auth_pb2.GetServiceDirectoryResponse(
            services=[auth_pb2.ServiceEndpoint(name=n, address=a) for n, a in sorted(self.directory.items())]
        )

    async def WhoAmI(
        self,
        request: auth_pb2.WhoAmIRequest,
        context: ServicerContext[auth_pb2.WhoAmIRequest, auth_pb2.WhoAmIResponse],
    ) -> auth_pb2.WhoAmIResponse:
        return auth_pb2.WhoAmIResponse(user=user_pb(await self.identity.whoami(require_caller())))

    async def CreateUser(
        self,
        request: auth_pb2.CreateUserRequest,
        context: ServicerContext[auth_pb2.CreateUserRequest, auth_pb2.CreateUserResponse],
    ) -> auth_pb2.CreateUserResponse:
        user, key, secret = await self.identity.create_user(
            require_caller(),
            request.username,
            request.email,
            request.display_name,
            ROLE_NAMES.get(request.role, ""),
        )
        return auth_pb2.CreateUserResponse(user=user_pb(user), api_key=key_pb(key), api_key_secret=secret)

    async def ListUsers(
        self,
        request: auth_pb2.ListUsersRequest,
        context: ServicerContext[auth_pb2.ListUsersRequest, auth_pb2.ListUsersResponse],
    ) -> auth_pb2.ListUsersResponse:
        page = await self.identity.list_users(
            require_caller(), request.include_disabled, PageRequest(request.page_size, request.page_token)
        )
        return auth_pb2.ListUsersResponse(
            users=[user_pb(u) for u in page.items], next_page_token=page.next_token
        )

    async def GetUser(
        self,
        request: auth_pb2.GetUserRequest,
        context: ServicerContext[auth_pb2.GetUserRequest, auth_pb2.GetUserResponse],
    ) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(
            user=user_pb(await self.identity.get_user(require_caller(), request.username))
        )

    async def LookupUser(
        self,
        request: auth_pb2.LookupUserRequest,
        context: ServicerContext[auth_pb2.LookupUserRequest, auth_pb2.LookupUserResponse],
    ) -> auth_pb2.LookupUserResponse:
        user = await self.identity.lookup_user(require_caller(), request.query)
        return auth_pb2.LookupUserResponse(user=user_pb(user, public_only=True))

    async def DisableUser(
        self,
        request: auth_pb2.DisableUserRequest,
        context: ServicerContext[auth_pb2.DisableUserRequest, auth_pb2.DisableUserResponse],
    ) -> auth_pb2.DisableUserResponse:
        user = await self.identity.disable_user(require_caller(), request.username)
        return auth_pb2.DisableUserResponse(user=user_pb(user))

    async def CreateGroup(
        self,
        request: auth_pb2.CreateGroupRequest,
        context: ServicerContext[auth_pb2.CreateGroupRequest, auth_pb2.CreateGroupResponse],
    ) -> auth_pb2.CreateGroupResponse:
        group = await self.identity.create_group(require_caller(), request.name, request.description)
        return auth_pb2.CreateGroupResponse(group=group_pb(group))

    async def ListGroups(
        self,
        request: auth_pb2.ListGroupsRequest,
        context: ServicerContext[auth_pb2.ListGroupsRequest, auth_pb2.ListGroupsResponse],
    ) -> auth_pb2.ListGroupsResponse:
        page = await self.identity.list_groups(
            require_caller(), request.mine, PageRequest(request.page_size, request.page_token)
        )
        return auth_pb2.ListGroupsResponse(
            groups=[group_pb(g) for g in page.items], next_page_token=page.next_token
        )

    async def GetGroup(
        self,
        request: auth_pb2.GetGroupRequest,
        context: ServicerContext[auth_pb2.GetGroupRequest, auth_pb2.GetGroupResponse],
    ) -> auth_pb2.GetGroupResponse:
        return auth_pb2.GetGroupResponse(
            group=group_pb(await self.identity.get_group(require_caller(), request.name))
        )

    async def DeleteGroup(
        self,
        request: auth_pb2.DeleteGroupRequest,
        context: ServicerContext[auth_pb2.DeleteGroupRequest, auth_pb2.DeleteGroupResponse],
    ) -> auth_pb2.DeleteGroupResponse:
        await self.identity.delete_group(require_caller(), request.name)
        return auth_pb2.DeleteGroupResponse()

    async def AddGroupMember(
        self,
        request: auth_pb2.AddGroupMemberRequest,
        context: ServicerContext[auth_pb2.AddGroupMemberRequest, auth_pb2.AddGroupMemberResponse],
    ) -> auth_pb2.AddGroupMemberResponse:
        group = await self.identity.add_member(require_caller(), request.group, request.username)
        return auth_pb2.AddGroupMemberResponse(group=group_pb(group))

    async def RemoveGroupMember(
        self,
        request: auth_pb2.RemoveGroupMemberRequest,
        context: ServicerContext[auth_pb2.RemoveGroupMemberRequest, auth_pb2.RemoveGroupMemberResponse],
    ) -> auth_pb2.RemoveGroupMemberResponse:
        group = await self.identity.remove_member(require_caller(), request.group, request.username)
        return auth_pb2.RemoveGroupMemberResponse(group=group_pb(group))

    async def CreateApiKey(
        self,
        request: auth_pb2.CreateApiKeyRequest,
        context: ServicerContext[auth_pb2.CreateApiKeyRequest, auth_pb2.CreateApiKeyResponse],
    ) -> auth_pb2.CreateApiKeyResponse:
        expires = time_from(request.expires_at, "expires_at") if request.HasField("expires_at") else None
        key, secret = await self.identity.create_api_key(require_caller(), request.name, expires)
        return auth_pb2.CreateApiKeyResponse(api_key=key_pb(key), secret=secret)

    async def ListApiKeys(
        self,
        request: auth_pb2.ListApiKeysRequest,
        context: ServicerContext[auth_pb2.ListApiKeysRequest, auth_pb2.ListApiKeysResponse],
    ) -> auth_pb2.ListApiKeysResponse:
        page = await self.identity.list_api_keys(
            require_caller(), PageRequest(request.page_size, request.page_token)
        )
        return auth_pb2.ListApiKeysResponse(
            api_keys=[key_pb(k) for k in page.items], next_page_token=page.next_token
        )

    async def RevokeApiKey(
        self,
        request: auth_pb2.RevokeApiKeyRequest,
        context: ServicerContext[auth_pb2.RevokeApiKeyRequest, auth_pb2.RevokeApiKeyResponse],
    ) -> auth_pb2.RevokeApiKeyResponse:
        key = await self.identity.revoke_api_key(require_caller(), request.id)
        return auth_pb2.RevokeApiKeyResponse(api_key=key_pb(key))


class AuthInternalApi(auth_pb2_grpc.AuthInternalServiceServicer):
    """Reached only by service callers (the auth interceptor refuses users on *InternalService)."""

    def __init__(self, identity: IdentityService) -> None:
        self.identity = identity

    async def ListUserGroups(
        self,
        request: auth_pb2.ListUserGroupsRequest,
        context: ServicerContext[auth_pb2.ListUserGroupsRequest, auth_pb2.ListUserGroupsResponse],
    ) -> auth_pb2.ListUserGroupsResponse:
        groups = await self.identity.groups_of_user(request.user_id)
        return auth_pb2.ListUserGroupsResponse(groups=[group_pb(g) for g in groups])

    async def BatchGetUsers(
        self,
        request: auth_pb2.BatchGetUsersRequest,
        context: ServicerContext[auth_pb2.BatchGetUsersRequest, auth_pb2.BatchGetUsersResponse],
    ) -> auth_pb2.BatchGetUsersResponse:
        users = await self.identity.users_by_ids(list(request.user_ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_pb(u, public_only=True) for u in users])


PUBLIC_METHODS = (
    "/wio.auth.v1.AuthService/ExchangeApiKey",
    "/wio.auth.v1.AuthService/GetJwks",
    "/wio.auth.v1.AuthService/GetServiceDirectory",
)
