"""The identity service against real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.grpc_errors import error_reason
from services.common.identity import Caller
from services.common.tokens import issue_token
from tests.conftest import AuthUnderTest
from wio.auth.v1 import auth_pb2, events_pb2

pytestmark = pytest.mark.integration


async def expect_error(call: Any, code: grpc.StatusCode, reason: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    assert error_reason(info.value) == reason
    return info.value


async def test_whoami_with_exchanged_token(auth: AuthUnderTest) -> None:
    user, key = await auth.new_user("who")
    response = await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=await auth.as_key(key))
    assert response.user.username == user.username
    assert response.user.role == auth_pb2.ROLE_USER
    assert response.user.email == user.email


async def test_calls_without_token_are_refused(auth: AuthUnderTest) -> None:
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest()), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"
    )
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=(("authorization", "Bearer not-a-jwt"),)),
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    )


async def test_malformed_and_unknown_api_keys_are_refused(auth: AuthUnderTest) -> None:
    for bad in ["", "garbage", "wio_", "wio_nosuchkeyid_secret", auth.admin_key + "x"]:
        await expect_error(
            auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=bad)),
            grpc.StatusCode.UNAUTHENTICATED,
            "API_KEY_INVALID",
        )


async def test_token_signed_by_another_key_is_refused(auth: AuthUnderTest) -> None:
    user, key = await auth.new_user("forge")
    real = await auth.token(key)
    kid = jwt.get_unverified_header(real)["kid"]
    caller = Caller(user_id=user.id, username=user.username, role="admin")
    # Same key id, wrong private key: the signature does not verify.
    forged, _ = issue_token(Ed25519PrivateKey.generate(), kid, caller, 900)
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(forged)),
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    )
    # A key id auth never published.
    stranger, _ = issue_token(Ed25519PrivateKey.generate(), "not-a-wio-key", caller, 900)
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(stranger)),
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    )
    # The alg=none trick.
    unsigned = jwt.encode(
        {"sub": user.id, "role": "admin"},
        key=None,  # type: ignore[arg-type]
        algorithm="none",
        headers={"kid": kid},
    )
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(unsigned)),
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    )


async def test_expired_token_is_refused(auth: AuthUnderTest) -> None:
    user, _key = await auth.new_user("late")
    caller = Caller(user_id=user.id, username=user.username, role="user")
    expired, _ = auth.identity.keyring.sign(caller, -60)
    await expect_error(
        auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(expired)),
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    )


async def test_disabled_user_key_refused_at_once_and_token_within_bound(
    auth: AuthUnderTest, events: Any
) -> None:
    watcher = await events("wio.auth.user.>")
    user, key = await auth.new_user("gone")
    token = await auth.token(key)
    await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(token))

    admin = await auth.as_key(auth.admin_key)
    response = await auth.stub.DisableUser(
        auth_pb2.DisableUserRequest(username=user.username), metadata=admin
    )
    assert response.user.disabled

    # The key stops working at once.
    await expect_error(
        auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=key)),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_INVALID",
    )
    # Auth itself refuses the outstanding token at once (it reads its own users table) ...
    started = time.monotonic()
    error = await expect_error_any(auth, token)
    assert error in {"USER_DISABLED", "TOKEN_REVOKED"}
    # ... and the local deny list, fed by the wio.auth.user.disabled event that every service consumes,
    # refuses it well within the token lifetime.
    while error != "TOKEN_REVOKED" and time.monotonic() - started < 15:
        await asyncio.sleep(0.1)
        error = await expect_error_any(auth, token)
    assert error == "TOKEN_REVOKED"
    assert auth.runtime.deny_list.users >= {user.id}
    disabled = await watcher.wait_for(
        "wio.auth.user.disabled", events_pb2.UserDisabledEvent.FromString, user_id=user.id
    )
    assert len(disabled) == 1
    assert disabled[0].meta.actor.username != ""


async def expect_error_any(auth: AuthUnderTest, token: str) -> str | None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth.bearer(token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return error_reason(info.value)


async def test_revoked_api_key_is_refused(auth: AuthUnderTest, events: Any) -> None:
    watcher = await events("wio.auth.apikey.>")
    _user, key = await auth.new_user("rev")
    md = await auth.as_key(key)
    created = await auth.stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="laptop"), metadata=md)
    second = created.secret
    assert second.startswith("wio_") and created.api_key.prefix in second
    await auth.token(second)

    listed = await auth.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=md)
    names = {k.name for k in listed.api_keys}
    assert names == {"initial", "laptop"}
    assert all(second not in str(k) for k in listed.api_keys)
    laptop = next(k for k in listed.api_keys if k.name == "laptop")
    assert laptop.HasField("last_used_at")

    revoked = await auth.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=md)
    assert revoked.api_key.revoked
    await expect_error(
        auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=second)),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_INVALID",
    )
    # The first key still works.
    await auth.token(key)
    found = await watcher.wait_for(
        "wio.auth.apikey.revoked", events_pb2.ApiKeyRevokedEvent.FromString, api_key_id=created.api_key.id
    )
    assert len(found) == 1


async def test_someone_elses_key_cannot_be_revoked(auth: AuthUnderTest) -> None:
    _a, key_a = await auth.new_user("owner")
    _b, key_b = await auth.new_user("other")
    keys_a = await auth.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=await auth.as_key(key_a))
    await expect_error(
        auth.stub.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=keys_a.api_keys[0].id), metadata=await auth.as_key(key_b)
        ),
        grpc.StatusCode.NOT_FOUND,
        "API_KEY_NOT_FOUND",
    )
    await auth.token(key_a)


async def test_api_key_expiry(auth: AuthUnderTest) -> None:
    _user, key = await auth.new_user("exp")
    md = await auth.as_key(key)
    past = Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    await expect_error(
        auth.stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="old", expires_at=past), metadata=md),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_EXPIRY",
    )
    # Room for the calls before the expiry on a busy machine; the wait after it is what is left of it.
    end = datetime.now(UTC) + timedelta(seconds=6)
    soon = Timestamp()
    soon.FromDatetime(end)
    created = await auth.stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="brief", expires_at=soon), metadata=md
    )
    await auth.token(created.secret)
    await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 0.5)
    await expect_error(
        auth.stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=created.secret)),
        grpc.StatusCode.UNAUTHENTICATED,
        "API_KEY_INVALID",
    )


@pytest.mark.parametrize(
    ("username", "email", "code", "reason"),
    [
        ("Alice", "ok@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("-dash", "ok@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("a" * 64, "ok@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("", "ok@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("has space", "ok@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("fine-name", "not-an-email", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_EMAIL"),
        ("fine-name", "", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_EMAIL"),
        ("fine-name", "two@@example.org", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_EMAIL"),
    ],
)
async def test_bad_user_input_changes_nothing(
    auth: AuthUnderTest, username: str, email: str, code: grpc.StatusCode, reason: str
) -> None:
    admin = await auth.as_key(auth.admin_key)
    before = await auth.stub.ListUsers(auth_pb2.ListUsersRequest(include_disabled=True), metadata=admin)
    await expect_error(
        auth.stub.CreateUser(auth_pb2.CreateUserRequest(username=username, email=email), metadata=admin),
        code,
        reason,
    )
    after = await auth.stub.ListUsers(auth_pb2.ListUsersRequest(include_disabled=True), metadata=admin)
    assert [u.id for u in after.users] == [u.id for u in before.users]


async def test_duplicates_are_refused_and_change_nothing(auth: AuthUnderTest, events: Any) -> None:
    watcher = await events("wio.auth.user.created")
    admin = await auth.as_key(auth.admin_key)
    user, _key = await auth.new_user("dup")
    before = await auth.stub.ListUsers(auth_pb2.ListUsersRequest(include_disabled=True), metadata=admin)
    await expect_error(
        auth.stub.CreateUser(
            auth_pb2.CreateUserRequest(username=user.username, email="other@example.org"), metadata=admin
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "USERNAME_TAKEN",
    )
    await expect_error(
        auth.stub.CreateUser(
            auth_pb2.CreateUserRequest(username=f"x{uuid.uuid4().hex[:8]}", email=user.email.upper()),
            metadata=admin,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "EMAIL_TAKEN",
    )
    after = await auth.stub.ListUsers(auth_pb2.ListUsersRequest(include_disabled=True), metadata=admin)
    assert [u.id for u in after.users] == [u.id for u in before.users]
    await asyncio.sleep(1)
    created = watcher.matching("wio.auth.user.created", events_pb2.UserCreatedEvent.FromString)
    assert [e.username for e in created] == [user.username]


async def test_non_admin_cannot_list_create_or_disable_users(auth: AuthUnderTest) -> None:
    victim, _ = await auth.new_user("victim")
    _user, key = await auth.new_user("plain")
    md = await auth.as_key(key)
    await expect_error(
        auth.stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=md),
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
    )
    await expect_error(
        auth.stub.DisableUser(auth_pb2.DisableUserRequest(username=victim.username), metadata=md),
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
    )
    await expect_error(
        auth.stub.CreateUser(
            auth_pb2.CreateUserRequest(username="sneaky", email="s@example.org"), metadata=md
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
    )
    # Other users' details stay hidden; lookup answers public fields only.
    await expect_error(
        auth.stub.GetUser(auth_pb2.GetUserRequest(username=victim.username), metadata=md),
        grpc.StatusCode.NOT_FOUND,
        "USER_NOT_FOUND",
    )
    found = await auth.stub.LookupUser(auth_pb2.LookupUserRequest(query=victim.email), metadata=md)
    assert found.user.username == victim.username and found.user.email == ""
    admin = await auth.as_key(auth.admin_key)
    still = await auth.stub.GetUser(auth_pb2.GetUserRequest(username=victim.username), metadata=admin)
    assert not still.user.disabled


async def test_groups_membership_rules_and_events(auth: AuthUnderTest, events: Any) -> None:
    watcher = await events("wio.auth.group.>")
    creator, creator_key = await auth.new_user("lead")
    member, member_key = await auth.new_user("member")
    outsider, outsider_key = await auth.new_user("outsider")
    c = await auth.as_key(creator_key)
    name = f"lab-{uuid.uuid4().hex[:8]}"

    await expect_error(
        auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name="Bad Group"), metadata=c),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_GROUP_NAME",
    )
    group = (await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=name), metadata=c)).group
    await expect_error(
        auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=name), metadata=c),
        grpc.StatusCode.ALREADY_EXISTS,
        "GROUP_NAME_TAKEN",
    )
    added = await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=name, username=member.username), metadata=c
    )
    assert list(added.group.members) == [member.username]
    await expect_error(
        auth.stub.AddGroupMember(
            auth_pb2.AddGroupMemberRequest(group=name, username=member.username), metadata=c
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_MEMBER",
    )
    # Neither a member nor an outsider manages the group.
    for key in (member_key, outsider_key):
        await expect_error(
            auth.stub.AddGroupMember(
                auth_pb2.AddGroupMemberRequest(group=name, username=outsider.username),
                metadata=await auth.as_key(key),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            "PERMISSION_DENIED",
        )
    await expect_error(
        auth.stub.DeleteGroup(
            auth_pb2.DeleteGroupRequest(name=name), metadata=await auth.as_key(outsider_key)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(
        auth.stub.AddGroupMember(
            auth_pb2.AddGroupMemberRequest(group=name, username="nobody-here"), metadata=c
        ),
        grpc.StatusCode.NOT_FOUND,
        "USER_NOT_FOUND",
    )
    await expect_error(
        auth.stub.AddGroupMember(
            auth_pb2.AddGroupMemberRequest(group="no-such-group", username=member.username), metadata=c
        ),
        grpc.StatusCode.NOT_FOUND,
        "GROUP_NOT_FOUND",
    )
    mine = await auth.stub.ListGroups(
        auth_pb2.ListGroupsRequest(mine=True), metadata=await auth.as_key(member_key)
    )
    assert [g.name for g in mine.groups] == [name]
    # An admin manages any group.
    admin = await auth.as_key(auth.admin_key)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=name, username=outsider.username), metadata=admin
    )
    removed = await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=name, username=outsider.username), metadata=c
    )
    assert list(removed.group.members) == [member.username]
    await expect_error(
        auth.stub.RemoveGroupMember(
            auth_pb2.RemoveGroupMemberRequest(group=name, username=outsider.username), metadata=c
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_A_MEMBER",
    )
    await auth.stub.DeleteGroup(auth_pb2.DeleteGroupRequest(name=name), metadata=c)
    await expect_error(
        auth.stub.GetGroup(auth_pb2.GetGroupRequest(name=name), metadata=c),
        grpc.StatusCode.NOT_FOUND,
        "GROUP_NOT_FOUND",
    )

    added_events = await watcher.wait_for(
        "wio.auth.group.member_added", events_pb2.GroupMemberAddedEvent.FromString, group_id=group.id
    )
    deleted = await watcher.wait_for(
        "wio.auth.group.deleted", events_pb2.GroupDeletedEvent.FromString, group_id=group.id
    )
    await asyncio.sleep(0.5)
    added_events = watcher.matching(
        "wio.auth.group.member_added", events_pb2.GroupMemberAddedEvent.FromString, group_id=group.id
    )
    removed_events = watcher.matching(
        "wio.auth.group.member_removed", events_pb2.GroupMemberRemovedEvent.FromString, group_id=group.id
    )
    assert sorted(e.username for e in added_events) == sorted([member.username, outsider.username])
    assert [e.username for e in removed_events] == [outsider.username]
    assert len(deleted) == 1 and list(deleted[0].member_user_ids) == [member.id]
    assert {e.meta.event_id for e in added_events} and all(
        e.meta.HasField("occurred_at") for e in added_events
    )
    assert creator.id  # the creator made every change above except the admin's add


async def test_internal_rpcs_refuse_users_and_answer_services(auth: AuthUnderTest) -> None:
    user, key = await auth.new_user("inner")
    await expect_error(
        auth.internal.ListUserGroups(
            auth_pb2.ListUserGroupsRequest(user_id=user.id), metadata=await auth.as_key(key)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_CALLER_REQUIRED",
    )
    await expect_error(
        auth.internal.ListUserGroups(
            auth_pb2.ListUserGroupsRequest(user_id=user.id), metadata=await auth.as_key(auth.admin_key)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_CALLER_REQUIRED",
    )
    _svc, service_key = await auth.identity.bootstrap_account(
        f"svc-workspaces-{uuid.uuid4().hex[:8]}", None, "service", True
    )
    assert service_key is not None
    md = await auth.as_key(service_key)
    groups = await auth.internal.ListUserGroups(auth_pb2.ListUserGroupsRequest(user_id=user.id), metadata=md)
    assert list(groups.groups) == []
    users = await auth.internal.BatchGetUsers(
        auth_pb2.BatchGetUsersRequest(user_ids=[user.id, "not-a-uuid"]), metadata=md
    )
    assert [u.username for u in users.users] == [user.username]
    # A bad id is just not found, never an internal error.
    none = await auth.internal.ListUserGroups(auth_pb2.ListUserGroupsRequest(user_id="garbage"), metadata=md)
    assert list(none.groups) == []


async def test_jwks_and_directory_are_public(auth: AuthUnderTest) -> None:
    jwks = await auth.stub.GetJwks(auth_pb2.GetJwksRequest())
    assert jwks.keys and all(k.kty == "OKP" and k.crv == "Ed25519" and k.alg == "EdDSA" for k in jwks.keys)
    directory = await auth.stub.GetServiceDirectory(auth_pb2.GetServiceDirectoryRequest())
    assert {s.name: s.address for s in directory.services}["nodes"] == "127.0.0.1:1"


async def test_request_id_is_echoed(auth: AuthUnderTest) -> None:
    """In the trailers, of an answer and of a refusal; a call without one gets one made for it."""
    call = auth.stub.GetJwks(auth_pb2.GetJwksRequest(), metadata=(("x-request-id", "trace-123"),))
    await call
    assert ("x-request-id", "trace-123") in tuple(await call.trailing_metadata())
    refused = auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=(("x-request-id", "trace-456"),))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await refused
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    trailers = tuple(caught.value.trailing_metadata() or ())
    assert ("x-request-id", "trace-456") in trailers
    assert any(key == "grpc-status-details-bin" for key, _value in trailers)  # the ErrorInfo is kept
    made = auth.stub.GetJwks(auth_pb2.GetJwksRequest())
    await made
    assert len(dict(tuple(await made.trailing_metadata()))["x-request-id"]) == 32
