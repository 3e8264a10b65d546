"""bench/search.py in small (2,000 records, 20 workspaces read), so that it keeps working; figures are
printed, never asserted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench import search as bench_search
from deploy.postgres import drop_database, ensure_database, with_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def bench_database(infra: Any) -> AsyncIterator[str]:
    server = with_database(infra.database_url, "postgres")
    name = f"wio_bench_{uuid.uuid4().hex[:10]}"
    ensure_database(server, name)
    try:
        yield with_database(infra.database_url, name)
    finally:
        drop_database(server, name)


async def test_the_search_bench_runs_in_small(
    bench_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = await bench_search.run(bench_database, 2000, 20, 5, fill=True)
    printed = capsys.readouterr().out
    assert "loaded 2,000 records in 40 workspaces" in printed
    assert set(figures) >= {"words", "prefixes", "substrings", "totals by workspace", "totals by extension"}
    assert all(len(values) == 5 for values in figures.values())
    assert "size ix_objects_words" in printed
