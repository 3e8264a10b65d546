"""The crawl ledger in PostgreSQL: one row per crawl or verify, its continuation point, and the per-workspace
index status that `wio index status` shows."""

# ruff: noqa: S608 - statements are built only from this module's constants; every value is bound.

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.indexer.domain.models import WriteCounts
from services.indexer.domain.ports import Crawl

S = "indexer"
_CRAWL_COLUMNS = (
    "id, kind, root_id, workspace_id, node_id, bucket, prefix, generation, started_at, resume_after, "
    "objects, bytes"
)

_BEGIN = f"""
INSERT INTO {S}.crawls AS c (id, kind, root_id, workspace_id, node_id, bucket, prefix, generation, state,
                             started_at)
VALUES (CAST(:id AS uuid), :kind, :root_id, :workspace_id, CAST(:node_id AS uuid), :bucket, :prefix,
        nextval('{S}.crawl_generation'), 'running', now())
ON CONFLICT (kind, root_id, workspace_id) WHERE state = 'running'
DO UPDATE SET attempts = c.attempts + 1
RETURNING {_CRAWL_COLUMNS}
"""

_STATUS = f"""
INSERT INTO {S}.index_status AS s (workspace_id, state, updated_at)
VALUES (CAST(:workspace_id AS uuid), :state, now())
ON CONFLICT (workspace_id) DO UPDATE SET state = excluded.state, updated_at = now()
"""

_FINISHED_STATUS = f"""
INSERT INTO {S}.index_status AS s (workspace_id, crawled_at, verified_at, drift_added, drift_changed,
                                   drift_removed, state, updated_at)
VALUES (CAST(:workspace_id AS uuid), now(), CASE WHEN :verify THEN now() END,
        :added, :changed, :removed, 'idle', now())
ON CONFLICT (workspace_id) DO UPDATE SET
    crawled_at = now(),
    verified_at = CASE WHEN :verify THEN now() ELSE s.verified_at END,
    drift_added = CASE WHEN :verify THEN excluded.drift_added ELSE s.drift_added END,
    drift_changed = CASE WHEN :verify THEN excluded.drift_changed ELSE s.drift_changed END,
    drift_removed = CASE WHEN :verify THEN excluded.drift_removed ELSE s.drift_removed END,
    state = 'idle', updated_at = now()
"""


def _crawl(row: Any) -> Crawl:
    return Crawl(
        id=str(row.id),
        kind=row.kind,
        root_id=row.root_id,
        workspace_id=row.workspace_id,
        node_id=str(row.node_id),
        bucket=row.bucket,
        prefix=row.prefix,
        generation=int(row.generation),
        started_at=row.started_at,
        resume_after=row.resume_after,
        objects=int(row.objects),
        bytes=int(row.bytes),
    )


class PgCrawlLedger:
    """CrawlLedger over the indexer's schema. A root crawl (workspace_id "") records no workspace status;
    its caller records each workspace's with `workspace_status`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def begin(
        self, kind: str, root_id: str, workspace_id: str, node_id: str, bucket: str, prefix: str
    ) -> Crawl:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    text(_BEGIN),
                    {
                        "id": str(uuid.uuid4()),
                        "kind": kind,
                        "root_id": root_id,
                        "workspace_id": workspace_id,
                        "node_id": node_id,
                        "bucket": bucket,
                        "prefix": prefix,
                    },
                )
            ).one()
            if workspace_id:
                await conn.execute(text(_STATUS), {"workspace_id": workspace_id, "state": "crawling"})
        return _crawl(row)

    async def checkpoint(self, crawl_id: str, after_key: str, objects: int, bytes_: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    f"UPDATE {S}.crawls SET resume_after = :after, objects = :objects, bytes = :bytes, "
                    "checkpoint_at = now() WHERE id = CAST(:id AS uuid) AND state = 'running'"
                ),
                {"id": crawl_id, "after": after_key, "objects": objects, "bytes": bytes_},
            )

    async def finish(self, crawl: Crawl, counts: WriteCounts, removed: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text(
                    f"UPDATE {S}.crawls SET state = 'finished', finished_at = now(), added = :added, "
                    "changed = :changed, removed = :removed WHERE id = CAST(:id AS uuid)"
                ),
                {"id": crawl.id, "added": counts.added, "changed": counts.changed, "removed": removed},
            )
            if crawl.workspace_id:
                await self._finished_status(conn, crawl.workspace_id, crawl.kind, counts, removed)

    async def workspace_status(self, workspace_id: str, kind: str, counts: WriteCounts, removed: int) -> None:
        """A workspace crawled (or verified, with its drift) now, e.g. within a root crawl."""
        async with self._engine.begin() as conn:
            await self._finished_status(conn, workspace_id, kind, counts, removed)

    @staticmethod
    async def _finished_status(
        conn: Any, workspace_id: str, kind: str, counts: WriteCounts, removed: int
    ) -> None:
        await conn.execute(
            text(_FINISHED_STATUS),
            {
                "workspace_id": workspace_id,
                "verify": kind == "verify",
                "added": counts.added,
                "changed": counts.changed,
                "removed": removed,
            },
        )

    async def fail(self, crawl_id: str, reason: str) -> None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        f"UPDATE {S}.crawls SET state = 'failed', finished_at = now(), error = :reason "
                        "WHERE id = CAST(:id AS uuid) AND state = 'running' RETURNING workspace_id"
                    ),
                    {"id": crawl_id, "reason": reason[:1000]},
                )
            ).first()
            if row is not None and row.workspace_id:
                await conn.execute(
                    text(_STATUS), {"workspace_id": row.workspace_id, "state": f"failed: {reason}"[:300]}
                )

    async def unfinished(self) -> list[Crawl]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT {_CRAWL_COLUMNS} FROM {S}.crawls WHERE state = 'running' ORDER BY started_at"
                    )
                )
            ).all()
        return [_crawl(row) for row in rows]
