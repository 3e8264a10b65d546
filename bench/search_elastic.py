"""Prints search and totals latency of the Elasticsearch index over the same synthetic records, queries and
caller as bench/search.py (PostgreSQL), for a server named by --url (none can run on the development
machines, so this bench runs only where one is reachable):

- N records (1,000,000 by default) in 2 x W workspaces, bulk-loaded (helpers.async_bulk) into indices of a
  prefix of their own, deleted at the end unless --keep
- a caller who reads W of them (1,000 by default)
- p50/p95 of whole words, prefixes, substrings, two words, totals by workspace and by extension
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.search import CHUNK, ms, records, timed, vocabulary
from services.indexer.config import ElasticSettings
from services.indexer.domain.models import SearchQuery
from services.indexer.storage.elastic import ElasticObjectIndex, open_elastic_index


async def measure(
    index: ElasticObjectIndex, readable: list[str], queries: int, seed: int
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    words = vocabulary(random.Random(1), 3000)
    ids = tuple(readable)
    common = words[:20]

    def search(query: str) -> Awaitable[Any]:
        return index.search(SearchQuery(workspace_ids=ids, text=query, limit=50))

    def substring(word: str) -> str:
        start = rng.randint(0, max(0, len(word) - 4))
        return word[start : start + rng.randint(4, 6)]

    kinds: dict[str, Callable[[], Awaitable[Any]]] = {
        "words": lambda: search(rng.choice(words)),
        "words (20 most common)": lambda: search(rng.choice(common)),
        "prefixes": lambda: search(rng.choice(words)[:3] + "*"),
        "substrings": lambda: search(f'"{substring(rng.choice(words))}"'),
        "two words": lambda: search(f"{rng.choice(common)} {rng.choice(words)}"),
        "totals by workspace": lambda: index.totals(ids, False),
        "totals by extension": lambda: index.totals(ids, True),
    }
    await timed(kinds["words"], 10)  # warm the caches
    return {name: await timed(make, queries) for name, make in kinds.items()}


async def run(
    settings: ElasticSettings, n: int, readable_count: int, queries: int, keep: bool, **client_options: Any
) -> None:
    """`client_options` reach the Elasticsearch client (e.g. its node class)."""
    index = await open_elastic_index(settings, **client_options)
    try:
        ids_rng = random.Random(5)
        workspace_ids = [
            str(uuid.UUID(int=ids_rng.getrandbits(128), version=4)) for _ in range(2 * readable_count)
        ]
        started = time.perf_counter()
        batch = []
        for record in records(n, workspace_ids, str(uuid.uuid4()), seed=1):
            batch.append(record)
            if len(batch) == CHUNK:
                await index.bulk_load(batch, 1)
                batch = []
        if batch:
            await index.bulk_load(batch, 1)
        seconds = time.perf_counter() - started
        print(f"loaded {n:,} records in {2 * readable_count:,} workspaces: {seconds:.1f} s (bulk)")
        readable = workspace_ids[::2]
        figures = await measure(index, readable, queries, seed=9)
        print(f"caller reads {len(readable):,} workspaces; {queries} queries of each kind, first page of 50")
        for name, values in figures.items():
            print(f"  {name:24} {ms(values)}")
    finally:
        if not keep:
            await index.drop()
        await index.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("WIO_BENCH_ELASTICSEARCH_URL", ""))
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=1000, help="workspaces the caller reads")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="leave the indices in place")
    args = parser.parse_args()
    if not args.url:
        parser.error("--url (or WIO_BENCH_ELASTICSEARCH_URL) must name an Elasticsearch server")
    settings = ElasticSettings(
        url=args.url,
        api_key=os.environ.get("WIO_BENCH_ELASTICSEARCH_API_KEY", ""),
        ca_file=os.environ.get("WIO_BENCH_ELASTICSEARCH_CA_FILE", ""),
        index_prefix=f"wio-bench-{uuid.uuid4().hex[:8]}",
        replicas=0,
    )
    asyncio.run(run(settings, args.records, args.workspaces, args.queries, args.keep))


if __name__ == "__main__":
    main()
