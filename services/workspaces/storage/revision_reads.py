"""The rights-revision read every cached credential request makes, on a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import cast

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.workspaces.storage.tables import SCHEMA

SQL = f'SELECT scope, value FROM "{SCHEMA}".rights_revisions WHERE scope = ANY($1::text[])'  # noqa: S608 - a constant


class SqlRevisionReads:
    """Reads are made one at a time (the domain shares each read among the requests waiting for it), so
    one connection kept open serves them all and saves the pool check-out that costs more than the query.
    The SQL goes to the driver as written: no compilation per call. A read that fails (e.g. the database
    dropped the connection) is made once more on a new connection; one that is cancelled gives its
    connection up, as the driver may still be in the middle of it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def __call__(self, scopes: Collection[str]) -> dict[str, int]:
        if not scopes:
            return {}
        async with self._lock:
            try:
                return await self._read(scopes)
            except DBAPIError:
                self._give_up()
            return await self._read(scopes)

    async def _read(self, scopes: Collection[str]) -> dict[str, int]:
        if self._connection is None:
            self._connection = await self.engine.connect()
        try:
            rows = await self._connection.exec_driver_sql(SQL, (list(scopes),))
        except asyncio.CancelledError:
            self._give_up()
            raise
        found = cast("list[tuple[str, int]]", rows.all())
        return {scope: int(value) for scope, value in found}

    def _give_up(self) -> None:
        connection, self._connection = self._connection, None
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
