"""The object index in PostgreSQL (the default backend).

Counters change in the same statement as the records they count. Every statement that changes records
locks them in (node, bucket, key) order and then the counter rows in (workspace, extension) order, so
concurrent writers, events and sweeps wait for each other but never deadlock."""

# ruff: noqa: S608 - statements are built only from this module's constants; every value is bound.

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.common.db import HIDE_PARAMETERS
from services.indexer.domain.models import (
    ApplyResult,
    ObjectChange,
    ObjectRecord,
    SearchPage,
    SearchQuery,
    SortField,
    Totals,
    WriteCounts,
)
from services.indexer.domain.querytext import Term, TermKind, parse

S = "indexer"
DEADLOCK = "40P01"
DEADLOCK_RETRIES = 3
COLUMNS = "node_id, bucket, key, workspace_id, path, name, extension, size, etag, modified_at, content_type"

# Adds the deltas in `deltas(workspace_id, extension, objects, bytes)` to the counters: per workspace and
# extension, then per workspace, each in key order.
_COUNT = f"""
summed AS (
    SELECT workspace_id, extension, sum(objects) AS objects, sum(bytes) AS bytes FROM deltas
    GROUP BY workspace_id, extension
    HAVING sum(objects) <> 0 OR sum(bytes) <> 0
),
counted AS (
    INSERT INTO {S}.counters AS c (workspace_id, extension, objects, bytes)
    SELECT workspace_id, extension, objects, bytes FROM summed ORDER BY workspace_id, extension
    ON CONFLICT (workspace_id, extension)
    DO UPDATE SET objects = c.objects + excluded.objects, bytes = c.bytes + excluded.bytes
    RETURNING 1
),
workspace_counted AS (
    INSERT INTO {S}.workspace_counters AS c (workspace_id, objects, bytes)
    SELECT workspace_id, sum(objects), sum(bytes) FROM summed
    -- after the per-extension rows: the same lock order in every statement
    WHERE (SELECT count(*) FROM counted) >= 0
    GROUP BY workspace_id ORDER BY workspace_id
    ON CONFLICT (workspace_id)
    DO UPDATE SET objects = c.objects + excluded.objects, bytes = c.bytes + excluded.bytes
)"""

# What the listing changes when it differs from the record and is not older than what the record says
# (an event newer than the listing keeps its content; the generation is marked either way).
_CONTENT = ("workspace_id", "path", "name", "extension", "size", "etag", "modified_at")
_DIFFERS = (
    "((o.workspace_id, o.path, o.size, o.etag, o.modified_at) IS DISTINCT FROM "
    "(excluded.workspace_id, excluded.path, excluded.size, excluded.etag, excluded.modified_at) "
    "AND excluded.modified_at >= o.changed_at)"
)
_SET_CONTENT = ",\n        ".join(
    f"{column} = CASE WHEN {_DIFFERS} THEN excluded.{column} ELSE o.{column} END" for column in _CONTENT
)

