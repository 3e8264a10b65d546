"""What credential requests keep for reuse: the plan a request resolved to (which workspaces, which
policies) and the credential sets issued for each policy; and their eviction when rights change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from services.workspaces.domain.models import Level, Workspace
from services.workspaces.domain.ports import IssuedCredentials
from services.workspaces.domain.revisions import RightsRead

# Bounds memory: every distinct request and policy is an entry.
MAX_ENTRIES = 10_000


def _still_to_free(max_entries: int, size: int) -> int:
    """How many more entries to drop so that a tenth of the room is free."""
    return max(0, max(1, max_entries // 10) - (max_entries - size))


# A cached credential set is handed out again until two thirds of its lifetime have passed, so whoever
# receives it still has at least a third of the lifetime to use it.
REUSE_FRACTION = 2 / 3


@dataclass(frozen=True)
class CacheKey:
    """One user's credentials on one node for one exact session policy (sha256 of its text)."""

    user_id: str
    node_id: str
    policy_digest: str


@dataclass(frozen=True)
class _Entry:
    credentials: IssuedCredentials
    reuse_until: float
    workspace_ids: frozenset[str]


class CredentialCache:
    """Keyed by the exact policy: rights that changed give another policy and so another key, so a
    revoked share can never be served from here even before its event arrives. The events evict what
    can no longer be asked for (share, membership, user, node and workspace changes)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[CacheKey, _Entry] = {}
        self._locks: dict[CacheKey, asyncio.Lock] = {}
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> IssuedCredentials | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.reuse_until:
            self._drop(key)
            return None
        return entry.credentials

    def put(
        self, key: CacheKey, credentials: IssuedCredentials, issued_at: float, workspace_ids: frozenset[str]
    ) -> None:
        lifetime = max(0.0, credentials.expires_at - issued_at)
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._make_room(issued_at)
        self._entries[key] = _Entry(credentials, issued_at + lifetime * REUSE_FRACTION, workspace_ids)

    @contextlib.asynccontextmanager
    async def issuing(self, key: CacheKey) -> AsyncIterator[None]:
        """One STS call per key at a time: concurrent first requests share its result. A key's lock is
        kept while a set is cached under it (and goes with it); otherwise, e.g. when the call failed, it
        is freed as soon as nobody holds it, so failing keys do not pile up."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and key not in self._entries and self._locks.get(key) is lock:
                del self._locks[key]

    @property
    def lock_count(self) -> int:
        return len(self._locks)

    def _make_room(self, now: float) -> None:
        """Sets past their reuse time go first, then the oldest, a tenth at least, so a full cache is not
        scanned again on every put. A dropped set is only issued again."""
        self._drop_where(lambda _key, entry: entry.reuse_until <= now)
        for key in list(self._entries)[: _still_to_free(self.max_entries, len(self._entries))]:
            self._drop(key)

    def _drop(self, key: CacheKey) -> None:
        self._entries.pop(key, None)
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]

    def _drop_where(self, matches: Callable[[CacheKey, _Entry], bool]) -> int:
        doomed = [key for key, entry in self._entries.items() if matches(key, entry)]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def forget_users(self, user_ids: set[str]) -> int:
        return self._drop_where(lambda key, _entry: key.user_id in user_ids)

    def forget_node(self, node_id: str) -> int:
        return self._drop_where(lambda key, _entry: key.node_id == node_id)

    def forget_workspace(self, workspace_id: str) -> int:
        return self._drop_where(lambda _key, entry: workspace_id in entry.workspace_ids)

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._locks.clear()
        return count


@dataclass(frozen=True)
class PlannedSet:
    """One session policy of a plan: the node, the policy and the workspaces (with levels) it covers."""

    node_id: str
    node_name: str
    policy_text: str
    policy_digest: str
    policy_size_limit: int
    scopes: tuple[tuple[Workspace, Level], ...]


@dataclass(frozen=True)
class Plan(RightsRead):
    """What a credential request resolved to, and (as a RightsRead) everything the resolution read, so a
    later identical request can tell whether it would resolve the same way without reading it all again."""

    sets: tuple[PlannedSet, ...]


@dataclass(frozen=True)
class PlanKey:
    user_id: str
    references: tuple[str, ...]
    node: str


class PlanCache:
    """Plans of recent credential requests. An entry is only a shortcut: it is used when the rights
    revisions it read are unchanged, no share it read has expired since, and the caller is in the same
    groups it read, so it never answers differently from a fresh resolution."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._plans: dict[PlanKey, Plan] = {}
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, key: PlanKey) -> Plan | None:
        return self._plans.get(key)

    def put(self, key: PlanKey, plan: Plan) -> None:
        self._plans.pop(key, None)
        if len(self._plans) >= self.max_entries:
            # The oldest go, a tenth at least (see CredentialCache); a dropped plan is only made again.
            for k in list(self._plans)[: _still_to_free(self.max_entries, len(self._plans))]:
                del self._plans[k]
        self._plans[key] = plan

    def forget_node(self, node_id: str) -> int:
        doomed = [k for k, p in self._plans.items() if any(s.node_id == node_id for s in p.sets)]
        for k in doomed:
            del self._plans[k]
        return len(doomed)

    def clear(self) -> int:
        count = len(self._plans)
        self._plans.clear()
        return count
