"""Many storage events applied in one PostgreSQL transaction, with exactly the rules of
PgObjectIndex.apply (its statements, its per-key lock, its ordering of times and sequencers).

Why: each apply changes its workspace's counter row, which stays locked until commit, so applies of one
workspace run one after the other, each paying a commit (a WAL flush). At a few ms per flush that caps a
busy workspace at some tens of events per second; one transaction for what arrived meanwhile pays one.

Writes run in (workspace, extension, key) order, so the counter rows are locked in the same order as
PgObjectIndex's bulk statements lock them, and the keys' locks are taken in key order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.indexer.domain.models import ApplyResult, ObjectChange, ObjectRecord
from services.indexer.storage.pg_index import APPLY_DELETE, APPLY_UPSERT, is_newer

Item = tuple[ObjectChange, ObjectRecord | None]


_LOCK_ALL = """
SELECT count(pg_advisory_xact_lock(hashtextextended(l, 0)))
FROM (SELECT l FROM unnest(CAST(:locks AS text[])) AS l ORDER BY l) AS locks
"""

_MARKS_ALL = """
SELECT k.i, o.changed_at AS record_at, o.sequencer AS record_sequencer,
       t.deleted_at AS tomb_at, t.sequencer AS tomb_sequencer
FROM unnest(CAST(:node_ids AS uuid[]), CAST(:buckets AS text[]), CAST(:keys AS text[]))
     WITH ORDINALITY AS k(node_id, bucket, key, i)
LEFT JOIN indexer.objects AS o ON o.node_id = k.node_id AND o.bucket = k.bucket AND o.key = k.key
LEFT JOIN indexer.tombstones AS t ON t.node_id = k.node_id AND t.bucket = k.bucket AND t.key = k.key
"""


def _lock_name(change: ObjectChange) -> str:
    return f"wio-object\n{change.node_id}\n{change.bucket}\n{change.key}"


def _order(item: Item) -> tuple[str, str, str, str, str]:
    change, record = item
    workspace, extension = (record.workspace_id, record.extension) if record is not None else ("", "")
    return (workspace, extension, change.node_id, change.bucket, change.key)


def _upsert_params(change: ObjectChange, record: ObjectRecord) -> dict[str, Any]:
    return {
        "node_id": change.node_id,
        "bucket": change.bucket,
        "key": change.key,
        "changed_at": change.occurred_at,
        "sequencer": change.sequencer,
        "workspace_id": record.workspace_id,
        "path": record.path,
        "name": record.name,
        "extension": record.extension,
        "size": record.size,
        "etag": record.etag,
        "modified_at": record.modified_at,
        "content_type": record.content_type,
    }


async def apply_many(engine: AsyncEngine, items: Sequence[Item]) -> list[ApplyResult]:
    """Each item's result, in the items' order; all or nothing (the caller retries them one by one).

    The same outcome as PgObjectIndex.apply on each item in turn, in a few round trips: lock every key
    (the same per-key lock), read every key's marks at once, decide in order of arrival which changes
    are newer than the marks (the changes before them included), and write only each key's last such
    change, since a change replaces all that a key's record or tombstone says (the counters follow from
    the state before and after)."""
    keys = sorted({(c.node_id, c.bucket, c.key) for c, _ in items})
    index_of = {key: i for i, key in enumerate(keys)}
    results: list[ApplyResult] = []
    async with engine.begin() as conn:
        await conn.execute(
            text(_LOCK_ALL), {"locks": [_lock_name(ObjectChange(n, b, k, True, _EPOCH)) for n, b, k in keys]}
        )
        rows = await conn.execute(
            text(_MARKS_ALL),
            {
                "node_ids": [n for n, _, _ in keys],
                "buckets": [b for _, b, _ in keys],
                "keys": [k for _, _, k in keys],
            },
        )
        # Per key: (record time, record sequencer, tombstone time, tombstone sequencer), as they stand.
        marks: dict[int, list[Any]] = {
            int(r.i) - 1: [r.record_at, r.record_sequencer or "", r.tomb_at, r.tomb_sequencer or ""]
            for r in rows
        }
        last: dict[int, Item] = {}
        for change, record in items:
            i = index_of[(change.node_id, change.bucket, change.key)]
            record_at, record_seq, tomb_at, tomb_seq = marks[i]
            at, seq = change.occurred_at, change.sequencer
            if not (is_newer(at, seq, record_at, record_seq) and is_newer(at, seq, tomb_at, tomb_seq)):
                results.append(ApplyResult.STALE)
                continue
            if change.deleted or record is None:
                marks[i] = [None, "", at, seq]
                results.append(ApplyResult.DELETED)
            else:
                marks[i] = [at, seq, None, ""]
                results.append(ApplyResult.UPSERTED)
            last[i] = (change, record)
        winners = sorted(last.values(), key=_order)
        upserts = [_upsert_params(c, r) for c, r in winners if r is not None and not c.deleted]
        deletes = [
            {
                "node_id": c.node_id,
                "bucket": c.bucket,
                "key": c.key,
                "changed_at": c.occurred_at,
                "sequencer": c.sequencer,
            }
            for c, r in winners
            if r is None or c.deleted
        ]
        if deletes:
            await conn.execute(text(APPLY_DELETE), deletes)
        if upserts:
            await conn.execute(text(APPLY_UPSERT), upserts)
    return results


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PgBatchApplier:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __call__(self, items: Sequence[Item]) -> list[ApplyResult]:
        return await apply_many(self.engine, items)
