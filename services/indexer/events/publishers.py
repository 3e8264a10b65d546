"""The indexer's events, written to the outbox inside the transaction that records a crawl's results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.outbox import Outbox
from services.indexer.domain.crawl import WorkspaceOutcome
from services.indexer.domain.models import WriteCounts
from services.indexer.domain.ports import Crawl
from wio.indexer.v1 import events_pb2

CRAWL_STARTED = "wio.indexer.crawl.started"
CRAWL_FINISHED = "wio.indexer.crawl.finished"
CRAWL_FAILED = "wio.indexer.crawl.failed"
DRIFT_FOUND = "wio.indexer.drift.found"


def _scope(crawl: Crawl) -> events_pb2.CrawlScope:
    return events_pb2.CrawlScope(
        root_id=crawl.root_id, workspace_id=crawl.workspace_id, node_id=crawl.node_id
    )


class OutboxCrawlEvents:
    """The indexer's own scheduled work has no acting user: the events then carry none."""

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox

    async def started(self, crawl: Crawl) -> None:
        event = events_pb2.CrawlStartedEvent(
            crawl_id=crawl.id, scope=_scope(crawl), kind=crawl.kind, resumed_after=crawl.resume_after
        )
        await self.outbox.add(self.session, CRAWL_STARTED, event)

    async def finished(
        self, crawl: Crawl, objects: int, bytes_: int, counts: WriteCounts, removed: int
    ) -> None:
        event = events_pb2.CrawlFinishedEvent(
            crawl_id=crawl.id,
            scope=_scope(crawl),
            kind=crawl.kind,
            objects=objects,
            bytes=bytes_,
            added=counts.added,
            changed=counts.changed,
            removed=removed,
        )
        await self.outbox.add(self.session, CRAWL_FINISHED, event)

    async def failed(self, crawl: Crawl, reason: str, message: str) -> None:
        event = events_pb2.CrawlFailedEvent(
            crawl_id=crawl.id, scope=_scope(crawl), kind=crawl.kind, reason=reason, message=message
        )
        await self.outbox.add(self.session, CRAWL_FAILED, event)

    async def drift_found(self, crawl: Crawl, outcome: WorkspaceOutcome, verified_at: datetime) -> None:
        event = events_pb2.DriftFoundEvent(
            crawl_id=crawl.id,
            root_id=outcome.root_id or crawl.root_id,
            workspace_id=outcome.workspace_id,
            added=outcome.added,
            changed=outcome.changed,
            removed=outcome.removed,
        )
        event.verified_at.FromDatetime(verified_at)
        await self.outbox.add(self.session, DRIFT_FOUND, event)
