"""Prints search and totals latency of the PostgreSQL index over synthetic records:

- N records (1,000,000 by default) in 2 x W workspaces, written straight to the table with COPY
- a caller who reads W of them (1,000 by default): every search is narrowed to those W ids
- p50/p95 of whole words, prefixes (`rep*`), substrings (`"port_2"`), each the first page of 50 sorted
  by path, and of totals by workspace and by extension (targets: words and prefixes p95 <= 30 ms,
  substrings p95 <= 60 ms, totals p95 <= 30 ms)
- the size of the table and of each index

Starts its own PostgreSQL in a temporary folder unless --database-url names one (its `indexer` schema is
then migrated and, with --load, filled: use a database of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import percentile
from services.common.db import make_engine, migrate
from services.indexer.domain.models import ObjectChange, ObjectRecord, SearchQuery
from services.indexer.storage import tables
from services.indexer.storage.pg_index import PgObjectIndex, copy_records, recount, search_engine

MIGRATIONS = Path(tables.__file__).parent / "migrations"
SYLLABLES = [
    "ra",
    "to",
    "ke",
    "mi",
    "su",
    "lo",
    "ven",
    "dar",
    "pol",
    "qui",
    "ne",
    "bas",
    "tri",
    "gon",
    "fe",
    "xi",
]
EXTENSIONS = [
    "csv",
    "txt",
    "json",
    "parquet",
    "h5",
    "tif",
    "png",
    "jpg",
    "pdf",
    "bin",
    "nc",
    "fastq",
    "bam",
    "",
]
CHUNK = 50_000


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass
class Synthetic:
    rng: random.Random
    words: list[str]
    weights: list[float]

    def word(self) -> str:
        return self.rng.choices(self.words, cum_weights=self.weights)[0]

    def path(self) -> str:
        rng = self.rng
        parts = [self.word() for _ in range(rng.randint(1, 3))]
        stem = (
            self.word()
            + rng.choice(["", "_", "-", ""])
            + rng.choice([self.word().capitalize(), str(rng.randint(0, 9999))])
        )
        extension = rng.choice(EXTENSIONS)
        return "/".join([*parts, stem + (f".{extension}" if extension else "")])


def records(n: int, workspace_ids: list[str], node_id: str, seed: int) -> Iterator[ObjectRecord]:
    rng = random.Random(seed)
    words = vocabulary(rng, 3000)
    # Zipf-like: a few words are everywhere, most are rare.
    synthetic = Synthetic(
        rng, words, list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        workspace_id = workspace_ids[i % len(workspace_ids)]
        path = synthetic.path()
        name = path.rsplit("/", 1)[-1]
        extension = name.rsplit(".", 1)[1] if "." in name else ""
        yield ObjectRecord(
            node_id=node_id,
            bucket="data",
            key=f"{workspace_id}/{i:08d}/{path}",
            workspace_id=workspace_id,
            path=f"{i:08d}/{path}" if i % 50 == 0 else path,
            name=name,
            extension=extension,
            size=rng.randint(0, 10_000_000),
            etag=f"{i:032x}",
            modified_at=start + timedelta(seconds=rng.randint(0, 60_000_000)),
        )


async def load(engine: AsyncEngine, n: int, workspace_ids: list[str]) -> float:
    """COPY of n records, then the counters from them; the seconds it took."""
    started = time.perf_counter()
    node_id = str(uuid.uuid4())
    # Indexes other than the primary key are built once after the load, as for any bulk load.
    async with engine.begin() as conn:
        definitions = (
            await conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'indexer' "
                    "AND tablename = 'objects' AND indexname <> 'pk_objects'"
                )
            )
        ).all()
        for name, _ in definitions:
            await conn.execute(text(f'DROP INDEX indexer."{name}"'))
    batch: list[ObjectRecord] = []
    for record in records(n, workspace_ids, node_id, seed=1):
        batch.append(record)
        if len(batch) == CHUNK:
            async with engine.begin() as conn:
                await copy_records(conn, batch, 1)
            batch = []
    if batch:
        async with engine.begin() as conn:
            await copy_records(conn, batch, 1)
    async with engine.begin() as conn:
        await recount(conn)
        for _, definition in definitions:
            await conn.execute(text(definition))
    async with engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("VACUUM ANALYZE indexer.objects"))
    return time.perf_counter() - started


async def timed(make: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    took = []
    for _ in range(times):
        call = make()
        started = time.perf_counter()
        await call
        took.append(time.perf_counter() - started)
    return took


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5) * 1000:7.2f} ms   p95 {percentile(values, 0.95) * 1000:7.2f} ms"


async def measure(
    engine: AsyncEngine, read: AsyncEngine, readable: list[str], queries: int, seed: int
) -> dict[str, list[float]]:
    index = PgObjectIndex(engine, read)
    rng = random.Random(seed)
    words = vocabulary(random.Random(1), 3000)  # the vocabulary the records were made of
    ids = tuple(readable)
    # The generator weights words by their rank in the sorted vocabulary: the first are the most common.
    common = words[:20]

    def search(query: str) -> Awaitable[Any]:
        return index.search(SearchQuery(workspace_ids=ids, text=query, limit=50))

    def substring(word: str) -> str:
        start = rng.randint(0, max(0, len(word) - 4))
        return word[start : start + rng.randint(4, 6)]

    async def select_one() -> None:
        async with read.connect() as conn:
            await conn.execute(text("SELECT 1"))

    kinds: dict[str, Callable[[], Awaitable[Any]]] = {
        # How fast the machine answers at all, to read the rest against.
        "baseline: SELECT 1": select_one,
        "words": lambda: search(rng.choice(words)),
        "words (20 most common)": lambda: search(rng.choice(common)),
        "prefixes": lambda: search(rng.choice(words)[:3] + "*"),
        "substrings": lambda: search(f'"{substring(rng.choice(words))}"'),
        "two words": lambda: search(f"{rng.choice(common)} {rng.choice(words)}"),
        "totals by workspace": lambda: index.totals(ids, False),
        "totals by extension": lambda: index.totals(ids, True),
    }
    await timed(kinds["words"], 10)  # warm the cache
    print(
        f"caller reads {len(ids):,} workspaces; {queries} queries of each kind, first page of 50", flush=True
    )
    figures = {}
    for name, make in kinds.items():
        figures[name] = await timed(make, queries)
        print(f"  {name:24} {ms(figures[name])}", flush=True)
    return figures


async def writes(engine: AsyncEngine, batches: int) -> None:
    """write() of 1,000-record batches (new, then the same again unchanged) and apply() of single events,
    counters included, into a workspace of its own."""
    index = PgObjectIndex(engine)
    workspace_id, node_id = str(uuid.uuid4()), str(uuid.uuid4())
    made = list(records(batches * 1000, [workspace_id], node_id, seed=3))
    for label in ("new", "unchanged"):
        started = time.perf_counter()
        for i in range(batches):
            await index.write(made[i * 1000 : (i + 1) * 1000], 2)
        rate = batches * 1000 / (time.perf_counter() - started)
        print(f"  write(), 1,000-record batches, {label:9} {rate:9,.0f} records/s", flush=True)
    took = []
    for n, record in enumerate(made[:200]):
        change = ObjectChange(
            node_id=record.node_id,
            bucket=record.bucket,
            key=record.key,
            deleted=n % 2 == 1,
            occurred_at=datetime.now(UTC),
        )
        started = time.perf_counter()
        await index.apply(change, None if change.deleted else replace(record, size=record.size + 1))
        took.append(time.perf_counter() - started)
    print(f"  apply(), one event          {ms(took)}", flush=True)
    await index.forget_workspace(workspace_id)


async def sizes(engine: AsyncEngine) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = 'indexer' AND c.relkind IN ('r', 'i') "
                    "AND c.relname LIKE ANY (ARRAY['objects%', 'ix_objects%', 'pk_objects', 'counters', "
                    "'pk_counters']) ORDER BY 2 DESC"
                )
            )
        ).all()
    return [(row[0], int(row[1])) for row in rows]


async def run(
    database_url: str, n: int, readable_count: int, queries: int, fill: bool
) -> dict[str, list[float]]:
    engine = make_engine(database_url)
    read = search_engine(database_url)
    try:
        await migrate(engine, tables.SCHEMA, MIGRATIONS, tables.metadata)
        ids_rng = random.Random(5)
        workspace_ids = [
            str(uuid.UUID(int=ids_rng.getrandbits(128), version=4)) for _ in range(2 * readable_count)
        ]
        if fill:
            seconds = await load(engine, n, workspace_ids)
            print(
                f"loaded {n:,} records in {2 * readable_count:,} workspaces: {seconds:.1f} s (COPY, counters)"
            )
        readable = workspace_ids[::2]
        figures = await measure(engine, read, readable, queries, seed=9)
        await writes(engine, 5 if n < 100_000 else 20)
        for name, size in await sizes(engine):
            print(f"  size {name:32} {size / 1e6:9.1f} MB")
        return figures
    finally:
        await engine.dispose()
        await read.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=1000, help="workspaces the caller reads")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--database-url", default="", help="a database of its own (default: a private server)"
    )
    parser.add_argument("--no-load", action="store_true", help="measure the records already there")
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args.records, args.workspaces, args.queries, not args.no_load))
        return
    from deploy.ports import pick_free_port
    from deploy.postgres import generate_password, start_postgres

    with tempfile.TemporaryDirectory(prefix="wio-bench-search-") as folder:
        server = start_postgres(Path(folder), pick_free_port(), generate_password(), database="bench")
        try:
            asyncio.run(run(server.url("bench"), args.records, args.workspaces, args.queries, True))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
