"""A small in-process cache of answers from other services, kept fresh by events and a time limit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Answers kept for at most `ttl_seconds`; events call `forget` when an answer may have changed.

    An answer fetched while a `forget` happened is not stored: it may predate the change the event
    announced. The time limit bounds staleness should an event never arrive (NATS down).
    """

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[K, tuple[V, float]] = {}
        self._generation = 0

    async def get(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now < entry[1]:
            return entry[0]
        generation = self._generation
        value = await fetch()
        if generation == self._generation:
            self._entries[key] = (value, now + self.ttl_seconds)
        return value

    def forget(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