_WRITE = f"""
WITH input AS (
    SELECT t.* FROM unnest(
        CAST(:node_ids AS uuid[]), CAST(:buckets AS text[]), CAST(:keys AS text[]),
        CAST(:workspace_ids AS uuid[]), CAST(:paths AS text[]), CAST(:names AS text[]),
        CAST(:extensions AS text[]), CAST(:sizes AS bigint[]), CAST(:etags AS text[]),
        CAST(:modified AS timestamptz[]), CAST(:content_types AS text[])
    ) AS t({COLUMNS})
    -- a key deleted after this listing saw it stays deleted
    WHERE NOT EXISTS (
        SELECT 1 FROM {S}.tombstones d
        WHERE d.node_id = t.node_id AND d.bucket = t.bucket AND d.key = t.key
          AND d.deleted_at > t.modified_at
    )
),
-- The records the listing finds as they are (most of them, on a crawl that repeats): locked in key
-- order, and then only marked with the generation. That update changes no indexed column and leaves
-- room on the page (fillfactor), so it touches no index and recomputes no words.
same AS (
    SELECT o.node_id, o.bucket, o.key FROM {S}.objects o JOIN input i USING (node_id, bucket, key)
    WHERE NOT {_DIFFERS.replace("excluded.", "i.")}
      AND (i.content_type = '' OR i.content_type = o.content_type)
    ORDER BY o.node_id, o.bucket, o.key
    FOR UPDATE OF o
),
marked AS (
    UPDATE {S}.objects o SET generation = :generation FROM same s
    WHERE o.node_id = s.node_id AND o.bucket = s.bucket AND o.key = s.key AND o.generation < :generation
),
written AS (
    INSERT INTO {S}.objects AS o ({COLUMNS}, generation, updated_at, changed_at)
    SELECT {COLUMNS}, :generation, now(), modified_at FROM input i
    WHERE NOT EXISTS (
        SELECT 1 FROM same s WHERE s.node_id = i.node_id AND s.bucket = i.bucket AND s.key = i.key
    )
    ORDER BY node_id, bucket, key
    ON CONFLICT (node_id, bucket, key) DO UPDATE SET
        {_SET_CONTENT},
        content_type = CASE WHEN excluded.content_type <> '' THEN excluded.content_type
                       ELSE o.content_type END,
        updated_at = CASE WHEN {_DIFFERS} THEN now() ELSE o.updated_at END,
        changed_at = CASE WHEN {_DIFFERS} THEN excluded.changed_at ELSE o.changed_at END,
        sequencer = CASE WHEN {_DIFFERS} THEN '' ELSE o.sequencer END,
        generation = GREATEST(o.generation, excluded.generation)
    RETURNING old.node_id IS NULL AS added,
        old.node_id IS NOT NULL AND (old.workspace_id, old.path, old.size, old.etag, old.modified_at)
            IS DISTINCT FROM (new.workspace_id, new.path, new.size, new.etag, new.modified_at) AS changed,
        old.workspace_id AS old_workspace_id, old.extension AS old_extension, old.size AS old_size,
        new.workspace_id AS new_workspace_id, new.extension AS new_extension, new.size AS new_size
),
deltas AS (
    SELECT new_workspace_id AS workspace_id, new_extension AS extension, 1 AS objects, new_size AS bytes
    FROM written
    UNION ALL
    SELECT old_workspace_id, old_extension, -1, -old_size FROM written WHERE old_workspace_id IS NOT NULL
),
{_COUNT}
SELECT count(*) FILTER (WHERE added) AS added, count(*) FILTER (WHERE changed) AS changed FROM written
"""


def _delete_sql(where: str) -> str:
    """Deletes the records matching `where` (over alias o), locked in key order, and counts them out."""
    return f"""
WITH doomed AS (
    SELECT node_id, bucket, key FROM {S}.objects o WHERE {where}
    ORDER BY node_id, bucket, key FOR UPDATE
),
gone AS (
    DELETE FROM {S}.objects o USING doomed d
    WHERE o.node_id = d.node_id AND o.bucket = d.bucket AND o.key = d.key
    RETURNING o.workspace_id, o.extension, o.size
),
deltas AS (SELECT workspace_id, extension, -1 AS objects, -size AS bytes FROM gone),
{_COUNT}
SELECT count(*) FROM gone
"""


_UNDER_PREFIX = "o.node_id = CAST(:node_id AS uuid) AND o.bucket = :bucket AND o.key >= :prefix"
_SWEEP = _delete_sql(
    f"{_UNDER_PREFIX} AND (:prefix_end = '' OR o.key < :prefix_end) "
    "AND o.generation < :generation AND o.updated_at < :started_at"
)
_FORGET_PREFIX = _delete_sql(f"{_UNDER_PREFIX} AND (:prefix_end = '' OR o.key < :prefix_end)")
_FORGET_WORKSPACE = _delete_sql("o.workspace_id = CAST(:workspace_id AS uuid)")
_FORGET_NODE = _delete_sql("o.node_id = CAST(:node_id AS uuid)")

# The statements of one storage event; pg_apply.py runs the same ones for many events in one transaction.
APPLY_UPSERT = f"""
WITH written AS (
    INSERT INTO {S}.objects AS o ({COLUMNS}, generation, updated_at, changed_at, sequencer)
    VALUES (CAST(:node_id AS uuid), :bucket, :key, CAST(:workspace_id AS uuid), :path, :name, :extension,
            :size, :etag, :modified_at, :content_type, 0, now(), :changed_at, :sequencer)
    ON CONFLICT (node_id, bucket, key) DO UPDATE SET
        workspace_id = excluded.workspace_id, path = excluded.path, name = excluded.name,
        extension = excluded.extension, size = excluded.size, etag = excluded.etag,
        modified_at = excluded.modified_at,
        content_type = CASE WHEN excluded.content_type <> '' THEN excluded.content_type
                       ELSE o.content_type END,
        updated_at = now(), changed_at = excluded.changed_at, sequencer = excluded.sequencer
    RETURNING old.workspace_id AS old_workspace_id, old.extension AS old_extension, old.size AS old_size,
        new.workspace_id AS new_workspace_id, new.extension AS new_extension, new.size AS new_size
),
untombed AS (
    DELETE FROM {S}.tombstones
    WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key
),
deltas AS (
    SELECT new_workspace_id AS workspace_id, new_extension AS extension, 1 AS objects, new_size AS bytes
    FROM written
    UNION ALL
    SELECT old_workspace_id, old_extension, -1, -old_size FROM written WHERE old_workspace_id IS NOT NULL
),
{_COUNT}
SELECT 1
"""

