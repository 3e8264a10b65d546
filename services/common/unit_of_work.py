"""One transaction per use case: a repository and an event writer on the same session, so the change and
its outbox rows commit together; after the commit the relay is woken."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import SessionFactory
from services.common.outbox import Outbox

R = TypeVar("R")
E = TypeVar("E")
T = TypeVar("T")


@dataclass
class SqlTransaction(Generic[R, E]):
    repo: R
    events: E


class SqlTransactions(Generic[R, E]):
    def __init__(
        self,
        sessions: SessionFactory,
        outbox: Outbox,
        repository: Callable[[AsyncSession], R],
        events: Callable[[AsyncSession, Outbox], E],
        reads: SessionFactory | None = None,
        before_commit: Callable[[R], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.repository = repository
        self.events = events
        self.reads = reads or sessions
        # The repository's last writes, made once the use case is done and before the commit.
        self.before_commit = before_commit

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlTransaction[R, E]]:
        async with self.sessions() as session:
            async with session.begin():
                transaction = SqlTransaction(self.repository(session), self.events(session, self.outbox))
                yield transaction
                if self.before_commit is not None:
                    await self.before_commit(transaction.repo)
            self.outbox.poke()
            await self.outbox.publish_before_reply(session)

    async def read(self, query: Callable[[R], Awaitable[T]]) -> T:
        """A read that needs no transaction (each statement sees what is committed), on the read sessions:
        no BEGIN, COMMIT or pre-ping round trips. A connection the database dropped (e.g. after a restart)
        then fails the statement instead of the ping, so the read is made once more."""
        try:
            return await self._read_once(query)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return await self._read_once(query)

    async def _read_once(self, query: Callable[[R], Awaitable[T]]) -> T:
        async with self.reads() as session:
            return await query(self.repository(session))


def is_uuid(value: str) -> bool:
    """Ids are UUIDs; anything else is simply not found (never a database error)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
