"""The credential request caches without a server: when a plan may be reused, and how both caches stay
within their bounds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from services.workspaces.domain import revisions
from services.workspaces.domain.cache import (
    CacheKey,
    CredentialCache,
    Plan,
    PlanCache,
    PlanKey,
    PlannedSet,
)
from services.workspaces.domain.models import Level, Share, Workspace
from services.workspaces.domain.ports import IssuedCredentials
from services.workspaces.domain.revisions import FreshRead, SharedRevisionReads

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def plan(
    revision: int = 7,
    valid_until: datetime | None = None,
    groups_read: frozenset[str] | None = frozenset(),
    member_of: frozenset[str] = frozenset(),
    node_id: str = "n1",
) -> Plan:
    planned = PlannedSet(node_id, "node", "{}", "digest", 2048, ())
    read = (("name:w", revision), ("user:u", 0))
    return Plan(read, valid_until, groups_read, member_of, (planned,))


def test_a_plan_holds_only_at_its_revisions_and_before_a_share_it_read_expires() -> None:
    assert plan(revision=7).holds({"name:w": 7}, NOW)  # a scope never changed reads as 0
    assert plan(revision=7).holds({"name:w": 7, "user:u": 0, "name:other": 9}, NOW)
    assert not plan(revision=7).holds({"name:w": 8}, NOW)
    assert not plan(revision=7).holds({"name:w": 7, "user:u": 1}, NOW)
    ends = NOW + timedelta(seconds=5)
    assert plan(valid_until=ends).holds({"name:w": 7}, NOW)
    assert not plan(valid_until=ends).holds({"name:w": 7}, ends)
    assert not plan(valid_until=ends).holds({"name:w": 7}, ends + timedelta(seconds=1))


def test_membership_is_compared_only_where_the_plan_read_it() -> None:
    # The plan read groups a and b; the caller was in a.
    some = plan(groups_read=frozenset({"a", "b"}), member_of=frozenset({"a"}))
    assert some.reads_groups
    assert some.same_membership(frozenset({"a", "z"}))  # z was never read: it cannot matter
    assert not some.same_membership(frozenset({"z"}))  # left a
    assert not some.same_membership(frozenset({"a", "b"}))  # joined b
    # Everything on a node reads every group: any change counts.
    every = plan(groups_read=None, member_of=frozenset({"a"}))
    assert every.reads_groups
    assert every.same_membership(frozenset({"a"}))
    assert not every.same_membership(frozenset({"a", "z"}))
    assert not plan(groups_read=frozenset()).reads_groups


def test_plan_cache_drops_the_oldest_when_full() -> None:
    plans = PlanCache(max_entries=3)
    keys = [PlanKey("u", (f"w{i}",), "") for i in range(5)]
    for key in keys[:3]:
        plans.put(key, plan(revision=1))
    plans.put(keys[0], plan(revision=2))  # put again: now the newest
    plans.put(keys[3], plan(revision=2))  # full: the oldest (keys[1]) goes
    assert plans.get(keys[1]) is None and plans.get(keys[0]) is not None and len(plans) == 3
    plans.put(keys[4], plan(revision=2))
    assert plans.get(keys[2]) is None and plans.get(keys[4]) is not None and len(plans) == 3
    assert plans.forget_node("n1") == 3 and len(plans) == 0


def test_a_full_plan_cache_frees_a_tenth_of_its_room_at_once() -> None:
    plans = PlanCache(max_entries=20)
    keys = [PlanKey("u", (f"w{i}",), "") for i in range(22)]
    for key in keys[:20]:
        plans.put(key, plan(revision=1))
    plans.put(keys[20], plan(revision=1))  # two oldest go, so the next put finds room
    assert len(plans) == 19 and plans.get(keys[0]) is None and plans.get(keys[1]) is None
    plans.put(keys[21], plan(revision=1))
    assert len(plans) == 20 and plans.get(keys[2]) is not None


def credentials(name: str, expires_at: float) -> IssuedCredentials:
    return IssuedCredentials(access_key=name, secret_key="s", session_token="t", expires_at=expires_at)


def test_credential_cache_reuses_for_two_thirds_of_the_lifetime() -> None:
    cache = CredentialCache()
    key = CacheKey("u", "n", "d")
    cache.put(key, credentials("a", 900.0), issued_at=0.0, workspace_ids=frozenset({"w"}))
    assert cache.get(key, 599.0) is not None
    assert cache.get(key, 600.0) is None
    assert len(cache) == 0


def test_credential_cache_drops_spent_sets_first_then_the_oldest() -> None:
    cache = CredentialCache(max_entries=2)
    spent, fresh, newer, newest = (CacheKey("u", "n", d) for d in ("spent", "fresh", "newer", "newest"))
    cache.put(spent, credentials("a", 90.0), issued_at=0.0, workspace_ids=frozenset())
    cache.put(fresh, credentials("b", 1000.0), issued_at=100.0, workspace_ids=frozenset())
    cache.put(newer, credentials("c", 1100.0), issued_at=200.0, workspace_ids=frozenset())
    assert cache.get(spent, 200.0) is None and len(cache) == 2
    cache.put(newest, credentials("d", 1200.0), issued_at=300.0, workspace_ids=frozenset())
    assert cache.get(fresh, 300.0) is None
    assert cache.get(newer, 300.0) is not None and cache.get(newest, 300.0) is not None


def test_a_full_credential_cache_drops_only_spent_sets_when_they_free_enough() -> None:
    cache = CredentialCache(max_entries=10)
    for i in range(10):  # half of them past their reuse time at t=500
        lifetime = 300.0 if i % 2 else 3000.0
        cache.put(CacheKey("u", "n", f"d{i}"), credentials(f"k{i}", lifetime), 0.0, frozenset())
    cache.put(
        CacheKey("u", "n", "new"), credentials("new", 4000.0), issued_at=500.0, workspace_ids=frozenset()
    )
    assert len(cache) == 6
    assert all(cache.get(CacheKey("u", "n", f"d{i}"), 500.0) is not None for i in range(0, 10, 2))


async def test_a_shared_read_is_joined_only_before_it_starts() -> None:
    """With no read under way a caller reads at once; callers arriving while a read runs wait for the next
    one, which covers the scopes of all of them, and never join the one under way."""
    asked: list[set[str]] = []
    gates: list[asyncio.Event] = []

    async def read(scopes: Collection[str]) -> dict[str, int]:
        asked.append(set(scopes))
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        return {scope: len(asked) for scope in scopes}

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    reads = SharedRevisionReads(read)
    first = asyncio.create_task(reads.get(["a"]))
    await settle()
    assert asked == [{"a"}]
    waiting = [asyncio.create_task(reads.get([s])) for s in ("b", "c")]
    await settle()
    assert len(asked) == 1  # they do not join the read under way
    gates[0].set()
    assert await first == {"a": 1}
    await settle()
    assert asked == [{"a"}, {"b", "c"}]  # one read for both
    late = asyncio.create_task(reads.get(["b"]))
    await settle()
    gates[1].set()
    assert [await t for t in waiting] == [{"b": 2}, {"c": 2}]
    await settle()
    assert asked[2:] == [{"b"}]
    gates[2].set()
    assert await late == {"b": 3}


async def test_a_failed_shared_read_fails_its_callers_and_the_next_read_runs() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("down")
        return calls

    shared = FreshRead(read)
    with pytest.raises(RuntimeError):
        await shared.get()
    assert await shared.get() == 2


def test_scopes_a_change_advances_and_a_plan_reads() -> None:
    ws = Workspace("w1", "data", "u1", "alice", "private", "n", "node", "r", "b", "alice/data/", NOW)
    to_group = Share("s1", "w1", "group", "g1", "lab", Level.READ, "u1", NOW)
    assert revisions.share_changed(ws, to_group) == {"ref:alice/data", "name:data", "group:g1"}
    assert revisions.workspace_changed(ws, [to_group]) == {
        "ref:alice/data",
        "name:data",
        "user:u1",
        "group:g1",
    }
    public = dataclasses.replace(ws, type="public")
    assert "public" in revisions.workspace_changed(public)
    # `alice/data/x` reads as owner alice's data (path x) and as a workspace named alice (path data/x).
    assert revisions.read_by_references(["alice/data/x"]) == {"ref:alice/data", "name:alice"}
    assert revisions.read_by_references(["data"]) == {"name:data"}
    assert revisions.read_by_principal("u2", ["g1"]) == {"user:u2", "group:g1", "public"}


async def test_a_failed_issue_frees_its_key_lock_and_a_cached_set_keeps_it() -> None:
    cache = CredentialCache()
    failing, issued = CacheKey("u", "n", "failing"), CacheKey("u", "n", "issued")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            async with cache.issuing(failing):
                raise RuntimeError("STS refused")
    assert cache.lock_count == 0
    async with cache.issuing(issued):
        cache.put(issued, credentials("k", 900.0), 0.0, frozenset())
    assert cache.lock_count == 1
    # Concurrent first requests still wait for one another.
    order: list[str] = []

    async def issue(name: str) -> None:
        async with cache.issuing(failing):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(issue("a"), issue("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert cache.lock_count == 1