APPLY_DELETE = f"""
WITH gone AS (
    DELETE FROM {S}.objects
    WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key
    RETURNING workspace_id, extension, size
),
tombed AS (
    INSERT INTO {S}.tombstones AS t (node_id, bucket, key, deleted_at, sequencer)
    VALUES (CAST(:node_id AS uuid), :bucket, :key, :changed_at, :sequencer)
    ON CONFLICT (node_id, bucket, key)
    DO UPDATE SET deleted_at = excluded.deleted_at, sequencer = excluded.sequencer
),
deltas AS (SELECT workspace_id, extension, -1 AS objects, -size AS bytes FROM gone),
{_COUNT}
SELECT 1
"""

_APPLY_MARKS = f"""
SELECT (SELECT changed_at FROM {S}.objects
        WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key) AS record_at,
       (SELECT sequencer FROM {S}.objects
        WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key) AS record_sequencer,
       (SELECT deleted_at FROM {S}.tombstones
        WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key) AS tomb_at,
       (SELECT sequencer FROM {S}.tombstones
        WHERE node_id = CAST(:node_id AS uuid) AND bucket = :bucket AND key = :key) AS tomb_sequencer
"""


def _sequencer_order(value: str) -> tuple[int, str]:
    # MinIO's sequencers are hexadecimal: a longer one is a larger number.
    return (len(value), value.upper())


def is_newer(at: datetime, sequencer: str, than_at: datetime | None, than_sequencer: str) -> bool:
    """Whether a change (time, sequencer) comes after a mark; the sequencers decide when both have one."""
    if than_at is None:
        return True
    if sequencer and than_sequencer:
        return _sequencer_order(sequencer) > _sequencer_order(than_sequencer)
    return at > than_at


def prefix_end(prefix: str) -> str:
    """The smallest string after every string that starts with `prefix` (byte order), "" for no bound."""
    stripped = prefix
    while stripped:
        last = ord(stripped[-1])
        if last < 0x10FFFF:
            return stripped[:-1] + chr(last + 1)
        stripped = stripped[:-1]
    return ""


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_of(term: Term) -> str:
    """A tsquery for a word or prefix term: its words in a row, the last one a prefix for PREFIX."""
    parts = [_lexeme(word) for word in term.words]
    if term.kind is TermKind.PREFIX:
        parts[-1] += ":*"
    return " <-> ".join(parts)


# Totals join the ids rather than test `= ANY(ids)`: planning that test weighs every id against the
# column's statistics, which costs more than the whole answer for a thousand workspaces.
_READABLE = "(SELECT DISTINCT id FROM unnest($1::uuid[]) AS ids(id)) AS r"

# Per workspace, and with it (when asked) per extension: one statement, one round trip.
_TOTALS_BY_WORKSPACE = (
    f"SELECT false AS by_extension, c.workspace_id::text AS key, c.objects, c.bytes FROM {_READABLE} "
    f"JOIN {S}.workspace_counters c ON c.workspace_id = r.id WHERE c.objects <> 0"
)
_TOTALS_BY_EXTENSION = (
    f"SELECT true, c.extension, sum(c.objects)::bigint, sum(c.bytes)::bigint FROM {_READABLE} "
    f"JOIN {S}.counters c ON c.workspace_id = r.id GROUP BY c.extension HAVING sum(c.objects) <> 0"
)

_SORT_COLUMN = {SortField.PATH: "path", SortField.SIZE: "size", SortField.MODIFIED: "modified_at"}
_SORT_CAST = {SortField.PATH: "text", SortField.SIZE: "bigint", SortField.MODIFIED: "timestamptz"}


def _record(row: Any) -> ObjectRecord:
    return ObjectRecord(
        node_id=str(row["node_id"]),
        bucket=row["bucket"],
        key=row["key"],
        workspace_id=str(row["workspace_id"]),
        path=row["path"],
        name=row["name"],
        extension=row["extension"],
        size=int(row["size"]),
        etag=row["etag"],
        modified_at=row["modified_at"],
        content_type=row["content_type"],
    )


