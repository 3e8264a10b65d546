"""The listings' SQL (storage `reaching` and `level_of`, read a page at a time) and the domain's permission
decision (permissions.decide) agree on random users, groups, workspaces and shares, in real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from services.workspaces.domain.models import Level, ListingFilters, Principal, Share, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.storage import tables as t
from services.workspaces.storage.repository import SqlWorkspacesRepository
from tests.conftest import WorkspacesUnderTest

pytestmark = pytest.mark.integration

USERS, GROUPS = 4, 3
NOW = datetime.now(UTC)
EXPIRIES = {"never": None, "past": NOW - timedelta(hours=1), "future": NOW + timedelta(hours=1)}
# Few distinct creation times, so that shares often tie on them and the id must break the tie.
TIMES = [NOW - timedelta(days=d) for d in (3, 2, 1)]

workspace_st = st.tuples(
    st.integers(0, USERS - 1), st.sampled_from(["private", "public", "unmanaged"]), st.booleans()
)
share_st = st.tuples(
    st.integers(0, 7),  # workspace (modulo how many there are)
    st.sampled_from(["user", "group"]),
    st.integers(0, USERS - 1),  # sharee (a group index modulo GROUPS)
    st.sampled_from([Level.READ, Level.READWRITE, Level.OWN]),
    st.sampled_from(sorted(EXPIRIES)),
    st.integers(0, len(TIMES) - 1),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    memberships=st.lists(st.sets(st.integers(0, GROUPS - 1)), min_size=USERS, max_size=USERS),
    specs=st.lists(workspace_st, min_size=1, max_size=8),
    share_specs=st.lists(share_st, max_size=14),
    page_size=st.integers(1, 3),
)
async def test_sql_listing_agrees_with_decide(
    workspaces: WorkspacesUnderTest,
    memberships: list[set[int]],
    specs: list[tuple[int, str, bool]],
    share_specs: list[tuple[int, str, int, Level, str, int]],
    page_size: int,
) -> None:
    tag = uuid.uuid4().hex[:10]
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    groups = [str(uuid.uuid4()) for _ in range(GROUPS)]
    made = [
        Workspace(
            id=str(uuid.uuid4()),
            name=f"w{i}-{tag}",
            owner_id=users[owner],
            owner_username=f"u{owner}-{tag}",
            type=kind,
            node_id=str(uuid.uuid4()),
            node_name=f"n-{tag}",
            root_id=str(uuid.uuid4()),
            bucket="b",
            prefix=f"u{owner}/w{i}/",
            created_at=NOW,
        )
        for i, (owner, kind, _ready) in enumerate(specs)
    ]
    deleting = {w.id for w, (_o, _k, ready) in zip(made, specs, strict=True) if not ready}
    shares: dict[tuple[str, str, str], Share] = {}
    for ws_index, kind, sharee, level, expiry, when in share_specs:
        workspace = made[ws_index % len(made)]
        sharee_id = users[sharee] if kind == "user" else groups[sharee % GROUPS]
        if kind == "user" and sharee_id == workspace.owner_id:
            continue  # the domain refuses a share to the owner
        shares.setdefault(
            (workspace.id, kind, sharee_id),
            Share(
                id=str(uuid.uuid4()),
                workspace_id=workspace.id,
                sharee_kind=kind,
                sharee_id=sharee_id,
                sharee_name=f"{kind}{sharee}",
                level=level,
                created_by=workspace.owner_id,
                created_at=TIMES[when],
                expires_at=EXPIRIES[expiry],
            ),
        )
    all_shares = list(shares.values())
    sessions = workspaces.runtime.sessions
    async with sessions() as session, session.begin():
        repo = SqlWorkspacesRepository(session)
        for workspace in made:
            await repo.add_workspace(workspace)
        for share in all_shares:
            await repo.add_share(share)
        if deleting:
            await session.execute(
                update(t.workspaces).where(t.workspaces.c.id.in_(deleting)).values(state="deleting")
            )
        await repo.before_commit()
    try:
        ready = [w for w in made if w.id not in deleting]
        for index, user_id in enumerate(users):
            principal = Principal(
                user_id, f"u{index}-{tag}", frozenset(groups[g] for g in memberships[index])
            )
            expected = {
                w.id: decide(principal, w, all_shares, NOW).level
                for w in ready
                if decide(principal, w, all_shares, NOW).level >= Level.READ
            }
            listed = await _all_workspaces(sessions, principal, ListingFilters(name_contains=tag), page_size)
            assert len(listed) == len({w.id for w, _level in listed}), "a workspace came twice"
            assert {w.id: level for w, level in listed} == expected
            # In the listing's order, whatever the page size.
            keys = [(w.owner_username, w.name, w.id) for w, _level in listed]
            assert keys == sorted(keys)

            by_id = {w.id: w for w in ready}
            managed = {
                s.id
                for s in all_shares
                if s.workspace_id in by_id
                and decide(principal, by_id[s.workspace_id], all_shares, NOW).level >= Level.OWN
            }
            held = {
                s.id
                for s in all_shares
                if s.workspace_id in by_id
                and s.active_at(NOW)
                and (
                    (s.sharee_kind == "user" and s.sharee_id == user_id)
                    or (s.sharee_kind == "group" and s.sharee_id in principal.group_ids)
                )
            }
            rows = await _all_shares(sessions, principal, page_size)
            assert len(rows) == len({s.id for s, *_rest in rows}), "a share came twice"
            assert {s.id for s, _w, is_managed, _h in rows if is_managed} == managed
            assert {s.id for s, _w, _m, is_held in rows if is_held} == held
    finally:
        async with sessions() as session, session.begin():
            await session.execute(delete(t.shares).where(t.shares.c.id.in_([s.id for s in all_shares])))
            await session.execute(delete(t.workspaces).where(t.workspaces.c.id.in_([w.id for w in made])))


async def _all_workspaces(
    sessions: Any, principal: Principal, filters: ListingFilters, size: int
) -> list[tuple[Workspace, Level]]:
    found: list[tuple[Workspace, Level]] = []
    after = None
    while True:
        async with sessions() as session:
            rows = await SqlWorkspacesRepository(session).page_visible(principal, NOW, filters, after, size)
        found += rows[:size]
        if len(rows) <= size:
            return found
        last = rows[size - 1][0]
        after = (last.owner_username, last.name, last.id)


async def _all_shares(
    sessions: Any, principal: Principal, size: int
) -> list[tuple[Share, Workspace, bool, bool]]:
    found: list[tuple[Share, Workspace, bool, bool]] = []
    after = None
    while True:
        async with sessions() as session:
            rows = await SqlWorkspacesRepository(session).page_shares(principal, NOW, None, after, size)
        found += rows[:size]
        if len(rows) <= size:
            return found
        last = rows[size - 1][0]
        after = (last.created_at, last.id)
