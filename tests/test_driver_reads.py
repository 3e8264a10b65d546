"""The hot reads' connections (services/common/driver_reads.py) against the real PostgreSQL: a refused
statement or value keeps its connection, a connection the database ended is replaced within the same read, a
cancelled read gives its connection up, and no more than `size` connections are ever used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from services.common.driver_reads import DriverConnections, DriverStatement
from tests.conftest import WorkspacesUnderTest

pytestmark = pytest.mark.integration

BACKEND = DriverStatement.of(text("SELECT pg_backend_pid()"))
DIVIDE = DriverStatement.of(text("SELECT 1 / CAST(:by AS integer)"))
SLEEP = DriverStatement.of(text("SELECT pg_backend_pid(), pg_sleep(CAST(:seconds AS float8))"))


@pytest.fixture
async def connections(workspaces: WorkspacesUnderTest) -> AsyncIterator[DriverConnections]:
    url = workspaces.runtime.engine.url.render_as_string(hide_password=False)
    held = DriverConnections(url, size=2)
    try:
        yield held
    finally:
        await held.close()


async def backend(connections: DriverConnections) -> int:
    (row,) = await connections.fetch(BACKEND, {})
    return int(row[0])


async def terminate(workspaces: WorkspacesUnderTest, pid: int) -> None:
    async with workspaces.runtime.engine.connect() as connection:
        assert await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_statement_takes_its_values_in_order_with_its_own_literals() -> None:
    statement = DriverStatement.of(text("SELECT :b, :a"))
    assert statement.sql == "SELECT $1, $2"
    assert statement.arguments({"a": 1, "b": 2}) == [2, 1]


async def test_a_refused_statement_or_value_keeps_its_connection(connections: DriverConnections) -> None:
    first = await backend(connections)
    with pytest.raises(Exception) as refused:  # the driver's own error, told by its SQLSTATE
        await connections.fetch(DIVIDE, {"by": 0})
    assert getattr(refused.value, "sqlstate", None) == "22012"  # division_by_zero
    assert await backend(connections) == first
    with pytest.raises(Exception) as refused:  # a value the driver cannot send as an integer
        await connections.fetch(DIVIDE, {"by": "two"})
    assert getattr(refused.value, "sqlstate", None) == "22000"  # data_exception, raised by the driver
    assert await backend(connections) == first
    assert [tuple(r) for r in await connections.fetch(DIVIDE, {"by": 1})] == [(1,)]


async def test_a_connection_the_database_ended_is_replaced_within_the_read(
    workspaces: WorkspacesUnderTest, connections: DriverConnections
) -> None:
    first = await backend(connections)
    await terminate(workspaces, first)
    second = await backend(connections)  # no error reaches the caller
    assert second != first


async def test_a_cancelled_read_gives_its_connection_up(connections: DriverConnections) -> None:
    first = await backend(connections)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await connections.fetch(SLEEP, {"seconds": 5})
    # The driver may still be in the middle of the cancelled statement: the next read gets another one.
    assert await backend(connections) != first


async def test_concurrent_reads_use_at_most_size_connections(connections: DriverConnections) -> None:
    rows = await asyncio.gather(*(connections.fetch(SLEEP, {"seconds": 0.05}) for _ in range(10)))
    pids = {int(found[0][0]) for found in rows}
    assert 1 <= len(pids) <= 2