def search_engine(database_url: str, pool_size: int = 4) -> AsyncEngine:
    """Reads for searches: autocommit, and a plan made for each query's own values (a prepared
    statement's generic plan cannot know whether a word is rare or everywhere)."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=10,
        isolation_level="AUTOCOMMIT",
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        hide_parameters=HIDE_PARAMETERS,
    )


class PgObjectIndex:
    """ObjectIndex over the indexer's own PostgreSQL schema. `read_engine` (autocommit) serves searches
    and totals; `engine` every change, each in one transaction."""

    def __init__(self, engine: AsyncEngine, read_engine: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._read = read_engine or engine

    async def write(self, records: Sequence[ObjectRecord], generation: int) -> WriteCounts:
        if not records:
            return WriteCounts()
        # One row per key (the last wins): a statement may not change one row twice.
        unique = list({(r.node_id, r.bucket, r.key): r for r in records}.values())
        params = {
            "node_ids": [r.node_id for r in unique],
            "buckets": [r.bucket for r in unique],
            "keys": [r.key for r in unique],
            "workspace_ids": [r.workspace_id for r in unique],
            "paths": [r.path for r in unique],
            "names": [r.name for r in unique],
            "extensions": [r.extension for r in unique],
            "sizes": [r.size for r in unique],
            "etags": [r.etag for r in unique],
            "modified": [r.modified_at for r in unique],
            "content_types": [r.content_type for r in unique],
            "generation": generation,
        }
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                async with self._engine.begin() as conn:
                    row = (await conn.execute(text(_WRITE), params)).one()
                break
            except DBAPIError as exc:
                # Two writers of overlapping keys can still meet (existing rows are locked before new
                # ones are inserted); the database picks one, and the batch, idempotent, runs again.
                if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_RETRIES:
                    raise
        added, changed = int(row.added), int(row.changed)
        return WriteCounts(added=added, changed=changed, unchanged=len(records) - added - changed)

    async def apply(self, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
        key = {"node_id": change.node_id, "bucket": change.bucket, "key": change.key}
        async with self._engine.begin() as conn:
            # Serializes the changes of one key, also while it has neither a record nor a tombstone.
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
                await conn.execute(text(APPLY_DELETE), {**key, **stamp})
                return ApplyResult.DELETED
            await conn.execute(
                text(APPLY_UPSERT),
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

    async def _delete(self, sql: str, params: dict[str, Any]) -> int:
        async with self._engine.begin() as conn:
            return int((await conn.execute(text(sql), params)).scalar_one())

    async def sweep(
        self, node_id: str, bucket: str, prefix: str, generation: int, started_at: datetime
    ) -> int:
        return await self._delete(
            _SWEEP,
            {
                "node_id": node_id,
                "bucket": bucket,
                "prefix": prefix,
                "prefix_end": prefix_end(prefix),
                "generation": generation,
                "started_at": started_at,
            },
        )

    async def forget_workspace(self, workspace_id: str) -> int:
        async with self._engine.begin() as conn:
            gone = int(
                (await conn.execute(text(_FORGET_WORKSPACE), {"workspace_id": workspace_id})).scalar_one()
            )
            for table in ("counters", "workspace_counters"):
                await conn.execute(
                    text(f"DELETE FROM {S}.{table} WHERE workspace_id = CAST(:w AS uuid)"),
                    {"w": workspace_id},
                )
            await conn.execute(
                text(f"DELETE FROM {S}.index_status WHERE workspace_id = CAST(:w AS uuid)"),
                {"w": workspace_id},
            )
        return gone

    async def forget_node(self, node_id: str) -> int:
        async with self._engine.begin() as conn:
            gone = int((await conn.execute(text(_FORGET_NODE), {"node_id": node_id})).scalar_one())
            await conn.execute(
                text(f"DELETE FROM {S}.tombstones WHERE node_id = CAST(:n AS uuid)"), {"n": node_id}
            )
        return gone

    async def forget_prefix(self, node_id: str, bucket: str, prefix: str) -> int:
        return await self._delete(
            _FORGET_PREFIX,
            {"node_id": node_id, "bucket": bucket, "prefix": prefix, "prefix_end": prefix_end(prefix)},
        )

    async def expire_tombstones(self, older_than: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text(f"DELETE FROM {S}.tombstones WHERE deleted_at < :t"), {"t": older_than}
            )
        return int(result.rowcount)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """A read straight on the driver's connection (asyncpg, positional parameters): no compilation or
        result processing per call, which cost about as much as a totals query itself with a thousand
        workspace ids. A connection that fails mid-statement is not given back to the pool."""
        async with self._read.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            try:
                return list(await driver.fetch(sql, *args))
            except Exception:
                await conn.invalidate()
                raise

    async def search(self, query: SearchQuery) -> SearchPage:
        if not query.workspace_ids:
            return SearchPage([], False)
        args: list[Any] = []

        def bind(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        where = [f"workspace_id = ANY({bind(list(query.workspace_ids))}::uuid[])"]
        for term in parse(query.text):
            if term.kind is TermKind.SUBSTRING:
                where.append(f"path ILIKE {bind(f'%{escape_like(term.substring)}%')}")
            else:
                where.append(f"words @@ to_tsquery('simple', {bind(tsquery_of(term))})")
        if query.extensions:
            where.append(f"extension = ANY({bind(list(query.extensions))}::text[])")
        if query.min_size is not None:
            where.append(f"size >= {bind(query.min_size)}")
        if query.max_size is not None:
            where.append(f"size <= {bind(query.max_size)}")
        if query.modified_after is not None:
            where.append(f"modified_at >= {bind(query.modified_after)}")
        if query.modified_before is not None:
            where.append(f"modified_at < {bind(query.modified_before)}")
        column = _SORT_COLUMN[query.sort]
        direction = "DESC" if query.descending else "ASC"
        if query.after is not None:
            value, node_id, bucket, key = query.after
            op = "<" if query.descending else ">"
            where.append(
                f"({column}, node_id, bucket, key) {op} ({bind(value)}::{_SORT_CAST[query.sort]}, "
                f"{bind(node_id)}::uuid, {bind(bucket)}, {bind(key)})"
            )
        keys = (column, "node_id", "bucket", "key")
        # The page's keys first, then their records: in path order the keys come from the covering
        # index alone (ix_objects_path_node_id_bucket_key), so the records passed over on the way are
        # never read from the table; only the page's are.
        sql = (
            f"WITH page AS (SELECT {', '.join(keys)} FROM {S}.objects WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(f'{c} {direction}' for c in keys)} LIMIT {bind(query.limit + 1)}) "
            f"SELECT {', '.join(f'o.{c.strip()}' for c in COLUMNS.split(','))} "
            f"FROM page JOIN {S}.objects o USING (node_id, bucket, key) "
            f"ORDER BY {', '.join(f'o.{c} {direction}' for c in keys)}"
        )
        rows = await self._fetch(sql, *args)
        records = [_record(row) for row in rows[: query.limit]]
        return SearchPage(records, has_more=len(rows) > query.limit)

    async def totals(self, workspace_ids: Sequence[str], by_extension: bool) -> Totals:
        if not workspace_ids:
            return Totals()
        sql = _TOTALS_BY_WORKSPACE
        if by_extension:
            sql += f" UNION ALL {_TOTALS_BY_EXTENSION}"
        rows = await self._fetch(sql, list(workspace_ids))
        return Totals(
            by_workspace={
                r["key"]: (int(r["objects"]), int(r["bytes"])) for r in rows if not r["by_extension"]
            },
            by_extension={r["key"]: (int(r["objects"]), int(r["bytes"])) for r in rows if r["by_extension"]},
        )

    async def close(self) -> None:
        """The engines belong to the service's runtime, which disposes of them."""


