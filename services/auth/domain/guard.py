"""Key exchanges under attack: argon2 checks (and hashes of new keys) on a few threads of their own,
and a limit on failed exchanges per (key id, client address).

argon2 is slow on purpose (19 MiB, two passes). Run on the event loop it stalls every other call of the
service; run without a bound, twenty wrong secrets at once take every core. So checks run on `threads`
threads, at most `max_waiting` more wait for one, and beyond that an exchange is refused at once as busy.

Failures are counted per key id *and* client address: a key id is no secret (it is in every token the
key was exchanged for), so counting per key id alone would let anyone lock its owner out.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from services.auth.domain import apikeys
from services.common.errors import RETRY_AFTER_KEY, DomainError, Reason

BUSY_RETRY_SECONDS = 1
T = TypeVar("T")


class KeyChecker:
    def __init__(self, threads: int = 1, max_waiting: int = 64) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._capacity = threads + max_waiting
        self._in_flight = 0

    async def matches(self, api_key: str, secret_hash: str) -> bool:
        return await self._run(apikeys.api_key_matches, api_key, secret_hash)

    async def hash(self, api_key: str) -> str:
        """The hash of a new key: as slow as a check, so made on the same threads."""
        return await self._run(apikeys.hash_api_key, api_key)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        if self._in_flight >= self._capacity:
            raise DomainError(
                Reason.AUTH_BUSY,
                f"too many key exchanges at once; retry in {BUSY_RETRY_SECONDS} s",
                **{RETRY_AFTER_KEY: str(BUSY_RETRY_SECONDS)},
            )
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class FailureLimiter:
    """At most `max_failures` failed exchanges per (key id, client) within `window_seconds`; a success
    from that client clears its count. Each attempt counts as failed from the moment it starts (and is
    taken back when it succeeds), so twenty attempts at once cannot all pass the check before the first
    has failed. Kept in memory (per instance), bounded to `max_tracked` pairs, the least recently tried
    forgotten first."""

    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 60.0,
        max_tracked: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, pair: tuple[str, str]) -> deque[float]:
        times = self._failures.get(pair)
        if times is None:
            return deque()
        cutoff = self._clock() - self.window_seconds
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[pair]
        return times

    def attempt(self, key_id: str, client: str) -> None:
        """Counts an attempt as failed until `succeeded`; TOO_MANY_ATTEMPTS, with the seconds until the
        oldest counted failure leaves the window, when the pair has no attempt left."""
        pair = (key_id, client)
        times = self._recent(pair)
        if len(times) >= self.max_failures:
            wait = max(1, math.ceil(times[0] + self.window_seconds - self._clock()))
            raise DomainError(
                Reason.TOO_MANY_ATTEMPTS,
                f"too many failed attempts with this API key from this address; retry in {wait} s",
                **{RETRY_AFTER_KEY: str(wait)},
            )
        times.append(self._clock())
        self._failures[pair] = times
        self._failures.move_to_end(pair)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, key_id: str, client: str) -> None:
        self._failures.pop((key_id, client), None)
