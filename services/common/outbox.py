"""Transactional outbox: an event row is written in the same transaction as the change it reports, and a
relay publishes committed rows to JetStream with Nats-Msg-Id = event id, so a publish repeated after a
crash is dropped by JetStream as a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.common.db import SessionFactory
from services.common.errors import DomainError, Reason
from services.common.identity import Caller, current_caller
from services.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("subject", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
    )


def create_outbox(schema: str) -> None:
    """The outbox table in a service's migration (Alembic operations)."""
    from alembic import op

    op.create_table(
        "outbox",
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("subject", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False),
        schema=schema,
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], schema=schema)
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], schema=schema)


def stamp(event: Message, actor: Caller | None = None) -> str:
    """Fill the event's meta (field `meta`): a fresh id, the time and the acting user."""
    event_id = str(uuid.uuid4())
    meta: Any = getattr(event, "meta")  # noqa: B009 - every wio event has field 1 `meta`
    meta.event_id = event_id
    meta.occurred_at.FromDatetime(datetime.now(UTC))
    who = actor if actor is not None else current_caller()
    if who is not None:
        meta.actor.user_id = who.user_id
        meta.actor.username = who.username
    return event_id


# Session.info key: events of the transaction to publish before its change is acknowledged.
_BEFORE_REPLY = "wio.outbox.before_reply"


