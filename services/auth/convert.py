"""Identity's proto <-> domain tables and converters, shared by its servicers and its event publishers."""

from __future__ import annotations

from services.auth.domain.models import ApiKey, Group, User
from services.common.proto import timestamp
from wio.auth.v1 import auth_pb2

ROLES: dict[str, auth_pb2.Role.ValueType] = {
    "user": auth_pb2.ROLE_USER,
    "admin": auth_pb2.ROLE_ADMIN,
    "service": auth_pb2.ROLE_SERVICE,
}
ROLE_NAMES: dict[auth_pb2.Role.ValueType, str] = {v: k for k, v in ROLES.items()}


def user_pb(user: User, public_only: bool = False) -> auth_pb2.User:
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


def group_pb(group: Group) -> auth_pb2.Group:
    return auth_pb2.Group(
        id=group.id,
        name=group.name,
        description=group.description,
        created_by=group.created_by,
        created_at=timestamp(group.created_at),
        members=list(group.members),
        member_count=group.member_count,
    )


def key_pb(key: ApiKey) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=timestamp(key.created_at),
        expires_at=timestamp(key.expires_at),
        last_used_at=timestamp(key.last_used_at),
        revoked=key.revoked_at is not None,
    )
