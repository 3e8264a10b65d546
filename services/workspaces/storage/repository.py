"""SQL implementation of the workspaces repository."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import SessionFactory, execute_unique
from services.common.errors import DomainError, Reason
from services.common.jobs import JobQueue
from services.common.keyset import keyset
from services.common.outbox import Outbox
from services.common.pages import SortKey
from services.common.unit_of_work import SqlTransactions, is_uuid
from services.workspaces.domain import revisions
from services.workspaces.domain.models import Level, Link, ListingFilters, Principal, Share, Workspace
from services.workspaces.domain.ports import Clashes
from services.workspaces.events.publishers import OutboxWorkspacesEvents
from services.workspaces.storage import tables as t


def workspace_of(row: Any) -> Workspace:
    return Workspace(
        id=str(row.id),
        name=row.name,
        owner_id=str(row.owner_id),
        owner_username=row.owner_username,
        type=row.type,
        node_id=str(row.node_id),
        node_name=row.node_name,
        root_id=str(row.root_id),
        bucket=row.bucket,
        prefix=row.prefix,
        created_at=row.created_at,
    )


def share_of(row: Any) -> Share:
    return Share(
        id=str(row.id),
        workspace_id=str(row.workspace_id),
        sharee_kind=row.sharee_kind,
        sharee_id=str(row.sharee_id),
        sharee_name=row.sharee_name,
        level=Level(row.level),
        created_by=str(row.created_by),
        created_at=row.created_at,
        expires_at=row.expires_at,
        granted_through=str(row.granted_through) if row.granted_through else None,
    )


def _link(row: Any) -> Link:
    return Link(
        id=str(row.id),
        secret_hash=row.secret_hash,
        creator_id=str(row.creator_id),
        creator_username=row.creator_username,
        workspace_id=str(row.workspace_id),
        workspace_ref=row.workspace_ref,
        path=row.path,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _shared_with(user_id: str, group_ids: Sequence[str]) -> ColumnElement[bool]:
    """Shares whose sharee is the user or one of their groups (expired ones included)."""
    return or_(
        and_(t.shares.c.sharee_kind == "user", t.shares.c.sharee_id == user_id),
        and_(t.shares.c.sharee_kind == "group", t.shares.c.sharee_id.in_(list(group_ids) or [None])),
    )


READY = t.workspaces.c.state == "ready"
W = t.workspaces.c
# The listing's total order: what `wio ls` shows, the id last so that equal keys still have one order.
LISTING_ORDER = (W.owner_username, W.name, W.id)
SHARES_ORDER = (t.shares.c.created_at, t.shares.c.id)

# Statements of every create and of the common look-ups, built once: building one per call costs more
# CPU than its round trip.
INSERT_WORKSPACE = insert(t.workspaces)
WORKSPACE_BY_ID = select(t.workspaces).where(W.id == bindparam("id"), READY)
DELETING_BY_ID = select(t.workspaces).where(W.id == bindparam("id"), W.state == "deleting")
SHARES_OF = (
    select(t.shares)
    .where(t.shares.c.workspace_id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=False)))))
    .order_by(t.shares.c.created_at)
)
XACT_LOCK = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("key", type_=Text))))


def _clashes(case_ignored: bool) -> CompoundSelect[Any]:
    """A workspace of the owner with the name, and one whose prefix holds or lies inside the new one, each
    found on its own index (see clashes)."""
    named = (
        select(t.workspaces, literal("named").label("clash"))
        .where(W.owner_username == bindparam("owner"), W.name == bindparam("name"))
        .limit(1)
    )
    column: ColumnElement[str] = func.lower(W.prefix) if case_ignored else W.prefix
    inside = column.collate("C")
    nesting = (
        select(t.workspaces, literal("overlapping").label("clash"))
        .where(
            W.root_id == bindparam("root_id"),
            or_(
                column == any_(bindparam("ancestors", type_=ARRAY(Text))),
                and_(inside >= bindparam("from", type_=Text), inside < bindparam("to", type_=Text)),
            ),
        )
        .limit(1)
    )
    return union_all(named, nesting)


CLASHES, CLASHES_IGNORING_CASE = _clashes(False), _clashes(True)

# Advances the revisions of the scopes given (a sorted array), taking their row locks in that order.
_SCOPES = (
    func.unnest(bindparam("scopes", type_=ARRAY(Text)))
    .table_valued("scope", with_ordinality="n")
    .render_derived()
)
ADVANCE_REVISIONS = (
    pg_insert(t.rights_revisions)
    .from_select(["scope", "value"], select(_SCOPES.c.scope, literal(1)).order_by(_SCOPES.c.n))
    .on_conflict_do_update(
        index_elements=[t.rights_revisions.c.scope], set_={"value": t.rights_revisions.c.value + 1}
    )
)


def _active(now: datetime) -> ColumnElement[bool]:
    return or_(t.shares.c.expires_at.is_(None), t.shares.c.expires_at > now)


def reaching(principal: Principal, now: datetime, at_least: Level) -> ColumnElement[bool]:
    """The SQL twin of domain/permissions.decide, once: the usable workspaces where the principal's level
    is at least `at_least` (owner: own; an active share to them or one of their groups: its level;
    public: read). Each branch is indexed (owner, type, the shares' sharee), so the planner can use them."""
    granting = select(t.shares.c.workspace_id).where(
        _shared_with(principal.user_id, sorted(principal.group_ids)),
        _active(now),
        t.shares.c.level >= int(at_least),
    )
    branches = [W.owner_id == principal.user_id, W.id.in_(granting)]
    if at_least <= Level.READ:
        branches.append(W.type == "public")
    return and_(or_(*branches), READY)


def level_of(principal: Principal, now: datetime) -> ColumnElement[int]:
    """The principal's level on each workspace row, as `decide` gives it (for the rows `reaching` kept)."""
    best_share = (
        select(func.max(t.shares.c.level))
        .where(
            t.shares.c.workspace_id == W.id,
            _shared_with(principal.user_id, sorted(principal.group_ids)),
            _active(now),
        )
        .scalar_subquery()
    )
    public = case((W.type == "public", literal(int(Level.READ))), else_=literal(int(Level.NONE)))
    return case(
        (W.owner_id == principal.user_id, literal(int(Level.OWN))),
        else_=func.greatest(func.coalesce(best_share, int(Level.NONE)), public),
    )


def visible_page_query(
    principal: Principal, now: datetime, filters: ListingFilters, after: SortKey | None, limit: int
) -> Select[Any]:
    """ListWorkspaces' query (bench/pages.py explains it)."""
    conditions = [reaching(principal, now, Level.READ)]
    if filters.owner:
        conditions.append(W.owner_username == filters.owner)
    if filters.node:
        by_name = W.node_name == filters.node
        conditions.append(or_(W.node_id == filters.node, by_name) if is_uuid(filters.node) else by_name)
    if filters.kind:
        conditions.append(W.type == filters.kind)
    if filters.name_contains:
        conditions.append(func.strpos(W.name, filters.name_contains) > 0)
    query = select(t.workspaces, level_of(principal, now).label("level")).where(*conditions)
    return keyset(query, LISTING_ORDER, after, limit)


class SqlWorkspacesRepository:
    """Workspaces being deleted are left out of every answer but those that keep their name and prefix
    taken (clashes, owned_by, in_root) and deleting()."""

    def __init__(self, session: AsyncSession, jobs: JobQueue | None = None) -> None:
        self.s = session
        self.jobs = jobs or JobQueue(t.jobs)
        # Scopes whose rights revisions this transaction advances, all at once just before it commits.
        self._changed_scopes: set[str] = set()

    async def add_workspace(self, workspace: Workspace) -> None:
        await execute_unique(
            self.s,
            INSERT_WORKSPACE,
            lambda _: DomainError(Reason.WORKSPACE_EXISTS, f"workspace {workspace.ref!r} exists"),
            params={
                "id": workspace.id,
                "name": workspace.name,
                "owner_id": workspace.owner_id,
                "owner_username": workspace.owner_username,
                "type": workspace.type,
                "node_id": workspace.node_id,
                "node_name": workspace.node_name,
                "root_id": workspace.root_id,
                "bucket": workspace.bucket,
                "prefix": workspace.prefix,
                "created_at": workspace.created_at,
            },
            savepoint=False,  # the create and the import both end on it
        )
        await self._rights_changed(revisions.workspace_changed(workspace))

    async def workspace(self, workspace_id: str) -> Workspace | None:
        if not is_uuid(workspace_id):
            return None
        row = (await self.s.execute(WORKSPACE_BY_ID, {"id": workspace_id})).first()
        return workspace_of(row) if row else None

    async def deleting(self, workspace_id: str) -> Workspace | None:
        """The workspace if it is being deleted (its objects not yet all gone)."""
        if not is_uuid(workspace_id):
            return None
        row = (await self.s.execute(DELETING_BY_ID, {"id": workspace_id})).first()
        return workspace_of(row) if row else None

    async def owned_by(self, user_id: str) -> list[Workspace]:
        rows = (await self.s.execute(select(t.workspaces).where(t.workspaces.c.owner_id == user_id))).all()
        return [workspace_of(r) for r in rows]

    async def in_root(self, root_id: str) -> list[Workspace]:
        if not is_uuid(root_id):
            return []
        rows = (await self.s.execute(select(t.workspaces).where(t.workspaces.c.root_id == root_id))).all()
        return [workspace_of(r) for r in rows]

    async def count_in_root(self, root_id: str) -> int:
        if not is_uuid(root_id):
            return 0
        # Workspaces being deleted do not hold their root: their objects go through the node's own access.
        query = select(func.count()).select_from(t.workspaces).where(t.workspaces.c.root_id == root_id, READY)
        return int((await self.s.execute(query)).scalar_one())

    async def ready_in_root(self, root_id: str) -> list[Workspace]:
        if not is_uuid(root_id):
            return []
        query = select(t.workspaces).where(t.workspaces.c.root_id == root_id, READY)
        rows = (await self.s.execute(query.order_by(t.workspaces.c.prefix.collate("C")))).all()
        return [workspace_of(r) for r in rows]

    async def ready_on_node(self, node_id: str) -> list[Workspace]:
        if not is_uuid(node_id):
            return []
        query = select(t.workspaces).where(t.workspaces.c.node_id == node_id, READY)
        order = (t.workspaces.c.bucket, t.workspaces.c.prefix.collate("C"))
        return [workspace_of(r) for r in (await self.s.execute(query.order_by(*order))).all()]

    async def clashes(
        self, owner: str, name: str, root_id: str, prefix: str, case_ignored: bool = False
    ) -> Clashes:
        """One round trip for both look-ups, each on its own index. The prefixes that hold `prefix` are
        its ancestors (at most one per '/'), and those inside it form one range in byte order ('0' follows
        '/'). Ignoring case, the same on lowercased prefixes (a scan of the root's workspaces: unmanaged
        roots hold few)."""
        if case_ignored:
            prefix = prefix.lower()
        ancestors = [prefix[: i + 1] for i, char in enumerate(prefix) if char == "/"]
        params = {
            "owner": owner,
            "name": name,
            "root_id": root_id,
            "ancestors": ancestors,
            "from": prefix,
            "to": prefix[:-1] + "0",
        }
        statement = CLASHES_IGNORING_CASE if case_ignored else CLASHES
        rows = {row.clash: row for row in (await self.s.execute(statement, params)).all()}
        found, other = rows.get("named"), rows.get("overlapping")
        return Clashes(
            named=workspace_of(found) if found else None,
            named_deleting=found is not None and found.state == "deleting",
            overlapping=workspace_of(other) if other else None,
        )

    async def lock_root(self, root_id: str) -> None:
        # A transaction-scoped advisory lock per root serializes the overlap check and the insert.
        await self.s.execute(XACT_LOCK, {"key": root_id})

    async def lock_owner(self, user_id: str) -> None:
        # Imports of one owner, one at a time: each sees the names the other took, and their inserts never
        # wait on each other's in opposite orders.
        await self.s.execute(XACT_LOCK, {"key": f"owner:{user_id}"})

    async def visible_to(self, user_id: str, group_ids: Sequence[str], now: datetime) -> list[Workspace]:
        """Owned, public, or with an active share to the user or one of their groups."""
        shared = select(t.shares.c.workspace_id).where(
            _shared_with(user_id, group_ids),
            or_(t.shares.c.expires_at.is_(None), t.shares.c.expires_at > now),
        )
        query = (
            select(t.workspaces)
            .where(
                or_(
                    t.workspaces.c.owner_id == user_id,
                    t.workspaces.c.type == "public",
                    t.workspaces.c.id.in_(shared),
                ),
                READY,
            )
            .order_by(t.workspaces.c.owner_username, t.workspaces.c.name)
        )
        return [workspace_of(r) for r in (await self.s.execute(query)).all()]

    async def page_visible(
        self,
        principal: Principal,
        now: datetime,
        filters: ListingFilters,
        after: SortKey | None,
        limit: int,
    ) -> list[tuple[Workspace, Level]]:
        """One page (limit + 1 rows) of the workspaces the principal can read that match the filters,
        in LISTING_ORDER after `after`, with the principal's level on each."""
        rows = (await self.s.execute(visible_page_query(principal, now, filters, after, limit))).all()
        return [(workspace_of(r), Level(r.level)) for r in rows]

    async def page_shares(
        self, principal: Principal, now: datetime, workspace_id: str | None, after: SortKey | None, limit: int
    ) -> list[tuple[Share, Workspace, bool, bool]]:
        """One page (limit + 1) of the shares the principal manages (of workspaces they reach at own) or
        holds (active, to them or one of their groups), of usable workspaces, in SHARES_ORDER after
        `after`: each with its workspace and whether it is managed, held."""
        managed = t.shares.c.workspace_id.in_(select(W.id).where(reaching(principal, now, Level.OWN)))
        held = and_(_shared_with(principal.user_id, sorted(principal.group_ids)), _active(now))
        usable = t.shares.c.workspace_id.in_(select(W.id).where(READY))
        query = select(t.shares, managed.label("managed"), held.label("held")).where(
            or_(managed, held), usable
        )
        if workspace_id is not None:
            query = query.where(t.shares.c.workspace_id == workspace_id)
        rows = (await self.s.execute(keyset(query, SHARES_ORDER, after, limit))).all()
        ids = sorted({str(r.workspace_id) for r in rows})
        found = (await self.s.execute(select(t.workspaces).where(W.id.in_(ids)))).all() if ids else []
        by_id = {str(w.id): workspace_of(w) for w in found}
        return [(share_of(r), by_id[str(r.workspace_id)], bool(r.managed), bool(r.held)) for r in rows]

    async def mark_deleting(self, workspace_id: str) -> bool:
        """The workspace stops being usable: its shares go and the rights it gave are revised now; its row
        stays, holding its name and prefix, until purge_workspace once its objects are gone."""
        workspace = await self.workspace(workspace_id)
        if workspace is None:
            return False
        shares = await self.shares_of([workspace_id])
        await self.s.execute(delete(t.shares).where(t.shares.c.workspace_id == workspace_id))
        await self.s.execute(
            update(t.workspaces).where(t.workspaces.c.id == workspace_id, READY).values(state="deleting")
        )
        await self._rights_changed(revisions.workspace_changed(workspace, shares))
        return True

    async def purge_workspace(self, workspace_id: str) -> bool:
        """Removes a workspace being deleted; answers whether there was one."""
        if not is_uuid(workspace_id):
            return False
        result = await self.s.execute(
            delete(t.workspaces).where(t.workspaces.c.id == workspace_id, t.workspaces.c.state == "deleting")
        )
        return bool(getattr(result, "rowcount", 0))

    async def add_job(self, kind: str, payload: Mapping[str, Any], run_at: datetime | None = None) -> str:
        return await self.jobs.add(self.s, kind, payload, run_at)

    async def add_share(self, share: Share) -> None:
        await execute_unique(
            self.s,
            insert(t.shares).values(
                id=share.id,
                workspace_id=share.workspace_id,
                sharee_kind=share.sharee_kind,
                sharee_id=share.sharee_id,
                sharee_name=share.sharee_name,
                level=int(share.level),
                created_by=share.created_by,
                created_at=share.created_at,
                expires_at=share.expires_at,
                granted_through=share.granted_through,
            ),
            lambda _: DomainError(Reason.SHARE_EXISTS, f"{share.sharee_label} already has a share"),
        )
        await self._share_changed(share)

    async def share(self, share_id: str) -> Share | None:
        if not is_uuid(share_id):
            return None
        row = (await self.s.execute(select(t.shares).where(t.shares.c.id == share_id))).first()
        return share_of(row) if row else None

    async def shares_of(self, workspace_ids: Sequence[str]) -> list[Share]:
        if not workspace_ids:
            return []
        rows = (await self.s.execute(SHARES_OF, {"ids": list(workspace_ids)})).all()
        return [share_of(r) for r in rows]

    async def shares_with(self, user_id: str, group_ids: Sequence[str]) -> list[Share]:
        query = select(t.shares).where(_shared_with(user_id, group_ids))
        rows = (await self.s.execute(query.order_by(t.shares.c.created_at))).all()
        return [share_of(r) for r in rows]

    async def shares_made_through(self, share_id: str) -> list[Share]:
        query = select(t.shares).where(t.shares.c.granted_through == share_id).order_by(t.shares.c.created_at)
        return [share_of(r) for r in (await self.s.execute(query)).all()]

    async def update_share(self, share: Share) -> None:
        await self.s.execute(
            update(t.shares)
            .where(t.shares.c.id == share.id)
            .values(level=int(share.level), expires_at=share.expires_at)
        )
        await self._share_changed(share)

    async def delete_share(self, share_id: str) -> None:
        share = await self.share(share_id)
        if share is None:
            return
        await self.s.execute(delete(t.shares).where(t.shares.c.id == share_id))
        await self._share_changed(share)

    async def add_link(self, link: Link) -> None:
        await self.s.execute(
            insert(t.links).values(
                id=link.id,
                secret_hash=link.secret_hash,
                creator_id=link.creator_id,
                creator_username=link.creator_username,
                workspace_id=link.workspace_id,
                workspace_ref=link.workspace_ref,
                path=link.path,
                created_at=link.created_at,
                expires_at=link.expires_at,
                revoked_at=link.revoked_at,
            )
        )

    async def link(self, link_id: str) -> Link | None:
        if not is_uuid(link_id):
            return None
        row = (await self.s.execute(select(t.links).where(t.links.c.id == link_id))).first()
        return _link(row) if row else None

    async def links_of(self, creator_id: str, after: SortKey | None, limit: int) -> list[Link]:
        """Newest first, limit + 1 of them after `after`."""
        if not is_uuid(creator_id):
            return []
        query = select(t.links).where(t.links.c.creator_id == creator_id)
        order = (t.links.c.created_at, t.links.c.id)
        return [_link(r) for r in (await self.s.execute(keyset(query, order, after, limit, True))).all()]

    async def revoke_link(self, link_id: str, at: datetime) -> Link | None:
        if not is_uuid(link_id):
            return None
        await self.s.execute(
            update(t.links)
            .where(t.links.c.id == link_id, t.links.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return await self.link(link_id)

    async def _share_changed(self, share: Share) -> None:
        workspace = await self.workspace(share.workspace_id)
        if workspace is not None:
            await self._rights_changed(revisions.share_changed(workspace, share))

    async def _rights_changed(self, scopes: Collection[str]) -> None:
        """Marks these scopes' revisions to advance when the transaction commits (before_commit)."""
        self._changed_scopes.update(scopes)

    async def before_commit(self) -> None:
        """Advances every revision the transaction changed, in one statement, in sorted order, as its last
        write: two transactions that advance shared rows (an import maps many names) take their locks in
        one order and hold them only to the commit, so they never deadlock. The new values become visible
        with the change itself."""
        if not self._changed_scopes:
            return
        scopes, self._changed_scopes = sorted(self._changed_scopes), set()
        await self.s.execute(ADVANCE_REVISIONS, {"scopes": scopes})


def transactions(
    sessions: SessionFactory, outbox: Outbox, reads: SessionFactory
) -> SqlTransactions[SqlWorkspacesRepository, OutboxWorkspacesEvents]:
    return SqlTransactions(
        sessions,
        outbox,
        SqlWorkspacesRepository,
        OutboxWorkspacesEvents,
        reads,
        before_commit=SqlWorkspacesRepository.before_commit,
    )
