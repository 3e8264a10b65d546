"""Applying many storage events in one transaction (services/indexer/storage/pg_apply.py) ends exactly as
PgObjectIndex.apply on each in turn: same answers, same records, tombstones and totals. Random sequences
of creates and deletes of a few keys, out of order and repeated, on the test run's PostgreSQL; one node id
per way of applying."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import make_engine, migrate
from services.indexer.domain.models import Location, ObjectChange, ObjectRecord, record_for
from services.indexer.server import MIGRATIONS
from services.indexer.storage import tables
from services.indexer.storage.pg_apply import apply_many
from services.indexer.storage.pg_index import PgObjectIndex

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def engine(infra: Any) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(infra.database_url, pool_size=2)
    await migrate(engine, tables.SCHEMA, MIGRATIONS, tables.metadata)
    yield engine
    await engine.dispose()


def location(node_id: str, workspace_id: str) -> Location:
    return Location(workspace_id, str(uuid.uuid4()), node_id, "data", "ws/", "o", "owner", "ws", "node")


def changes_for(node_id: str, workspace_id: str, seed: int) -> list[tuple[ObjectChange, ObjectRecord | None]]:
    rng = random.Random(seed)
    base = datetime(2026, 11, 30, 12, tzinfo=UTC)
    where = location(node_id, workspace_id)
    items: list[tuple[ObjectChange, ObjectRecord | None]] = []
    for _ in range(60):
        key = f"ws/{rng.choice(['a.txt', 'b.csv', 'c.csv', 'd'])}"
        at = base + timedelta(milliseconds=rng.randrange(0, 40) * 10)
        sequencer = format(rng.randrange(1, 50), "X") if rng.random() < 0.3 else ""
        if rng.random() < 0.4:
            items.append((ObjectChange(node_id, "data", key, True, at, sequencer=sequencer), None))
        else:
            size = rng.randrange(1, 1000)
            change = ObjectChange(node_id, "data", key, False, at, size, f"e{size}", "", sequencer)
            items.append((change, record_for(where, key, size, f"e{size}", at)))
    return items


async def state(engine: AsyncEngine, node_id: str, workspace_id: str) -> tuple[Any, ...]:
    async with engine.connect() as conn:
        records = (
            await conn.execute(
                text(
                    "SELECT key, size, etag, changed_at, sequencer FROM indexer.objects"
                    " WHERE node_id = CAST(:n AS uuid) ORDER BY key"
                ),
                {"n": node_id},
            )
        ).all()
        tombs = (
            await conn.execute(
                text(
                    "SELECT key, deleted_at, sequencer FROM indexer.tombstones"
                    " WHERE node_id = CAST(:n AS uuid) ORDER BY key"
                ),
                {"n": node_id},
            )
        ).all()
    totals = await PgObjectIndex(engine).totals([workspace_id], by_extension=True)
    return (
        [tuple(r) for r in records],
        [tuple(r) for r in tombs],
        totals.by_workspace.get(workspace_id),
        totals.by_extension,
    )


@pytest.mark.parametrize("seed", range(6))
async def test_many_at_once_ends_as_one_by_one(engine: AsyncEngine, seed: int) -> None:
    index = PgObjectIndex(engine)
    one_node, many_node = str(uuid.uuid4()), str(uuid.uuid4())
    one_ws, many_ws = str(uuid.uuid4()), str(uuid.uuid4())
    one_items = changes_for(one_node, one_ws, seed)
    many_items = changes_for(many_node, many_ws, seed)

    one_results = [await index.apply(change, record) for change, record in one_items]
    many_results: list[Any] = []
    # In groups of various sizes, as they would arrive while writes are under way.
    rng, start = random.Random(seed), 0
    while start < len(many_items):
        size = rng.randrange(1, 20)
        many_results += await apply_many(engine, many_items[start : start + size])
        start += size

    assert many_results == one_results
    one_state, many_state = await state(engine, one_node, one_ws), await state(engine, many_node, many_ws)
    assert many_state == one_state
    assert one_state[0] or one_state[1]  # the sequences do leave something behind
