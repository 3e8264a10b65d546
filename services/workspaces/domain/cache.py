"""Issued credential sets kept for reuse, and their eviction when rights change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from services.workspaces.domain.ports import IssuedCredentials

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

    def __init__(self) -> None:
        self._entries: dict[CacheKey, _Entry] = {}
        self._locks: dict[CacheKey, asyncio.Lock] = {}

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
        self._entries[key] = _Entry(credentials, issued_at + lifetime * REUSE_FRACTION, workspace_ids)

    def lock(self, key: CacheKey) -> asyncio.Lock:
        """One STS call per key at a time: concurrent first requests share its result."""
        return self._locks.setdefault(key, asyncio.Lock())

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
