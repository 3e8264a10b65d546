"""The ObjectIndex contract, for every backend: PostgreSQL always; Elasticsearch when
WIO_TEST_ELASTICSEARCH_URL points at a server (none can be installed on the development machines).

Also the PostgreSQL crawl ledger, and that the PostgreSQL counters always equal the records."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import make_engine, migrate
from services.common.errors import DomainError
from services.indexer.config import ElasticSettings
from services.indexer.domain.models import (
    ApplyResult,
    Location,
    ObjectChange,
    ObjectRecord,
    SearchQuery,
    SortField,
    WriteCounts,
    record_for,
)
from services.indexer.domain.ports import CrawlLedger, ObjectIndex
from services.indexer.storage import tables
from services.indexer.storage.elastic import ElasticObjectIndex, client_for, open_elastic_index
from services.indexer.storage.ledger import PgCrawlLedger
from services.indexer.storage.pg_index import PgObjectIndex

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MIGRATIONS = Path(tables.__file__).parent / "migrations"


@pytest.fixture(scope="session")
async def indexer_engine(infra: Any) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(infra.database_url)
    await migrate(engine, tables.SCHEMA, MIGRATIONS, tables.metadata)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def elastic_settings() -> AsyncIterator[ElasticSettings | None]:
    """The Elasticsearch server named by WIO_TEST_ELASTICSEARCH_URL (optionally _API_KEY, _CA_FILE), with
    indices of this run's own prefix, deleted (with their templates) when the run ends."""
    url = os.environ.get("WIO_TEST_ELASTICSEARCH_URL", "")
    if not url:
        yield None
        return
    settings = ElasticSettings(
        url=url,
        api_key=os.environ.get("WIO_TEST_ELASTICSEARCH_API_KEY", ""),
        ca_file=os.environ.get("WIO_TEST_ELASTICSEARCH_CA_FILE", ""),
        index_prefix=f"wio-test-{uuid.uuid4().hex[:12]}",
        refresh="true",
        replicas=0,
    )
    yield settings
    leftover = ElasticObjectIndex(client_for(settings), settings)
    try:
        await leftover.drop()
    finally:
        await leftover.close()


@pytest.fixture(params=["postgres", "elastic"])
async def index(
    request: pytest.FixtureRequest, indexer_engine: AsyncEngine, elastic_settings: ElasticSettings | None
) -> AsyncIterator[ObjectIndex]:
    if request.param == "postgres":
        backend: ObjectIndex = PgObjectIndex(indexer_engine)
    else:
        if elastic_settings is None:
            pytest.skip("WIO_TEST_ELASTICSEARCH_URL is not set")
        backend = await open_elastic_index(elastic_settings)
    yield backend
    await backend.close()


def _location(node_id: str, bucket: str = "data", prefix: str | None = None) -> Location:
    workspace_id = str(uuid.uuid4())
    return Location(
        workspace_id=workspace_id,
        root_id=str(uuid.uuid4()),
        node_id=node_id,
        bucket=bucket,
        prefix=prefix if prefix is not None else f"alice/ws-{workspace_id[:6]}/",
        owner_id=str(uuid.uuid4()),
        owner_username="alice",
        name=f"ws-{workspace_id[:6]}",
        node_name="local",
    )


def _record(loc: Location, path: str, size: int = 10, etag: str = "e1", at: datetime = T0) -> ObjectRecord:
    record = record_for(loc, loc.prefix + path, size, etag, at)
    assert record is not None
    return record


def _change(record: ObjectRecord, at: datetime, deleted: bool = False, sequencer: str = "") -> ObjectChange:
    return ObjectChange(
        node_id=record.node_id,
        bucket=record.bucket,
        key=record.key,
        deleted=deleted,
        occurred_at=at,
        size=record.size,
        etag=record.etag,
        sequencer=sequencer,
    )