async def copy_records(conn: AsyncConnection, records: Sequence[ObjectRecord], generation: int) -> None:
    """Bulk load for benchmarks and tests of scale: COPY straight into the table, then the counters
    recomputed from it. Not for a live index (no upsert, no tombstone check)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    rows = [
        (
            r.node_id,
            r.bucket,
            r.key,
            r.workspace_id,
            r.path,
            r.name,
            r.extension,
            r.size,
            r.etag,
            r.modified_at,
            r.content_type,
            generation,
            r.modified_at,
        )
        for r in records
    ]
    await driver.copy_records_to_table(
        "objects",
        schema_name=S,
        records=rows,
        columns=[c.strip() for c in COLUMNS.split(",")] + ["generation", "changed_at"],
    )


async def recount(conn: AsyncConnection) -> None:
    """Counters recomputed from the records (after copy_records)."""
    await conn.execute(text(f"DELETE FROM {S}.counters"))
    await conn.execute(text(f"DELETE FROM {S}.workspace_counters"))
    await conn.execute(
        text(
            f"INSERT INTO {S}.counters (workspace_id, extension, objects, bytes) "
            f"SELECT workspace_id, extension, count(*), sum(size) FROM {S}.objects "
            "GROUP BY workspace_id, extension"
        )
    )
    await conn.execute(
        text(
            f"INSERT INTO {S}.workspace_counters (workspace_id, objects, bytes) "
            f"SELECT workspace_id, sum(objects), sum(bytes) FROM {S}.counters GROUP BY workspace_id"
        )
    )
