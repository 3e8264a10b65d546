"""Many storage events applied in one PostgreSQL transaction, with exactly the rules of
PgObjectIndex.apply (its statements, its per-key lock, its ordering of times and sequencers).

Why: each apply changes its workspace's counter row, which stays locked until commit, so applies of one
workspace run one after the other, each paying a commit (a WAL flush). At a few ms per flush that caps a
busy workspace at some tens of events per second; one transaction for what arrived meanwhile pays one.

Statements run in (workspace, extension, key) order, so the counter rows are locked in the same order as
PgObjectIndex's bulk statements lock them and the two cannot deadlock on them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.indexer.domain.models import ApplyResult, ObjectChange, ObjectRecord
from services.indexer.storage.pg_index import _APPLY_DELETE, _APPLY_MARKS, _APPLY_UPSERT, is_newer

Item = tuple[ObjectChange, ObjectRecord | None]


async def apply_in(conn: AsyncConnection, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
    """PgObjectIndex.apply's steps inside the caller's transaction."""
    key = {"node_id": change.node_id, "bucket": change.bucket, "key": change.key}
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
        {"lock": f"wio-object\n{change.node_id}\n{change.bucket}\n{change.key}"},
    )
    marks = (await conn.execute(text(_APPLY_MARKS), key)).one()
    if not (
        is_newer(change.occurred_at, change.sequencer, marks.record_at, marks.record_sequencer or "")
        and is_newer(change.occurred_at, change.sequencer, marks.tomb_at, marks.tomb_sequencer or "")
    ):
        return ApplyResult.STALE
    stamp = {"changed_at": change.occurred_at, "sequencer": change.sequencer}
    if change.deleted or record is None:
        await conn.execute(text(_APPLY_DELETE), {**key, **stamp})
        return ApplyResult.DELETED
    await conn.execute(
        text(_APPLY_UPSERT),
        {
            **key,
            **stamp,
            "workspace_id": record.workspace_id,
            "path": record.path,
            "name": record.name,
            "extension": record.extension,
            "size": record.size,
            "etag": record.etag,
            "modified_at": record.modified_at,
            "content_type": record.content_type,
        },
    )
    return ApplyResult.UPSERTED


def _order(item: Item) -> tuple[str, str, str, str, str]:
    change, record = item
    workspace, extension = (record.workspace_id, record.extension) if record is not None else ("", "")
    return (workspace, extension, change.node_id, change.bucket, change.key)


async def apply_many(engine: AsyncEngine, items: Sequence[Item]) -> list[ApplyResult]:
    """Each item's result, in the items' order; all or nothing (the caller retries them one by one)."""
    results: list[ApplyResult | None] = [None] * len(items)
    # sorted() is stable: two changes of one key keep their order of arrival (the times decide anyway).
    order = sorted(range(len(items)), key=lambda i: _order(items[i]))
    async with engine.begin() as conn:
        for i in order:
            results[i] = await apply_in(conn, *items[i])
    return [r for r in results if r is not None]


class PgBatchApplier:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __call__(self, items: Sequence[Item]) -> list[ApplyResult]:
        return await apply_many(self.engine, items)
