"""The indexer's own crawl work: resume unfinished crawls at start and now and then (a node that was
down), and verify every root it has crawled once per interval. It acts as nobody (empty on_behalf_of)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from services.common.errors import DomainError
from services.common.tasks import cancel_and_wait
from services.indexer.domain.crawl import Crawler

log = logging.getLogger(__name__)

RootsDue = Callable[[datetime], Awaitable[list[str]]]


class CrawlSchedule:
    def __init__(
        self,
        crawler: Crawler,
        roots_due: RootsDue,
        verify_interval_seconds: float,
        retry_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crawler = crawler
        self.roots_due = roots_due
        self.verify_interval = verify_interval_seconds
        self.retry_seconds = retry_seconds
        self.now = now
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="crawl schedule")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self.crawler.close()

    async def tick(self) -> None:
        """Resume what did not finish, then verify the roots whose last verify is older than the interval,
        one after the other."""
        await self.crawler.resume_unfinished()
        if self.verify_interval <= 0:
            return
        for root_id in await self.roots_due(self.now() - timedelta(seconds=self.verify_interval)):
            try:
                run = await self.crawler.verify_root(root_id)
            except DomainError as error:
                log.warning("verify of root %s not started: %s %s", root_id, error.reason, error.message)
                continue
            await run.wait()

    async def _loop(self) -> None:
        wait = (
            min(self.retry_seconds, self.verify_interval) if self.verify_interval > 0 else self.retry_seconds
        )
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduled crawl work failed; trying again in %.0f s", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(wait)
