"""Which workspace a node's bucket/key belongs to: the node's workspace locations, asked of the
workspaces service and kept per node.

A node's list is loaded on first use and dropped when a workspace event says it changed. That event may
come after the first upload into a new workspace, so a key that maps to no workspace is only dropped
for good when the list was loaded after the change reached the gateway (a workspace exists before
anything is written into it). Otherwise the list is loaded again, at most once per
`miss_refresh_seconds` per node: a change that comes sooner waits for that turn, so a stream of changes
outside every workspace cannot make every one of them a listing call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.indexer.domain.models import Location
from services.indexer.domain.ports import WorkspacesDirectory


@dataclass(frozen=True)
class _NodeLocations:
    loaded_at: float  # monotonic, when the listing was asked for
    asked_at: float  # wall clock (epoch seconds), the same moment
    # bucket -> its workspaces, longest prefix first, so the first match is the most specific
    by_bucket: dict[str, tuple[Location, ...]]

    @classmethod
    def of(cls, locations: list[Location], loaded_at: float, asked_at: float) -> _NodeLocations:
        by_bucket: dict[str, list[Location]] = {}
        for location in locations:
            by_bucket.setdefault(location.bucket, []).append(location)
        longest_first = {
            bucket: tuple(sorted(found, key=lambda loc: len(loc.prefix), reverse=True))
            for bucket, found in by_bucket.items()
        }
        return cls(loaded_at, asked_at, longest_first)

    def find(self, bucket: str, key: str) -> Location | None:
        for location in self.by_bucket.get(bucket, ()):
            if key.startswith(location.prefix):
                return location
        return None


class LocationMap:
    def __init__(
        self,
        directory: WorkspacesDirectory,
        miss_refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.directory = directory
        self.miss_refresh_seconds = miss_refresh_seconds
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self._nodes: dict[str, _NodeLocations] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def find(self, node_id: str, bucket: str, key: str, received_at: float) -> Location | None:
        """The workspace holding the key (the longest prefix wins), or None when it is in none.
        `received_at` (epoch seconds) is when the change reached the gateway."""
        received_at = min(received_at, self.wall_clock())  # a clock ahead of this one cannot loop
        known = self._nodes.get(node_id)
        if known is None:
            known = await self._load(node_id, None)
        found = known.find(bucket, key)
        while found is None and known.asked_at <= received_at:
            wait = known.loaded_at + self.miss_refresh_seconds - self.clock()
            if wait > 0:
                await self.sleep(wait)
            known = await self._load(node_id, known)
            found = known.find(bucket, key)
        return found

    def known(self, node_id: str) -> list[Location]:
        """The node's locations as last loaded (none when not loaded), without asking."""
        known = self._nodes.get(node_id)
        return [loc for locs in known.by_bucket.values() for loc in locs] if known else []

    def forget(self, node_id: str | None = None) -> None:
        """Drop one node's list (or every one): the next event loads it again."""
        if node_id is None:
            self._nodes.clear()
        else:
            self._nodes.pop(node_id, None)

    async def _load(self, node_id: str, stale: _NodeLocations | None) -> _NodeLocations:
        lock = self._locks.setdefault(node_id, asyncio.Lock())
        async with lock:
            current = self._nodes.get(node_id)
            # Another event loaded it while this one waited: use that one.
            if current is not None and current is not stale:
                return current
            started, asked = self.clock(), self.wall_clock()
            loaded = _NodeLocations.of(await self.directory.locations(node_id), started, asked)
            self._nodes[node_id] = loaded
            return loaded
