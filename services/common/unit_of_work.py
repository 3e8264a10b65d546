"""One transaction per use case: a repository and an event writer on the same session, so the change and
its outbox rows commit together; after the commit the relay is woken."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import SessionFactory
from services.common.outbox import Outbox

R = TypeVar("R")
E = TypeVar("E")


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
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.repository = repository
        self.events = events

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlTransaction[R, E]]:
        async with self.sessions() as session:
            async with session.begin():
                yield SqlTransaction(self.repository(session), self.events(session, self.outbox))
            self.outbox.poke()


def is_uuid(value: str) -> bool:
    """Ids are UUIDs; anything else is simply not found (never a database error)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
