"""Per-workspace crawl results (the CrawlRecords port) over the ledger's tables, and the outbox writer of
the crawl events."""

# ruff: noqa: S608 - statements are built only from this module's constants; every value is bound.

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import SessionFactory
from services.common.outbox import Outbox
from services.indexer.domain.crawl import WorkspaceOutcome, WorkspaceStatus
from services.indexer.domain.models import WriteCounts
from services.indexer.events.publishers import OutboxCrawlEvents

S = "indexer"

_STATUSES = f"""
SELECT workspace_id::text AS workspace_id, crawled_at, verified_at, drift_added, drift_changed, drift_removed,
       state
FROM {S}.index_status WHERE workspace_id = ANY(CAST(:ids AS uuid[]))
"""

# Roots crawled here whose last whole-root crawl or verify finished before :before, or never finished.
_ROOTS_DUE = f"""
SELECT root_id FROM {S}.crawls
GROUP BY root_id
HAVING coalesce(max(finished_at) FILTER (WHERE state = 'finished' AND workspace_id = ''), '-infinity')
       < :before
ORDER BY root_id
"""


class WorkspaceStatusWriter(Protocol):
    async def workspace_status(
        self, workspace_id: str, kind: str, counts: WriteCounts, removed: int
    ) -> None: ...


class SqlCrawlRecords:
    def __init__(self, engine: AsyncEngine, ledger: WorkspaceStatusWriter) -> None:
        self.engine = engine
        self.ledger = ledger

    async def workspace_finished(self, kind: str, outcome: WorkspaceOutcome) -> None:
        counts = WriteCounts(added=outcome.added, changed=outcome.changed)
        await self.ledger.workspace_status(outcome.workspace_id, kind, counts, outcome.removed)

    async def statuses(self, workspace_ids: Sequence[str]) -> dict[str, WorkspaceStatus]:
        if not workspace_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(_STATUSES), {"ids": list(workspace_ids)})).all()
        return {
            row.workspace_id: WorkspaceStatus(
                row.workspace_id,
                row.crawled_at,
                row.verified_at,
                int(row.drift_added),
                int(row.drift_changed),
                int(row.drift_removed),
                row.state,
            )
            for row in rows
        }

    async def roots_due(self, before: datetime) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(_ROOTS_DUE), {"before": before})
            return [str(root) for root in rows.scalars()]


def events_writer(
    sessions: SessionFactory, outbox: Outbox
) -> Callable[[], AbstractAsyncContextManager[OutboxCrawlEvents]]:
    """Each use writes its events in a transaction of its own; the relay publishes them after it."""

    @asynccontextmanager
    async def write() -> AsyncIterator[OutboxCrawlEvents]:
        async with sessions() as session, session.begin():
            yield OutboxCrawlEvents(session, outbox)
        outbox.poke()

    return write