class Outbox:
    """Writes events into a service's outbox table inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table
        # Built once: only the values change from one event to the next.
        self._insert = table.insert()
        self._written = asyncio.Event()
        self.publisher: Publisher | None = None  # the relay's, for events published before the reply

    async def add(
        self,
        session: AsyncSession,
        subject: str,
        event: Message,
        actor: Caller | None = None,
        *,
        before_reply: bool = False,
    ) -> str:
        """`before_reply`: the event is also published right after the commit, before the change is
        acknowledged, for consumers that promise a change counts as soon as it is acknowledged."""
        event_id = stamp(event, actor)
        payload = event.SerializeToString()
        await session.execute(
            self._insert,
            {
                "event_id": uuid.UUID(event_id),
                "subject": subject,
                "payload": payload,
                "created_at": datetime.now(UTC),
                "attempts": 0,
            },
        )
        if before_reply:
            session.info.setdefault(_BEFORE_REPLY, []).append((subject, payload, event_id))
        return event_id

    async def publish_before_reply(self, session: AsyncSession) -> None:
        """After the commit: publishes the transaction's `before_reply` events. The relay publishes them
        again later, which JetStream drops as a duplicate (same Nats-Msg-Id). If one cannot be published,
        the caller is told so instead of being given an acknowledgement the promise would not hold for."""
        pending = session.info.pop(_BEFORE_REPLY, [])
        for subject, payload, event_id in pending:
            try:
                if self.publisher is None:
                    raise RuntimeError("no publisher")
                await self.publisher.publish(subject, payload, {"Nats-Msg-Id": event_id})
            except Exception as exc:
                log.warning("event %s on %s not published before the reply: %s", event_id, subject, exc)
                raise DomainError(
                    Reason.DEPENDENCY_UNAVAILABLE,
                    "the change is saved, but the event stream did not take it yet: other services may "
                    "see it only once it does",
                ) from exc

    def poke(self) -> None:
        """Wake the relay after a commit so events go out without waiting for the next poll."""
        self._written.set()

    async def wait(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives just
        # after a poke, and the relay could then never be stopped.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._written.wait()
        self._written.clear()


class Publisher(Protocol):
    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None: ...


@dataclass
class OutboxRelay:
    """Publishes committed outbox rows in the order they were written.

    Order per entity holds across replicas because one relay per service is active at a time: the one
    holding a PostgreSQL session advisory lock (keyed by the outbox table) on a dedicated connection of
    `engine`. The others wait and try again each poll; when the holder stops or dies, its connection
    closes, PostgreSQL releases the lock and the next replica takes over. The holder asks the server
    whether its lock connection lives once per poll, and before every round looks whether the driver saw
    it close. Rows are still claimed with SKIP LOCKED, so a relay that has just lost its connection cannot
    publish a row twice. Without an engine (tests of the relay alone) every instance publishes.

    Published rows are deleted once `keep_published_seconds` old, which keeps the table bounded; by then
    JetStream's duplicate window for them has long passed."""

    sessions: SessionFactory
    outbox: Outbox
    publisher: Publisher
    poll_seconds: float = 0.5
    batch_size: int = 100
    engine: AsyncEngine | None = None
    keep_published_seconds: float = 3600.0
    prune_every_seconds: float = 60.0

    def __post_init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._lock_connection: AsyncConnection | None = None
        self._lock_driver: Any = None  # the driver's own connection under it (asyncpg)
        self._lock_checked = 0.0  # loop time the lock connection last answered
        self._last_prune = 0.0
        self.outbox.publisher = self.publisher
        # Built once: a round under load runs many times a second.
        table = self.outbox.table
        self._claim = (
            select(table.c.event_id, table.c.subject, table.c.payload)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.created_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        self._mark_published = (
            update(table)
            .where(table.c.event_id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
            .values(published_at=bindparam("at"))
        )
        self._count_attempt = (
            update(table).where(table.c.event_id == bindparam("id")).values(attempts=table.c.attempts + 1)
        )

    @property
    def _lock_key(self) -> str:
        return f"wio.outbox.{self.outbox.table.fullname}"

    @property
    def active(self) -> bool:
        """Whether this relay holds the service's relay lock (always, without an engine)."""
        return self.engine is None or self._lock_connection is not None

    async def _take_lead(self) -> bool:
        """Answers whether this relay is the active one, taking the lock if it is free. A lock connection
        that no longer answers is given up (the server released the lock with it)."""
        if self.engine is None:
            return True
        now = asyncio.get_running_loop().time()
        if (
            self._lock_connection is not None
            and now - self._lock_checked < self.poll_seconds
            and not self._lock_driver.is_closed()
        ):
            # Under load rounds follow each other closely: between the checks that ask the server (two
            # round trips, once a poll), a round only looks whether the driver saw the connection close
            # (as it does when the server ends it).
            return True
        if self._lock_connection is not None:
            try:
                await self._lock_connection.exec_driver_sql("SELECT 1")
                await self._lock_connection.commit()
                self._lock_checked = now
                return True
            except Exception as exc:
                log.warning("outbox relay lost its lock connection: %s", exc)
                await self._release()
        connection = await self.engine.connect()
        try:
            taken = (
                await connection.execute(select(func.pg_try_advisory_lock(func.hashtext(self._lock_key))))
            ).scalar_one()
            # A session lock outlives the transaction: end it so the connection is not idle in one.
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._lock_connection = connection
        self._lock_driver = (await connection.get_raw_connection()).driver_connection
        self._lock_checked = asyncio.get_running_loop().time()
        log.info("outbox relay of %s is active", self.outbox.table.fullname)
        return True

    async def _release(self) -> None:
        connection, self._lock_connection, self._lock_driver = self._lock_connection, None, None
        if connection is not None:
            # Invalidating closes the database connection itself (closing would only hand it back to the
            # pool, lock and all), which releases the lock.
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def publish_pending(self) -> int:
        """Publish one batch; answers how many rows were published."""
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(self._claim)).all()
            published = []
            for event_id, subject, payload in rows:
                try:
                    await self.publisher.publish(subject, payload, {"Nats-Msg-Id": str(event_id)})
                except Exception as exc:  # keep the row; the next round retries it
                    log.warning("event %s on %s not published yet: %s", event_id, subject, exc)
                    await session.execute(self._count_attempt, {"id": event_id})
                    break
                published.append(event_id)
            if published:
                await session.execute(self._mark_published, {"ids": published, "at": datetime.now(UTC)})
            return len(published)

    async def prune(self) -> int:
        """Deletes published rows older than keep_published_seconds; answers how many."""
        table = self.outbox.table
        cutoff = datetime.now(UTC) - timedelta(seconds=self.keep_published_seconds)
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(table).where(table.c.published_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _round(self) -> None:
        if not await self._take_lead():
            return
        while await self.publish_pending() == self.batch_size:
            pass
        now = asyncio.get_running_loop().time()
        if now - self._last_prune >= self.prune_every_seconds:
            self._last_prune = now
            await self.prune()

    async def run(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay round failed: %s", exc)
            await self.outbox.wait(self.poll_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._release()
