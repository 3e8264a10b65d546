"""Per-workspace results of crawls and verifies (the CrawlRecords port), and the unit of work that commits
them with the crawl's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import SessionFactory
from services.common.outbox import Outbox
from services.common.unit_of_work import SqlTransactions
from services.indexer.domain.crawl import VERIFY, WorkspaceOutcome, WorkspaceStatus
from services.indexer.events.publishers import OutboxCrawlEvents
from services.indexer.storage.tables import workspace_crawls as t


class SqlCrawlRecords:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def finished(
        self, kind: str, at: datetime, outcomes: Sequence[WorkspaceOutcome], whole_root: str = ""
    ) -> None:
        for outcome in sorted(outcomes, key=lambda o: o.workspace_id):  # one lock order for all writers
            values: dict[str, Any] = {"root_id": outcome.root_id, "node_id": outcome.node_id, "failure": ""}
            values["crawled_at"] = at
            if kind == VERIFY:
                values.update(
                    verified_at=at,
                    drift_added=outcome.added,
                    drift_changed=outcome.changed,
                    drift_removed=outcome.removed,
                )
            statement = insert(t).values(
                workspace_id=outcome.workspace_id,
                **{"drift_added": 0, "drift_changed": 0, "drift_removed": 0, **values},
            )
            await self.session.execute(
                statement.on_conflict_do_update(index_elements=[t.c.workspace_id], set_=values)
            )
        if whole_root:
            # Workspaces of the root that the crawl no longer found are no longer reported.
            keep = [o.workspace_id for o in outcomes]
            await self.session.execute(
                t.delete().where(t.c.root_id == whole_root, t.c.workspace_id.not_in(keep))
            )

    async def failed(self, root_id: str, node_id: str, workspace_ids: Sequence[str], failure: str) -> None:
        for workspace_id in sorted(workspace_ids):
            statement = insert(t).values(
                workspace_id=workspace_id,
                root_id=root_id,
                node_id=node_id,
                drift_added=0,
                drift_changed=0,
                drift_removed=0,
                failure=failure[:500],
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[t.c.workspace_id], set_={"failure": failure[:500]}
                )
            )

    async def statuses(self, workspace_ids: Sequence[str]) -> dict[str, WorkspaceStatus]:
        if not workspace_ids:
            return {}
        rows = await self.session.execute(select(t).where(t.c.workspace_id.in_(list(workspace_ids))))
        return {
            row.workspace_id: WorkspaceStatus(
                row.workspace_id,
                row.root_id,
                row.crawled_at,
                row.verified_at,
                row.drift_added,
                row.drift_changed,
                row.drift_removed,
                row.failure,
            )
            for row in rows
        }

    async def roots_due(self, verified_before: datetime) -> list[str]:
        # A crawl of the whole root is as fresh as a verify (a verify sets crawled_at too).
        oldest = func.min(func.coalesce(t.c.crawled_at, datetime.min.replace(tzinfo=verified_before.tzinfo)))
        rows = await self.session.execute(
            select(t.c.root_id).group_by(t.c.root_id).having(oldest < verified_before).order_by(t.c.root_id)
        )
        return [str(r) for r in rows.scalars()]


def crawl_transactions(
    sessions: SessionFactory, outbox: Outbox, reads: SessionFactory
) -> SqlTransactions[SqlCrawlRecords, OutboxCrawlEvents]:
    return SqlTransactions(sessions, outbox, SqlCrawlRecords, OutboxCrawlEvents, reads)