async def _all(index: ObjectIndex, workspace_ids: list[str], **options: Any) -> list[ObjectRecord]:
    """Every matching record, page after page (5 a page), as the domain pages with its tokens."""
    found: list[ObjectRecord] = []
    after: tuple[object, str, str, str] | None = None
    sort = options.get("sort", SortField.PATH)
    for _ in range(1000):
        page = await index.search(
            SearchQuery(workspace_ids=tuple(workspace_ids), limit=5, after=after, **options)
        )
        found.extend(page.records)
        if not page.has_more:
            return found
        last = page.records[-1]
        value: object = {
            SortField.PATH: last.path,
            SortField.SIZE: last.size,
            SortField.MODIFIED: last.modified_at,
        }[sort]
        after = (value, last.node_id, last.bucket, last.key)
    raise AssertionError("pages never ended")


async def _paths(index: ObjectIndex, loc: Location, query: str = "", **options: Any) -> list[str]:
    return [r.path for r in await _all(index, [loc.workspace_id], text=query, **options)]


async def test_write_counts_added_changed_unchanged_and_keeps_totals(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    first = [_record(loc, "a.txt", 10), _record(loc, "b/c.CSV", 20), _record(loc, "d", 5)]
    assert await index.write(first, 1) == WriteCounts(added=3)
    again = [
        _record(loc, "a.txt", 10),
        _record(loc, "b/c.CSV", 25, etag="e2", at=T0 + timedelta(seconds=5)),
        _record(loc, "d", 5),
        _record(loc, "e.txt", 1),
    ]
    assert await index.write(again, 2) == WriteCounts(added=1, changed=1, unchanged=2)
    totals = await index.totals([loc.workspace_id], by_extension=True)
    assert totals.by_workspace == {loc.workspace_id: (4, 41)}
    assert totals.by_extension == {"txt": (2, 11), "csv": (1, 25), "": (1, 5)}
    (record,) = [r for r in await _all(index, [loc.workspace_id]) if r.path == "b/c.CSV"]
    assert (record.size, record.etag, record.name, record.extension) == (25, "e2", "c.CSV", "csv")


async def test_an_older_event_changes_nothing(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    new = _record(loc, "x.bin", 200, "new", T0 + timedelta(minutes=2))
    old = _record(loc, "x.bin", 100, "old", T0 + timedelta(minutes=1))
    assert await index.apply(_change(new, new.modified_at), new) is ApplyResult.UPSERTED
    assert await index.apply(_change(old, old.modified_at), old) is ApplyResult.STALE
    # The same event again: idempotent.
    assert await index.apply(_change(new, new.modified_at), new) is ApplyResult.STALE
    assert [(r.size, r.etag) for r in await _all(index, [loc.workspace_id])] == [(200, "new")]
    assert (await index.totals([loc.workspace_id], False)).by_workspace == {loc.workspace_id: (1, 200)}


async def test_a_delete_then_its_late_create_leaves_the_object_deleted(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    record = _record(loc, "late.txt", 7)
    assert (
        await index.apply(_change(record, T0 + timedelta(seconds=2), deleted=True), None)
        is ApplyResult.DELETED
    )
    assert await index.apply(_change(record, T0 + timedelta(seconds=1)), record) is ApplyResult.STALE
    assert await _all(index, [loc.workspace_id]) == []
    # A listing that saw the object before the delete does not bring it back either.
    await index.write([record], 1)
    assert await _all(index, [loc.workspace_id]) == []
    # A newer create does, and clears the tombstone; an old delete after it is stale.
    assert await index.apply(_change(record, T0 + timedelta(seconds=3)), record) is ApplyResult.UPSERTED
    assert (
        await index.apply(_change(record, T0 + timedelta(seconds=2), deleted=True), None) is ApplyResult.STALE
    )
    assert [r.path for r in await _all(index, [loc.workspace_id])] == ["late.txt"]
    assert (
        await index.apply(_change(record, T0 + timedelta(seconds=4), deleted=True), None)
        is ApplyResult.DELETED
    )
    assert await _all(index, [loc.workspace_id]) == []
    assert (await index.totals([loc.workspace_id], False)).by_workspace == {}


async def test_sequencers_order_changes_with_equal_times(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    record = _record(loc, "s.txt", 3)
    assert (
        await index.apply(_change(record, T0, sequencer="17A0000000000002"), record) is ApplyResult.UPSERTED
    )
    delete_first = _change(record, T0, deleted=True, sequencer="17A0000000000001")
    assert await index.apply(delete_first, None) is ApplyResult.STALE
    delete_later = _change(record, T0, deleted=True, sequencer="17A0000000000003")
    assert await index.apply(delete_later, None) is ApplyResult.DELETED
    assert await _all(index, [loc.workspace_id]) == []


async def test_random_orders_of_create_and_delete_end_in_the_newest_state(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    rng = random.Random(12)
    for n in range(6):
        record = _record(loc, f"k{n}.dat", n + 1)
        events = [(T0 + timedelta(seconds=s), rng.random() < 0.5) for s in range(1, 7)]
        for at, deleted in rng.sample(events, len(events)):
            await index.apply(_change(record, at, deleted=deleted), None if deleted else record)
        newest_deleted = max(events)[1]
        present = [r.path for r in await _all(index, [loc.workspace_id], text=f"k{n}")]
        assert present == ([] if newest_deleted else [f"k{n}.dat"]), events


async def test_concurrent_creates_and_deletes_of_a_key_end_in_the_newest_state(index: ObjectIndex) -> None:
    """Events of one key applied at once, as several ingest workers do: whatever interleaving the backend
    sees, the record ends as the newest event says, with the newest size."""
    loc = _location(str(uuid.uuid4()))
    rng = random.Random(5)
    expected: dict[str, int | None] = {}
    applies = []
    for n in range(4):
        events = [(s, rng.random() < 0.5) for s in range(1, 9)]
        path = f"c{n}.dat"
        for s, deleted in events:
            record = _record(loc, path, size=s)
            applies.append(
                index.apply(_change(record, T0 + timedelta(seconds=s), deleted), None if deleted else record)
            )
        newest, newest_deleted = max(events)
        expected[path] = None if newest_deleted else newest
    rng.shuffle(applies)
    await asyncio.gather(*applies)
    found = {r.path: r.size for r in await _all(index, [loc.workspace_id])}
    assert found == {path: size for path, size in expected.items() if size is not None}


async def test_sweep_removes_unseen_records_but_keeps_those_changed_during_the_crawl(
    index: ObjectIndex,
) -> None:
    node = str(uuid.uuid4())
    loc = _location(node, prefix="alice/ws/")
    neighbour = _location(node, prefix="alice/ws2/")
    await index.write([_record(loc, f"f{i}.txt") for i in range(5)] + [_record(neighbour, "n.txt")], 1)
    started = datetime.now(UTC)
    await asyncio.sleep(0.01)
    # The crawl of generation 2 sees f0 and f1; during it an event creates late.txt.
    await index.write([_record(loc, "f0.txt"), _record(loc, "f1.txt")], 2)
    late = _record(loc, "late.txt", at=T0 + timedelta(days=1))
    await index.apply(_change(late, late.modified_at), late)
    assert await index.sweep(node, "data", "alice/ws/", 2, started) == 3
    assert await _paths(index, loc) == ["f0.txt", "f1.txt", "late.txt"]
    assert await _paths(index, neighbour) == ["n.txt"]
    assert (await index.totals([loc.workspace_id], False)).by_workspace == {loc.workspace_id: (3, 30)}


async def test_forget_workspace_node_and_prefix(index: ObjectIndex) -> None:
    node = str(uuid.uuid4())
    one, two = _location(node, prefix="a/one/"), _location(node, prefix="a/two/")
    other_node = _location(str(uuid.uuid4()))
    await index.write([_record(one, "x"), _record(one, "y"), _record(two, "x"), _record(two, "sub/z")], 1)
    await index.write([_record(other_node, "x")], 1)
    assert await index.forget_prefix(node, "data", "a/two/sub/") == 1
    assert await index.forget_workspace(one.workspace_id) == 2
    assert await _paths(index, one) == []
    assert (await index.totals([one.workspace_id, two.workspace_id], False)).by_workspace == {
        two.workspace_id: (1, 10)
    }
    assert await index.forget_node(node) == 1
    assert await _paths(index, two) == []
    assert await _paths(index, other_node) == ["x"]


async def test_expired_tombstones_no_longer_hold_back_older_events(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    record = _record(loc, "t.txt")
    old_delete = datetime.now(UTC) - timedelta(days=30)
    await index.apply(_change(record, old_delete, deleted=True), None)
    assert await index.apply(_change(record, old_delete - timedelta(seconds=1)), record) is ApplyResult.STALE
    assert await index.expire_tombstones(datetime.now(UTC) - timedelta(days=7)) >= 1
    assert (
        await index.apply(_change(record, old_delete - timedelta(seconds=1)), record) is ApplyResult.UPSERTED
    )


async def test_search_words_prefixes_and_substrings(index: ObjectIndex) -> None:
    loc = _location(str(uuid.uuid4()))
    paths = [
        "reports/q3/myReport_2024.csv",
        "reports/summary-final.PDF",
        "raw/sensor.data.v2/run42.bin",
        "notes/Meeting Notes.txt",
        "img/cat_photo.jpeg",
    ]
    await index.write([_record(loc, p, size=i + 1) for i, p in enumerate(paths)], 1)
    assert await _paths(index, loc, "report") == ["reports/q3/myReport_2024.csv"]
    assert await _paths(index, loc, "REPORTS") == [
        "reports/q3/myReport_2024.csv",
        "reports/summary-final.PDF",
    ]
    assert await _paths(index, loc, "rep*") == ["reports/q3/myReport_2024.csv", "reports/summary-final.PDF"]
    assert await _paths(index, loc, "2024 csv") == ["reports/q3/myReport_2024.csv"]
    assert await _paths(index, loc, "myReport") == ["reports/q3/myReport_2024.csv"]
    assert await _paths(index, loc, "run 42") == ["raw/sensor.data.v2/run42.bin"]
    assert await _paths(index, loc, "sens*") == ["raw/sensor.data.v2/run42.bin"]
    assert await _paths(index, loc, '"sor.da"') == ["raw/sensor.data.v2/run42.bin"]
    assert await _paths(index, loc, '"ing no"') == ["notes/Meeting Notes.txt"]
    assert await _paths(index, loc, '"_pho" cat') == ["img/cat_photo.jpeg"]
    assert await _paths(index, loc, '"100%"') == []
    assert await _paths(index, loc, "ummary") == []
    assert await _paths(index, loc, "report pdf") == []
    with pytest.raises(DomainError) as raised:
        await index.search(SearchQuery(workspace_ids=(loc.workspace_id,), text='"open'))
    assert raised.value.metadata["field"] == "query"


async def test_search_filters_and_workspace_scope(index: ObjectIndex) -> None:
    node = str(uuid.uuid4())
    mine, theirs = _location(node), _location(node)
    await index.write(
        [
            _record(mine, "a.txt", 5, at=T0),
            _record(mine, "b.csv", 50, at=T0 + timedelta(days=1)),
            _record(mine, "c.CSV", 500, at=T0 + timedelta(days=2)),
            _record(theirs, "secret.csv", 50),
        ],
        1,
    )
    assert await _paths(index, mine, extensions=("csv",)) == ["b.csv", "c.CSV"]
    assert await _paths(index, mine, min_size=6, max_size=500) == ["b.csv", "c.CSV"]
    assert await _paths(index, mine, max_size=50) == ["a.txt", "b.csv"]
    after, before = T0 + timedelta(hours=1), T0 + timedelta(days=2)
    assert await _paths(index, mine, modified_after=after, modified_before=before) == ["b.csv"]
    assert await _paths(index, mine, "secret") == []
    assert [r.path for r in await _all(index, [mine.workspace_id, theirs.workspace_id], text="csv")] == [
        "b.csv",
        "c.CSV",
        "secret.csv",
    ]


@pytest.mark.parametrize("sort", list(SortField))
@pytest.mark.parametrize("descending", [False, True])
async def test_pages_neither_skip_nor_repeat(index: ObjectIndex, sort: SortField, descending: bool) -> None:
    node = str(uuid.uuid4())
    locs = [_location(node), _location(node)]
    rng = random.Random(7)
    records = [
        # Few distinct sizes and times, and the same paths in both workspaces: ties everywhere.
        _record(
            loc,
            f"d{rng.randint(0, 3)}/f{i % 9}.txt",
            rng.choice([1, 2, 3]),
            at=T0 + timedelta(rng.randint(0, 2)),
        )
        for loc in locs
        for i in range(23)
    ]
    await index.write(records, 1)
    expected = {(r.node_id, r.bucket, r.key) for r in records}
    found = await _all(index, [loc.workspace_id for loc in locs], sort=sort, descending=descending)
    keys = [(r.node_id, r.bucket, r.key) for r in found]
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == expected
    values = [
        {SortField.PATH: r.path, SortField.SIZE: r.size, SortField.MODIFIED: r.modified_at}[sort]
        for r in found
    ]
    assert values == sorted(values, reverse=descending)  # type: ignore[type-var]


async def test_totals_of_no_workspaces_and_of_unknown_ones(index: ObjectIndex) -> None:
    assert (await index.totals([], True)).by_workspace == {}
    assert (await index.totals([str(uuid.uuid4())], True)).by_extension == {}


# PostgreSQL only from here.


async def _counters_match_records(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        mismatches = (
            await conn.execute(
                text(
                    "SELECT * FROM (SELECT workspace_id, extension, count(*) AS objects, sum(size) AS bytes "
                    "FROM indexer.objects GROUP BY 1, 2) r FULL JOIN "
                    "(SELECT * FROM indexer.counters WHERE objects <> 0 OR bytes <> 0) c "
                    "USING (workspace_id, extension) "
                    "WHERE r.objects IS DISTINCT FROM c.objects OR r.bytes IS DISTINCT FROM c.bytes"
                )
            )
        ).all()
    assert mismatches == []
    async with engine.connect() as conn:
        mismatches = (
            await conn.execute(
                text(
                    "SELECT * FROM (SELECT workspace_id, sum(objects) AS objects, sum(bytes) AS bytes "
                    "FROM indexer.counters GROUP BY 1) r FULL JOIN indexer.workspace_counters c "
                    "USING (workspace_id) "
                    "WHERE r.objects IS DISTINCT FROM c.objects OR r.bytes IS DISTINCT FROM c.bytes"
                )
            )
        ).all()
    assert mismatches == []


async def test_concurrent_writers_events_and_sweeps_keep_counters_exact(indexer_engine: AsyncEngine) -> None:
    index = PgObjectIndex(indexer_engine)
    node = str(uuid.uuid4())
    locs = [_location(node, prefix=f"p/{n}/") for n in range(3)]
    rng = random.Random(3)
    base = [
        _record(loc, f"f{i}.{rng.choice(['a', 'b', 'c'])}", rng.randint(1, 99))
        for loc in locs
        for i in range(60)
    ]

    async def writer(seed: int) -> None:
        r = random.Random(seed)
        for generation in range(2, 6):
            batch = [
                replace(rec, size=r.randint(1, 99), modified_at=T0 + timedelta(seconds=generation))
                for rec in base
            ]
            r.shuffle(batch)
            await index.write(batch[: r.randint(10, len(batch))], generation)

    async def events(seed: int) -> None:
        r = random.Random(seed)
        for n in range(60):
            rec = r.choice(base)
            deleted = r.random() < 0.4
            await index.apply(
                _change(rec, T0 + timedelta(seconds=n, milliseconds=seed), deleted), None if deleted else rec
            )

    async def sweeps() -> None:
        for generation in range(2, 6):
            await index.sweep(node, "data", "p/", generation, datetime.now(UTC) - timedelta(seconds=1))
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(writer(1), writer(2), events(3), events(4), sweeps()), timeout=120)
    await _counters_match_records(indexer_engine)


async def test_crawl_ledger_resumes_checkpoints_and_records_status(indexer_engine: AsyncEngine) -> None:
    ledger: CrawlLedger = PgCrawlLedger(indexer_engine)
    root, workspace, node = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    crawl = await ledger.begin("crawl", root, workspace, node, "data", "alice/ws/")
    assert (crawl.resume_after, crawl.objects) == ("", 0)
    await ledger.checkpoint(crawl.id, "alice/ws/k0999", 1000, 12345)
    # The process died: the next begin of the same scope resumes that crawl.
    resumed = await ledger.begin("crawl", root, workspace, node, "data", "alice/ws/")
    assert (resumed.id, resumed.generation, resumed.started_at) == (
        crawl.id,
        crawl.generation,
        crawl.started_at,
    )
    assert (resumed.resume_after, resumed.objects, resumed.bytes) == ("alice/ws/k0999", 1000, 12345)
    assert crawl.id in {c.id for c in await ledger.unfinished()}
    await ledger.finish(resumed, WriteCounts(added=3), removed=1)
    assert crawl.id not in {c.id for c in await ledger.unfinished()}
    verify = await ledger.begin("verify", root, workspace, node, "data", "alice/ws/")
    assert verify.id != crawl.id and verify.generation > crawl.generation
    await ledger.finish(verify, WriteCounts(added=2, changed=1), removed=4)
    failing = await ledger.begin("crawl", root, workspace, node, "data", "alice/ws/")
    assert failing.generation > verify.generation
    await ledger.fail(failing.id, "node unreachable")
    async with indexer_engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT * FROM indexer.index_status WHERE workspace_id = :w"), {"w": workspace}
            )
        ).one()
    assert (status.drift_added, status.drift_changed, status.drift_removed) == (2, 1, 4)
    assert status.crawled_at is not None and status.verified_at is not None
    assert status.state == "failed: node unreachable"


async def test_queries_split_words_as_the_index_does(indexer_engine: AsyncEngine) -> None:
    """split_words (queries) and PATH_WORDS_SQL (the stored tsvector) must agree, or a typed word misses."""
    from services.indexer.domain.querytext import split_words
    from services.indexer.storage.tables import PATH_WORDS_SQL

    paths = [
        "q3/myReport_2024.csv",
        "raw/sensor.data.v2/run42.bin",
        "Meeting Notes - Final (v3).docx",
        "HTTPServer/x86_64/libFoo2Bar.so.1",
        "données/été_2024/Résumé.pdf",
        "a--b__c..d//e",
        "CamelCASEWord/ABC123def",
    ]
    async with indexer_engine.connect() as conn:
        for path in paths:
            stored = (
                await conn.execute(
                    text(
                        f"SELECT array(SELECT lexeme FROM unnest({PATH_WORDS_SQL}) ORDER BY lexeme) "  # noqa: S608
                        "FROM (SELECT CAST(:p AS text) AS path) t"
                    ),
                    {"p": path},
                )
            ).scalar_one()
            typed = {
                word
                for part in split_words(path)
                for word in part.replace("(", " ").replace(")", " ").split()
            }
            assert set(stored) == typed, path


async def test_records_live_on_half_full_pages(indexer_engine: AsyncEngine) -> None:
    async with indexer_engine.connect() as conn:
        options = (
            await conn.execute(
                text("SELECT reloptions FROM pg_class WHERE oid = 'indexer.objects'::regclass")
            )
        ).scalar_one()
    assert "fillfactor=50" in options


async def test_elasticsearch_words_are_the_stored_tsvector_words(indexer_engine: AsyncEngine) -> None:
    """The Elasticsearch backend indexes (and queries) the words of words_of; PostgreSQL's stored tsvector
    is the oracle, so both backends find a path by the same words."""
    from services.indexer.domain.querytext import split_words
    from services.indexer.storage.elastic import words_of
    from services.indexer.storage.tables import PATH_WORDS_SQL

    paths = [
        "q3/myReport_2024.csv",
        "Meeting Notes - Final (v3).docx",
        "HTTPServer/x86_64/libFoo2Bar.so.1",
        "données/été_2024/Résumé.pdf",
        "a, b & c+d/dog's [draft] {x}=y!.txt",
        "C++/50%~1 #tag;$HOME.log",
        "mail/user@example.com.txt",
        "http:/host:8080/x?y=1",
    ]
    async with indexer_engine.connect() as conn:
        for path in paths:
            stored = (
                await conn.execute(
                    text(
                        f"SELECT array(SELECT lexeme FROM unnest({PATH_WORDS_SQL})) "  # noqa: S608
                        "FROM (SELECT CAST(:p AS text) AS path) t"
                    ),
                    {"p": path},
                )
            ).scalar_one()
            assert set(stored) == set(words_of(split_words(path))), path
