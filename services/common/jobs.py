"""Jobs: S3 work that must happen after a change (folder markers, removing a deleted workspace's objects,
creating a bucket) is written as a row in the same transaction as the change and run afterwards by a
worker, so a node that is down or a process that dies delays it and never loses it.

A job is claimed with SELECT ... FOR UPDATE SKIP LOCKED in a short transaction that leases it (its
`locked_until`), then run with no transaction open, then settled: done, due again later, or failed with its
error recorded and a back-off. The request that wrote a job claims it by one conditional UPDATE instead, and
a settle is one UPDATE too: with autocommit sessions each is a single round trip. A lease that runs out
(its worker died) makes the job claimable again, so handlers must be idempotent. Done rows are pruned after
a while."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import (
    Column,
    CursorResult,
    DateTime,
    Index,
    Integer,
    MetaData,
    Result,
    Row,
    String,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from services.common.db import SessionFactory
from services.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What a handler answers when it did not fail: `again_at` None when the job is done, else the time it
    is due again (not a failure: e.g. a second sweep once credentials issued before a delete expired).
    Anything else on it is for the caller of run_now."""

    @property
    def again_at(self) -> datetime | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)
Handler = Callable[[Mapping[str, Any]], Awaitable[OutcomeT]]


def _columns() -> list[Column[Any]]:
    return [
        Column("id", UUID(as_uuid=False), primary_key=True),
        Column("kind", String(64), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("run_at", DateTime(timezone=True), nullable=False),
        Column("locked_until", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("last_error", Text, nullable=True),
        Column("done_at", DateTime(timezone=True), nullable=True),
    ]


def jobs_table(metadata: MetaData) -> Table:
    table = Table("jobs", metadata, *_columns())
    # As create_jobs makes them, so the tables match the migrated schema.
    Index("ix_jobs_pending", table.c.run_at, postgresql_where=table.c.done_at.is_(None))
    Index("ix_jobs_done_at", table.c.done_at)
    return table


def create_jobs(schema: str) -> None:
    """The jobs table in a service's migration (Alembic operations)."""
    from alembic import op

    op.create_table("jobs", *_columns(), schema=schema)
    # Pending jobs by due time; done ones by when they finished, for pruning.
    op.create_index("ix_jobs_pending", "jobs", ["run_at"], schema=schema, postgresql_where="done_at IS NULL")
    op.create_index("ix_jobs_done_at", "jobs", ["done_at"], schema=schema)


def _now() -> datetime:
    return datetime.now(UTC)


def _rows(result: Result[Any]) -> Sequence[Row[Any]]:
    """An UPDATE's rows if it returns any (read before its session closes)."""
    return result.all() if cast("CursorResult[Any]", result).returns_rows else []


# A new job is left to the request that wrote it (JobRunner.run_now right after the commit) this long before
# the worker may take it, so that the request can tell its caller whether the work is done.
HANDOFF_SECONDS = 5.0


class JobQueue:
    """Adds jobs inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._insert = table.insert()  # built once: only the values change

    async def add(
        self, session: AsyncSession, kind: str, payload: Mapping[str, Any], run_at: datetime | None = None
    ) -> str:
        """`run_at`: when the worker may first take it (by default after HANDOFF_SECONDS)."""
        job_id = str(uuid.uuid4())
        now = _now()
        due = run_at or now + timedelta(seconds=HANDOFF_SECONDS)
        await session.execute(
            self._insert,
            {
                "id": job_id,
                "kind": kind,
                "payload": dict(payload),
                "created_at": now,
                "run_at": due,
                "attempts": 0,
            },
        )
        return job_id


@dataclass(frozen=True)
class JobState:
    id: str
    kind: str
    attempts: int
    last_error: str | None
    run_at: datetime
    done_at: datetime | None


@dataclass
class JobRunner(Generic[OutcomeT]):
    """The worker of one service: runs due jobs of the kinds it has handlers for. Several replicas may run
    it on the same table; a job is run by one of them at a time."""

    sessions: SessionFactory
    table: Table
    handlers: Mapping[str, Handler[OutcomeT]]
    # Autocommit sessions for the single-statement claim of run_now and the settles: one round trip each
    # instead of a ping, BEGIN, the statement and COMMIT. They must reach the primary.
    statements: SessionFactory
    poll_seconds: float = 1.0
    lease_seconds: float = 60.0
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    keep_done_seconds: float = 7 * 24 * 3600.0
    batch_size: int = 10
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _settles: dict[tuple[str, ...], Update] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # Built once: run_now claims and settles once per request that wrote a job.
        t = self.table
        self._claim_named = (
            update(t)
            .where(
                t.c.id == bindparam("job"),
                t.c.done_at.is_(None),
                or_(t.c.locked_until.is_(None), t.c.locked_until < bindparam("now")),
                t.c.kind == any_(literal(sorted(self.handlers), ARRAY(String))),
            )
            .values(locked_until=bindparam("lease_end"), attempts=t.c.attempts + 1)
            .returning(t.c.id, t.c.kind, t.c.payload, t.c.attempts)
        )

    def backoff(self, attempts: int) -> float:
        """Doubles with each failed attempt up to the ceiling, with jitter so replicas retry out of step."""
        base = min(self.max_backoff_seconds, self.first_backoff_seconds * 2 ** max(0, attempts - 1))
        return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret

    async def _execute(
        self, statement: Update, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """One statement, committed on its own. Autocommit sessions have no pre-ping: a connection the
        database dropped (e.g. after a restart) fails the statement, which is then made once more; a claim
        that had gone through the first time then finds the job held and answers nothing (the worker
        takes it when the lease runs out)."""
        for attempt in (1, 2):
            try:
                async with self.statements() as session:
                    return _rows(await session.execute(statement, params))
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _claim_one(self, job_id: str) -> list[tuple[str, str, Mapping[str, Any], int]]:
        """The job named (due or not, as run_now hands a new job over) if nobody holds it: one UPDATE
        whose conditions are checked again on the locked row, so two claimants never both get it."""
        now = _now()
        claimed = await self._execute(
            self._claim_named,
            {"job": job_id, "now": now, "lease_end": now + timedelta(seconds=self.lease_seconds)},
        )
        return [(str(row.id), row.kind, row.payload, row.attempts) for row in claimed]

    async def _claim(self) -> list[tuple[str, str, Mapping[str, Any], int]]:
        """Due jobs that nobody holds, a batch of them."""
        t = self.table
        now = _now()
        query = (
            select(t.c.id, t.c.kind, t.c.payload, t.c.attempts)
            .where(
                t.c.done_at.is_(None),
                t.c.run_at <= now,
                or_(t.c.locked_until.is_(None), t.c.locked_until < now),
                t.c.kind.in_(list(self.handlers)),
            )
            .order_by(t.c.run_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(query)).all()
            if rows:
                await session.execute(
                    update(t)
                    .where(t.c.id.in_([row.id for row in rows]))
                    .values(
                        locked_until=now + timedelta(seconds=self.lease_seconds), attempts=t.c.attempts + 1
                    )
                )
        return [(str(row.id), row.kind, row.payload, row.attempts + 1) for row in rows]

    async def _settle(self, job_id: str, **values: Any) -> None:
        columns = tuple(sorted(values))
        statement = self._settles.get(columns)
        if statement is None:  # a few shapes, each built once
            statement = (
                update(self.table)
                .where(self.table.c.id == bindparam("job"))
                .values(locked_until=None, **{c: bindparam(f"new_{c}") for c in columns})
            )
            self._settles[columns] = statement
        await self._execute(statement, {"job": job_id, **{f"new_{c}": v for c, v in values.items()}})

    async def _run(
        self, job_id: str, kind: str, payload: Mapping[str, Any], attempts: int
    ) -> OutcomeT | None:
        """Runs one claimed job (no transaction open) and records how it went; answers the handler's
        outcome, or None when it failed."""
        try:
            outcome = await self.handlers[kind](payload)
        except asyncio.CancelledError:
            raise  # its lease runs out and another round takes it
        except Exception as exc:
            delay = self.backoff(attempts)
            log.warning(
                "job %s (%s) attempt %d failed, retried in %.0f s: %s", job_id, kind, attempts, delay, exc
            )
            error = f"{type(exc).__name__}: {exc}"[:1000]
            await self._settle(job_id, run_at=_now() + timedelta(seconds=delay), last_error=error)
            return None
        if outcome.again_at is not None:
            await self._settle(job_id, run_at=outcome.again_at, last_error=None)
        else:
            await self._settle(job_id, done_at=_now(), last_error=None)
        return outcome

    async def run_now(self, job_id: str) -> OutcomeT | None:
        """Runs this job at once unless it is done or someone else holds it: meant for the request that
        wrote it, right after the commit. Answers the handler's outcome, or None if it failed or was not
        run. Whatever it leaves undone the worker takes up."""
        claimed = await self._claim_one(job_id)
        return await self._run(*claimed[0]) if claimed else None

    async def run_due(self) -> int:
        """One round: claims a batch of due jobs and runs them; answers how many were claimed."""
        claimed = await self._claim()
        for job in claimed:
            await self._run(*job)
        return len(claimed)

    async def prune(self) -> int:
        cutoff = _now() - timedelta(seconds=self.keep_done_seconds)
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(self.table).where(self.table.c.done_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def state(self, job_id: str) -> JobState | None:
        t = self.table
        async with self.sessions() as session:
            row = (await session.execute(select(t).where(t.c.id == job_id))).first()
        if row is None:
            return None
        return JobState(str(row.id), row.kind, row.attempts, row.last_error, row.run_at, row.done_at)

    def poke(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                while await self.run_due() == self.batch_size:
                    pass
                if loop.time() - last_prune > 3600:
                    await self.prune()
                    last_prune = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="jobs")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
