"""Shares (grant, change, revoke, list) and the permission questions: what a user may do with a workspace,
and why."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.common.pages import PageRequest, PageTokens, page_limit
from services.workspaces.domain.models import Decision, Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import (
    Factor,
    capped_by,
    decide,
    factors,
    granting_share,
    manages_share,
)
from services.workspaces.domain.ports import Identity, Memberships, Transaction, Transactions
from services.workspaces.domain.references import References, Resolved
from services.workspaces.domain.references import now as current_time


@dataclass(frozen=True)
class Explanation:
    workspace: Workspace
    username: str
    decision: Decision
    allowed: bool
    summary: str
    factors: list[Factor]


class Shares:
    def __init__(
        self,
        transactions: Transactions,
        references: References,
        identity: Identity,
        memberships: Memberships,
        tokens: PageTokens,
    ) -> None:
        self._tx = transactions
        self.tokens = tokens
        self.references = references
        self.identity = identity
        self.memberships = memberships

    async def create(
        self, caller: Caller, reference: str, sharee: str, level: Level, expires_at: datetime | None
    ) -> tuple[Share, Workspace]:
        if level not in (Level.READ, Level.READWRITE, Level.OWN):
            raise DomainError(
                Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field="permission"
            )
        if expires_at is not None and expires_at <= current_time():
            raise DomainError(Reason.INVALID_EXPIRY, "the expiry must lie in the future", field="expires_at")
        principal = await self.references.principal(caller)
        resolved = await self.references.resolve(principal, reference, Level.OWN)
        if sharee.startswith("group:"):
            kind, (sharee_id, sharee_name) = "group", await self.identity.group(sharee[6:])
        else:
            kind, (sharee_id, sharee_name) = "user", await self.identity.user(sharee)
            if sharee_id == resolved.workspace.owner_id:
                raise DomainError(Reason.INVALID_ARGUMENT, "the owner already has every right")
        share = Share(
            id=str(uuid.uuid4()),
            workspace_id=resolved.workspace.id,
            sharee_kind=kind,
            sharee_id=sharee_id,
            sharee_name=sharee_name,
            level=level,
            created_by=caller.user_id,
            created_at=current_time(),
            expires_at=expires_at,
        )
        async with self._tx() as tx:
            shares = await tx.repo.shares_of([resolved.workspace.id])
            if any(s.sharee_kind == kind and s.sharee_id == sharee_id for s in shares):
                raise DomainError(
                    Reason.SHARE_EXISTS, f"{sharee} already has a share of {resolved.workspace.ref}/"
                )
            # An `own` sharee shares through their own share: never longer, never more.
            granting = granting_share(principal, resolved.workspace, shares, share.created_at)
            if granting is not None:
                share = capped_by(dataclasses.replace(share, granted_through=granting.id), granting)
            elif resolved.workspace.owner_id != caller.user_id:
                raise DomainError(Reason.PERMISSION_DENIED, f"you no longer manage {resolved.workspace.ref}/")
            await tx.repo.add_share(share)
            await tx.events.share_changed("granted", share)
        return share, resolved.workspace

    async def _managed_share(self, caller: Caller, share_id: str) -> tuple[Share, Workspace]:
        principal = await self.references.principal(caller)
        async with self._tx() as tx:
            share = await tx.repo.share(share_id)
            workspace = await tx.repo.workspace(share.workspace_id) if share else None
            shares = await tx.repo.shares_of([workspace.id]) if workspace else []
        if share is None or workspace is None:
            raise DomainError(Reason.SHARE_NOT_FOUND, f"no share {share_id!r}")
        moment = current_time()
        if decide(principal, workspace, shares, moment).level < Level.OWN:
            raise DomainError(Reason.SHARE_NOT_FOUND, f"no share {share_id!r} that you manage")
        if not manages_share(principal, workspace, shares, share, moment):
            raise DomainError(
                Reason.PERMISSION_DENIED,
                f"only the owner of {workspace.ref}/ changes this share: with `own` you change only the "
                "shares made through yours",
            )
        return share, workspace

    async def update(
        self,
        caller: Caller,
        share_id: str,
        level: Level | None,
        expires_at: datetime | None,
        set_expiry: bool,
    ) -> tuple[Share, Workspace]:
        share, workspace = await self._managed_share(caller, share_id)
        if level is not None and level not in (Level.READ, Level.READWRITE, Level.OWN):
            raise DomainError(
                Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field="permission"
            )
        if set_expiry and expires_at is not None and expires_at <= current_time():
            raise DomainError(Reason.INVALID_EXPIRY, "the expiry must lie in the future", field="expires_at")
        updated = dataclasses.replace(
            share,
            level=level if level is not None else share.level,
            expires_at=expires_at if set_expiry else share.expires_at,
        )
        async with self._tx() as tx:
            granting = await tx.repo.share(share.granted_through) if share.granted_through else None
            if granting is not None:
                updated = capped_by(updated, granting)
            await tx.repo.update_share(updated)
            await tx.events.share_changed("updated", updated)
            await self._cascade(tx, updated, revoked=False)
        return updated, workspace

    async def revoke(self, caller: Caller, share_id: str) -> None:
        share, _workspace = await self._managed_share(caller, share_id)
        async with self._tx() as tx:
            await self._cascade(tx, share, revoked=True)
            await tx.repo.delete_share(share.id)
            await tx.events.share_changed("revoked", share)

    async def _cascade(self, tx: Transaction, granting: Share, revoked: bool) -> None:
        """The shares made through `granting`, and those made through them: revoked with it, or capped to
        its level and expiry when it changed. In the caller's transaction, each with its event."""
        for made in await tx.repo.shares_made_through(granting.id):
            if revoked:
                await self._cascade(tx, made, revoked=True)
                await tx.repo.delete_share(made.id)
                await tx.events.share_changed("revoked", made)
                continue
            capped = capped_by(made, granting)
            if capped != made:
                await tx.repo.update_share(capped)
                await tx.events.share_changed("updated", capped)
                await self._cascade(tx, capped, revoked=False)

    async def listing(
        self, caller: Caller, reference: str, request: PageRequest
    ) -> tuple[list[tuple[Share, Workspace]], list[tuple[Share, Workspace]], str]:
        """One page of the shares the caller manages (made) and holds (with_me), decided in the query;
        answers both lists and the next page's token. With a reference, that workspace's only."""
        limit = page_limit(request.size)
        principal = await self.references.principal(caller)
        workspace_id = (
            (await self.references.resolve(principal, reference)).workspace.id if reference else None
        )
        # Bound to the workspace itself, whichever way the reference named it.
        filters = [workspace_id]
        after = self.tokens.after(caller.user_id, filters, request)
        moment = current_time()
        rows = await self._tx.read(
            lambda repo: repo.page_shares(principal, moment, workspace_id, after, limit)
        )
        page = self.tokens.page(caller.user_id, filters, rows, limit, lambda r: (r[0].created_at, r[0].id))
        made = [(share, workspace) for share, workspace, managed, _held in page.items if managed]
        with_me = [(share, workspace) for share, workspace, _managed, held in page.items if held]
        return made, with_me, page.next_token

    async def _subject(self, caller: Caller, reference: str, username: str) -> tuple[Resolved, Principal]:
        """The workspace the caller names, and whose permission on it they ask about."""
        me = await self.references.principal(caller)
        resolved = await self.references.resolve(me, reference)
        if not username or username == caller.username:
            return resolved, me
        if resolved.decision.level < Level.OWN and not caller.is_admin:
            raise DomainError(
                Reason.PERMISSION_DENIED, "only the owner, 'own' sharees and admins may ask for others"
            )
        user_id, name = await self.identity.user(username)
        return resolved, Principal(user_id, name, frozenset(await self.memberships.groups(user_id)))

    async def check(self, caller: Caller, reference: str, username: str) -> Decision:
        resolved, subject = await self._subject(caller, reference, username)
        if subject.user_id == caller.user_id:
            return resolved.decision
        async with self._tx() as tx:
            shares = await tx.repo.shares_of([resolved.workspace.id])
        return decide(subject, resolved.workspace, shares, current_time())

    async def explain(self, caller: Caller, reference: str, username: str, wanted: Level) -> Explanation:
        resolved, subject = await self._subject(caller, reference, username)
        now = current_time()
        async with self._tx() as tx:
            shares = await tx.repo.shares_of([resolved.workspace.id])
        decision = decide(subject, resolved.workspace, shares, now)
        allowed = decision.level >= wanted
        who, ref = subject.username, f"{resolved.workspace.ref}/"
        if allowed:
            summary = f"{who} can {wanted.verb} {ref}: {decision.reason} gives {decision.level.label}"
        elif decision.level == Level.NONE:
            summary = f"{who} cannot {wanted.verb} {ref}: no share, group share or public access reaches them"
        else:
            summary = (
                f"{who} cannot {wanted.verb} {ref}: the best they have is {decision.level.label} "
                f"({decision.reason}), this needs {wanted.label}"
            )
        return Explanation(
            workspace=resolved.workspace,
            username=who,
            decision=decision,
            allowed=allowed,
            summary=summary,
            factors=factors(subject, resolved.workspace, shares, now),
        )
