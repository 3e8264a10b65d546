"""The identity use cases. Every rule about users, groups and keys is decided here."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from services.auth.domain import apikeys, rules
from services.auth.domain.guard import FailureLimiter, KeyChecker
from services.auth.domain.keyring import KeyRing
from services.auth.domain.models import ApiKey, Group, User
from services.auth.domain.ports import IdentityRepository, Transactions
from services.common.errors import DomainError, Reason
from services.common.identity import ROLE_ADMIN, ROLE_SERVICE, ROLE_USER, Caller
from services.common.pages import Page, PageRequest, PageTokens, page_limit

ASSIGNABLE_ROLES = (ROLE_USER, ROLE_ADMIN)


def _now() -> datetime:
    return datetime.now(UTC)


class IdentityService:
    def __init__(
        self,
        transactions: Transactions,
        keyring: KeyRing,
        token_ttl_seconds: int,
        checker: KeyChecker,
        limiter: FailureLimiter,
        *,
        page_secret: str,
    ) -> None:
        self._tx = transactions
        self._tokens = {
            name: PageTokens(page_secret, f"wio.auth.v1.{rpc}")
            for name, rpc in (("users", "ListUsers"), ("groups", "ListGroups"), ("api_keys", "ListApiKeys"))
        }
        self.keyring = keyring
        self.token_ttl_seconds = token_ttl_seconds
        self.checker = checker
        self.limiter = limiter

    # --- tokens ---------------------------------------------------------------------------------------

    async def exchange_api_key(self, api_key: str, client: str) -> tuple[str, float]:
        """A token for a valid key. `client` is the caller's address: failures are limited per key id
        and address. The argon2 check runs on the checker's threads and outside any transaction."""
        key_id, _secret = apikeys.split_api_key(api_key)
        # Counted as a failure unless it succeeds below.
        self.limiter.attempt(key_id, client)
        key = await self._tx.read(lambda repo: repo.api_key(key_id))
        now = _now()
        if key is None or not key.usable_at(now) or not await self.checker.matches(api_key, key.secret_hash):
            raise DomainError(Reason.API_KEY_INVALID, "API key refused")
        async with self._tx() as tx:
            user = await tx.repo.user_by_id(key.user_id)
            if user is None or user.disabled:
                raise DomainError(Reason.API_KEY_INVALID, "API key refused")
            # Revoked meanwhile (between the read and this transaction): refused all the same.
            current = await tx.repo.api_key(key.id)
            if current is None or not current.usable_at(now):
                raise DomainError(Reason.API_KEY_INVALID, "API key refused")
            await tx.repo.touch_api_key(key.id, now)
        self.limiter.succeeded(key_id, client)
        caller = Caller(user_id=user.id, username=user.username, role=user.role, api_key_id=key.id)
        return self.keyring.sign(caller, self.token_ttl_seconds)

    # --- users ----------------------------------------------------------------------------------------

    async def _active_user(self, repo: IdentityRepository, caller: Caller) -> User:
        user = await repo.user_by_id(caller.user_id)
        if user is None or user.disabled:
            raise DomainError(Reason.USER_DISABLED, "this account is disabled")
        return user

    async def whoami(self, caller: Caller) -> User:
        async with self._tx() as tx:
            return await self._active_user(tx.repo, caller)

    async def _create_user(
        self, repo: IdentityRepository, username: str, email: str | None, display_name: str, role: str
    ) -> User:
        rules.check_username(username)
        if await repo.user_by_username(username) is not None:
            raise DomainError(Reason.USERNAME_TAKEN, f"username {username!r} is taken", field="username")
        if email is not None and await repo.user_by_email(email) is not None:
            raise DomainError(Reason.EMAIL_TAKEN, f"email {email!r} is already in use", field="email")
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            email=email,
            display_name=display_name,
            role=role,
            created_at=_now(),
        )
        await repo.add_user(user)
        return user

    async def _fresh_key(self) -> tuple[str, str, str]:
        """(id, full key, its hash), hashed on the checker's threads before any transaction starts."""
        key_id, secret = apikeys.new_api_key()
        return key_id, secret, await self.checker.hash(secret)

    async def _new_key(
        self,
        repo: IdentityRepository,
        user: User,
        name: str,
        expires_at: datetime | None,
        fresh: tuple[str, str, str],
    ) -> tuple[ApiKey, str]:
        key_id, secret, secret_hash = fresh
        key = ApiKey(
            id=key_id,
            user_id=user.id,
            name=name,
            secret_hash=secret_hash,
            created_at=_now(),
            expires_at=expires_at,
        )
        await repo.add_api_key(key)
        return key, secret

    async def create_user(
        self, caller: Caller, username: str, email: str, display_name: str, role: str
    ) -> tuple[User, ApiKey, str]:
        """Admin only; answers the user's first API key, whose secret is shown this once."""
        if not caller.is_admin:
            raise DomainError(Reason.ADMIN_REQUIRED, "only an admin may create users")
        role = role or ROLE_USER
        if role not in ASSIGNABLE_ROLES:
            raise DomainError(Reason.INVALID_ARGUMENT, "role must be user or admin", field="role")
        clean_email = rules.check_email(email)
        display = rules.check_text(display_name, "display_name", rules.MAX_DISPLAY_NAME) or username
        fresh = await self._fresh_key()
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            user = await self._create_user(tx.repo, username, clean_email, display, role)
            key, secret = await self._new_key(tx.repo, user, "initial", None, fresh)
            await tx.events.user_created(user)
        return user, key, secret

    async def bootstrap_account(
        self, username: str, email: str | None, role: str, fresh_key: bool
    ) -> tuple[User, str | None]:
        """For the launcher: make sure an account exists; a key secret only when one was just made."""
        async with self._tx() as tx:
            user = await tx.repo.user_by_username(username)
            secret: str | None = None
            if user is None:
                clean_email = rules.check_email(email) if email else None
                user = await self._create_user(tx.repo, username, clean_email, username, role)
                await tx.events.user_created(user)
                fresh_key = True
            elif user.role != role:
                raise DomainError(Reason.USERNAME_TAKEN, f"{username!r} exists with role {user.role}")
            if fresh_key:
                # Launcher only, so hashing while the transaction is open costs nobody else.
                fresh = await self._fresh_key()
                _key, secret = await self._new_key(tx.repo, user, "bootstrap", None, fresh)
            return user, secret

    async def list_users(self, caller: Caller, include_disabled: bool, request: PageRequest) -> Page[User]:
        if not caller.is_admin:
            raise DomainError(Reason.ADMIN_REQUIRED, "only an admin may list users")
        limit = page_limit(request.size)
        tokens, filters = self._tokens["users"], [include_disabled]
        after = tokens.after(caller.user_id, filters, request)
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            rows = await tx.repo.page_users(include_disabled, after, limit)
        return tokens.page(caller.user_id, filters, rows, limit, lambda u: (u.created_at, u.id))

    async def get_user(self, caller: Caller, username: str) -> User:
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            user = await tx.repo.user_by_username(username)
            if user is None or not (caller.is_admin or caller.is_service or user.id == caller.user_id):
                # Non-admins learn nothing about other accounts here (LookupUser is for that).
                raise DomainError(Reason.USER_NOT_FOUND, f"no user {username!r}")
            return user

    async def lookup_user(self, caller: Caller, query: str) -> User:
        query = query.strip()
        if not query:
            raise DomainError(Reason.INVALID_ARGUMENT, "give a username or an email", field="query")
        async with self._tx() as tx:
            if not caller.is_service:
                await self._active_user(tx.repo, caller)
            if "@" in query:
                user = await tx.repo.user_by_email(query.lower())
            else:
                user = await tx.repo.user_by_username(query)
            if user is None or user.disabled or user.role == ROLE_SERVICE:
                raise DomainError(Reason.USER_NOT_FOUND, f"no active user {query!r}")
            return user

    async def disable_user(self, caller: Caller, username: str) -> User:
        if not caller.is_admin:
            raise DomainError(Reason.ADMIN_REQUIRED, "only an admin may disable users")
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            user = await tx.repo.user_by_username(username)
            if user is None:
                raise DomainError(Reason.USER_NOT_FOUND, f"no user {username!r}")
            if user.id == caller.user_id:
                raise DomainError(Reason.INVALID_ARGUMENT, "you cannot disable your own account")
            if user.disabled:
                return user
            user = await tx.repo.set_disabled(user.id, _now())
            await tx.events.user_disabled(user)
            return user

    # --- groups ---------------------------------------------------------------------------------------

    async def _group(self, repo: IdentityRepository, name: str) -> Group:
        group = await repo.group_by_name(name)
        if group is None:
            raise DomainError(Reason.GROUP_NOT_FOUND, f"no group {name!r}")
        return group

    def _check_manager(self, caller: Caller, group: Group) -> None:
        if not rules.can_manage_group(caller, group):
            raise DomainError(
                Reason.PERMISSION_DENIED, f"only the creator of {group.name!r} or an admin may do this"
            )

    async def create_group(self, caller: Caller, name: str, description: str) -> Group:
        rules.check_group_name(name)
        description = rules.check_text(description, "description", rules.MAX_DESCRIPTION)
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            if await tx.repo.group_by_name(name) is not None:
                raise DomainError(Reason.GROUP_NAME_TAKEN, f"group {name!r} exists", field="name")
            group = Group(
                id=str(uuid.uuid4()),
                name=name,
                description=description,
                created_by=caller.user_id,
                created_at=_now(),
            )
            await tx.repo.add_group(group)
            return group

    async def list_groups(self, caller: Caller, mine: bool, request: PageRequest) -> Page[Group]:
        limit = page_limit(request.size)
        tokens, filters = self._tokens["groups"], [mine]
        after = tokens.after(caller.user_id, filters, request)
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            rows = await tx.repo.page_groups(caller.user_id if mine else None, after, limit)
        return tokens.page(caller.user_id, filters, rows, limit, lambda g: (g.created_at, g.id))

    async def get_group(self, caller: Caller, name: str) -> Group:
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            group = await self._group(tx.repo, name)
        if rules.can_see_members(caller, group):
            return group
        return dataclasses.replace(group, members=())

    async def delete_group(self, caller: Caller, name: str) -> None:
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            group = await self._group(tx.repo, name)
            self._check_manager(caller, group)
            member_ids = await tx.repo.delete_group(group.id)
            await tx.events.group_deleted(group, member_ids)

    async def _member_change(self, caller: Caller, group_name: str, username: str, add: bool) -> Group:
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            group = await self._group(tx.repo, group_name)
            self._check_manager(caller, group)
            user = await tx.repo.user_by_username(username)
            if user is None or user.role == ROLE_SERVICE:
                raise DomainError(Reason.USER_NOT_FOUND, f"no user {username!r}")
            if add:
                if user.disabled:
                    raise DomainError(Reason.USER_NOT_FOUND, f"no active user {username!r}")
                if not await tx.repo.add_member(group.id, user.id, _now()):
                    raise DomainError(Reason.ALREADY_MEMBER, f"{username} is already in {group_name}")
                await tx.events.member_added(group, user)
            else:
                if not await tx.repo.remove_member(group.id, user.id):
                    raise DomainError(Reason.NOT_A_MEMBER, f"{username} is not in {group_name}")
                await tx.events.member_removed(group, user)
            return await self._group(tx.repo, group_name)

    async def add_member(self, caller: Caller, group_name: str, username: str) -> Group:
        return await self._member_change(caller, group_name, username, add=True)

    async def remove_member(self, caller: Caller, group_name: str, username: str) -> Group:
        return await self._member_change(caller, group_name, username, add=False)

    # --- API keys -------------------------------------------------------------------------------------

    async def create_api_key(
        self, caller: Caller, name: str, expires_at: datetime | None
    ) -> tuple[ApiKey, str]:
        name = rules.check_text(name, "name", rules.MAX_KEY_NAME) or "unnamed"
        if expires_at is not None and expires_at <= _now():
            raise DomainError(Reason.INVALID_EXPIRY, "the expiry must lie in the future", field="expires_at")
        fresh = await self._fresh_key()
        async with self._tx() as tx:
            user = await self._active_user(tx.repo, caller)
            return await self._new_key(tx.repo, user, name, expires_at, fresh)

    async def list_api_keys(self, caller: Caller, request: PageRequest) -> Page[ApiKey]:
        limit = page_limit(request.size)
        tokens = self._tokens["api_keys"]
        after = tokens.after(caller.user_id, [], request)
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            rows = await tx.repo.page_api_keys(caller.user_id, after, limit)
        return tokens.page(caller.user_id, [], rows, limit, lambda k: (k.created_at, k.id))

    async def revoke_api_key(self, caller: Caller, key_id: str) -> ApiKey:
        async with self._tx() as tx:
            await self._active_user(tx.repo, caller)
            key = await tx.repo.api_key(key_id.removeprefix("wio_"))
            if key is None or not (key.user_id == caller.user_id or caller.is_admin):
                raise DomainError(Reason.API_KEY_NOT_FOUND, f"no API key {key_id!r}")
            if key.revoked_at is not None:
                return key
            key = await tx.repo.revoke_api_key(key.id, _now())
            await tx.events.api_key_revoked(key)
            return key

    # --- internal -------------------------------------------------------------------------------------

    async def groups_of_user(self, user_id: str) -> list[Group]:
        return await self._tx.read(lambda repo: repo.groups_of_user(user_id))

    async def users_by_ids(self, user_ids: Sequence[str]) -> list[User]:
        return await self._tx.read(lambda repo: repo.users_by_ids(user_ids))
