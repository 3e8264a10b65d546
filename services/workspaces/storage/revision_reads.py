"""The rights-revision read every cached credential request makes, on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from services.common.db import HIDE_PARAMETERS
from services.workspaces.storage.tables import SCHEMA

SQL = f'SELECT scope, value FROM "{SCHEMA}".rights_revisions WHERE scope = ANY($1::text[])'  # noqa: S608 - a constant


class SqlRevisionReads:
    """Reads are made one at a time (the domain shares each read among the requests waiting for it), so
    one connection kept open serves them all and saves the pool check-out that costs more than the query.
    The SQL goes straight to the driver's connection: no compilation or result processing per call. A
    read that fails (e.g. the database dropped the connection) is made once more on a new connection; one
    that is cancelled gives its connection up, as the driver may still be in the middle of it."""

    def __init__(self, database_url: str) -> None:
        # Its own engine of one connection, checked for life whenever it is (re)taken from the pool.
        self.engine = create_async_engine(
            database_url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            isolation_level="AUTOCOMMIT",
            hide_parameters=HIDE_PARAMETERS,
        )
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the driver's own connection (asyncpg)
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self, scopes: Collection[str]) -> dict[str, int]:
        if not scopes:
            return {}
        async with self._lock:
            try:
                return await self._read(scopes)
            except Exception:  # a read repeats safely; a second failure is the caller's
                self._give_up()
            return await self._read(scopes)

    async def _read(self, scopes: Collection[str]) -> dict[str, int]:
        if self._connection is None:
            self._connection = await self.engine.connect()
            self._driver = (await self._connection.get_raw_connection()).driver_connection
        try:
            rows = await self._driver.fetch(SQL, list(scopes))
        except asyncio.CancelledError:
            self._give_up()
            raise
        return {str(row[0]): int(row[1]) for row in rows}

    def _give_up(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            task = asyncio.create_task(self._close(connection))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(connection: AsyncConnection) -> None:
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()

    async def close(self) -> None:
        self._give_up()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.engine.dispose()
