"""SQL implementation of the identity repository, and the transaction that ties it to the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.domain.models import ApiKey, Group, SigningKey, User
from services.auth.events.publishers import OutboxIdentityEvents
from services.auth.storage import tables as t
from services.common.db import SessionFactory, execute_unique
from services.common.errors import DomainError, Reason
from services.common.keyset import keyset
from services.common.outbox import Outbox
from services.common.pages import SortKey
from services.common.secrets import SecretBox
from services.common.unit_of_work import SqlTransactions, is_uuid


def _user(row: Any) -> User:
    return User(
        id=str(row.id),
        username=row.username,
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=str(row.user_id),
        name=row.name,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class SqlIdentityRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.s = session
        self.box = box

    # users
    async def add_user(self, user: User) -> None:
        def taken(constraint: str) -> DomainError:
            if "email" in constraint:
                return DomainError(Reason.EMAIL_TAKEN, f"email {user.email!r} is already in use")
            return DomainError(Reason.USERNAME_TAKEN, f"username {user.username!r} is taken")

        await execute_unique(
            self.s,
            insert(t.users).values(
                id=user.id,
                username=user.username,
                email=user.email,
                display_name=user.display_name,
                role=user.role,
                created_at=user.created_at,
                disabled_at=user.disabled_at,
            ),
            taken,
        )

    async def _one_user(self, *where: Any) -> User | None:
        row = (await self.s.execute(select(t.users).where(*where))).first()
        return _user(row) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        if not is_uuid(user_id):
            return None
        return await self._one_user(t.users.c.id == user_id)

    async def user_by_username(self, username: str) -> User | None:
        return await self._one_user(t.users.c.username == username)

    async def user_by_email(self, email: str) -> User | None:
        return await self._one_user(t.users.c.email == email)

    async def users_by_ids(self, user_ids: Sequence[str]) -> list[User]:
        valid = [u for u in user_ids if is_uuid(u)]
        if not valid:
            return []
        rows = (await self.s.execute(select(t.users).where(t.users.c.id.in_(valid)))).all()
        return [_user(r) for r in rows]

    async def page_users(self, include_disabled: bool, after: SortKey | None, limit: int) -> list[User]:
        query = select(t.users).where(t.users.c.role != "service")
        if not include_disabled:
            query = query.where(t.users.c.disabled_at.is_(None))
        order = (t.users.c.created_at, t.users.c.id)
        return [_user(r) for r in (await self.s.execute(keyset(query, order, after, limit))).all()]

    async def set_disabled(self, user_id: str, at: datetime) -> User:
        row = (
            await self.s.execute(
                update(t.users).where(t.users.c.id == user_id).values(disabled_at=at).returning(*t.users.c)
            )
        ).one()
        return _user(row)

    # groups
    async def add_group(self, group: Group) -> None:
        await execute_unique(
            self.s,
            insert(t.groups).values(
                id=group.id,
                name=group.name,
                description=group.description,
                created_by=group.created_by,
                created_at=group.created_at,
            ),
            lambda _: DomainError(Reason.GROUP_NAME_TAKEN, f"group {group.name!r} exists"),
        )

    def _group_query(self) -> Any:
        count = (
            select(func.count())
            .select_from(t.group_members)
            .where(t.group_members.c.group_id == t.groups.c.id)
            .scalar_subquery()
        )
        return select(t.groups, count.label("member_count")).order_by(t.groups.c.created_at)

    def _group(self, row: Any, members: Sequence[str] = ()) -> Group:
        return Group(
            id=str(row.id),
            name=row.name,
            description=row.description,
            created_by=str(row.created_by),
            created_at=row.created_at,
            members=tuple(members),
            member_count=int(row.member_count),
        )

    async def group_by_name(self, name: str) -> Group | None:
        row = (await self.s.execute(self._group_query().where(t.groups.c.name == name))).first()
        if row is None:
            return None
        members = (
            await self.s.execute(
                select(t.users.c.username)
                .join(t.group_members, t.group_members.c.user_id == t.users.c.id)
                .where(t.group_members.c.group_id == row.id)
                .order_by(t.users.c.username)
            )
        ).scalars()
        return self._group(row, list(members))

    async def page_groups(self, related_to: str | None, after: SortKey | None, limit: int) -> list[Group]:
        query = self._group_query().order_by(None)
        if related_to is not None:
            member_of = select(t.group_members.c.group_id).where(t.group_members.c.user_id == related_to)
            query = query.where(or_(t.groups.c.created_by == related_to, t.groups.c.id.in_(member_of)))
        order = (t.groups.c.created_at, t.groups.c.id)
        return [self._group(r) for r in (await self.s.execute(keyset(query, order, after, limit))).all()]

    async def groups_of_user(self, user_id: str) -> list[Group]:
        if not is_uuid(user_id):
            return []
        member_of = select(t.group_members.c.group_id).where(t.group_members.c.user_id == user_id)
        rows = (await self.s.execute(self._group_query().where(t.groups.c.id.in_(member_of)))).all()
        return [self._group(r) for r in rows]

    async def delete_group(self, group_id: str) -> list[str]:
        members = (
            await self.s.execute(
                select(t.group_members.c.user_id).where(t.group_members.c.group_id == group_id)
            )
        ).scalars()
        member_ids = [str(m) for m in members]
        await self.s.execute(delete(t.groups).where(t.groups.c.id == group_id))
        return member_ids

    async def add_member(self, group_id: str, user_id: str, at: datetime) -> bool:
        result = await self.s.execute(
            pg_insert(t.group_members)
            .values(group_id=group_id, user_id=user_id, added_at=at)
            .on_conflict_do_nothing()
            .returning(t.group_members.c.user_id)
        )
        return result.first() is not None

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        result = await self.s.execute(
            delete(t.group_members)
            .where(t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id)
            .returning(t.group_members.c.user_id)
        )
        return result.first() is not None

    # API keys
    async def add_api_key(self, key: ApiKey) -> None:
        await self.s.execute(
            insert(t.api_keys).values(
                id=key.id,
                user_id=key.user_id,
                name=key.name,
                secret_hash=key.secret_hash,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
        )

    async def api_key(self, key_id: str) -> ApiKey | None:
        row = (await self.s.execute(select(t.api_keys).where(t.api_keys.c.id == key_id))).first()
        return _key(row) if row else None

    async def page_api_keys(self, user_id: str, after: SortKey | None, limit: int) -> list[ApiKey]:
        query = select(t.api_keys).where(t.api_keys.c.user_id == user_id)
        order = (t.api_keys.c.created_at, t.api_keys.c.id)
        return [_key(r) for r in (await self.s.execute(keyset(query, order, after, limit))).all()]

    async def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        row = (
            await self.s.execute(
                update(t.api_keys)
                .where(t.api_keys.c.id == key_id)
                .values(revoked_at=at)
                .returning(*t.api_keys.c)
            )
        ).one()
        return _key(row)

    async def touch_api_key(self, key_id: str, at: datetime) -> None:
        await self.s.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=at))

    # signing keys
    async def signing_keys(self) -> list[SigningKey]:
        rows = (await self.s.execute(select(t.signing_keys).order_by(t.signing_keys.c.created_at))).all()
        return [SigningKey(r.kid, self.box.open(r.private_key_sealed), r.created_at) for r in rows]

    async def add_signing_key(self, key: SigningKey) -> None:
        await self.s.execute(
            insert(t.signing_keys).values(
                kid=key.kid, private_key_sealed=self.box.seal(key.private_pem), created_at=key.created_at
            )
        )


def transactions(
    sessions: SessionFactory, outbox: Outbox, box: SecretBox, reads: SessionFactory
) -> SqlTransactions[SqlIdentityRepository, OutboxIdentityEvents]:
    return SqlTransactions(
        sessions, outbox, lambda session: SqlIdentityRepository(session, box), OutboxIdentityEvents, reads
    )
