"""Async SQLAlchemy engine and sessions, and Alembic migrations for one service's schema."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, CursorResult, Executable, MetaData, event, text
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_

from services.common.errors import DomainError

SessionFactory = async_sessionmaker[AsyncSession]

# Index names as the migrations write them (`ix_<table>_<column>`): without it SQLAlchemy's default puts the
# schema in the name and the tables stop matching the migrated schema.
NAMING_CONVENTION = {"ix": "ix_%(table_name)s_%(column_0_N_name)s"}

# A failed statement's error names the statement but does not list its values (emails, names, sealed
# secrets), so a log of the error does not hold what was written. The database's own message may still
# quote a value it refused.
HIDE_PARAMETERS = True


def service_metadata(schema: str) -> MetaData:
    """The MetaData of one service's tables, all in that service's own schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def _ping(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
    """One round trip (an empty statement) before a pooled connection is used. SQLAlchemy's own pre-ping
    on asyncpg wraps it in BEGIN and ROLLBACK (three round trips, for pgbouncer's transaction mode, which
    wio does not use), and every transaction paid it. A connection that fails it is replaced: the pool
    takes another one for a DisconnectionError."""
    driver = record.driver_connection
    if driver is None:
        raise DisconnectionError("the pooled connection has no driver connection")
    try:
        await_(driver.fetchrow(";"))
    except Exception as exc:
        raise DisconnectionError(f"connection failed its ping: {exc}") from exc


def make_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    """For transactions: each connection is tested (a round trip) as it leaves the pool."""
    engine = create_async_engine(
        database_url, pool_size=pool_size, max_overflow=10, hide_parameters=HIDE_PARAMETERS
    )
    event.listen(engine.sync_engine, "checkout", _ping)
    return engine


def make_read_engine(database_url: str, pool_size: int = 4) -> AsyncEngine:
    """For single statements outside transactions (autocommit: no BEGIN or COMMIT round trips) and without
    the pre-ping round trip: reads, and the job runner's one-statement claims and settles, so it must reach
    the primary. A statement that meets a connection the database dropped is made again by its caller."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        hide_parameters=HIDE_PARAMETERS,
    )


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


UNIQUE_VIOLATION = "23505"


async def execute_unique(
    session: AsyncSession,
    statement: Executable,
    taken: Callable[[str], DomainError],
    *,
    params: Mapping[str, Any] | None = None,
    savepoint: bool = True,
) -> CursorResult[Any]:
    """Runs an insert or update that must not repeat a unique value, in a savepoint so the transaction
    stays usable. A unique violation (the value is taken, or a concurrent write won the race after the
    caller's own check) raises `taken(constraint_name)`; any other integrity error goes up unchanged.
    `savepoint=False` where that error ends the transaction anyway: two round trips fewer."""
    try:
        if not savepoint:
            result: CursorResult[Any] = await session.execute(statement, params)  # type: ignore[assignment]
            return result
        async with session.begin_nested():
            result = await session.execute(statement, params)  # type: ignore[assignment]
            return result
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None) or ""
        raise taken(constraint) from exc


def _upgrade(
    connection: Connection,
    schema: str,
    migrations_dir: Path,
    metadata: MetaData,
    attributes: Mapping[str, object],
    revision: str,
) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # Migrations that re-encrypt stored secrets read the key here (op.get_context().config.attributes).
    config.attributes.update(attributes)
    script = ScriptDirectory.from_config(config)

    def upgrade_to(current: object, _context: object) -> object:
        return script._upgrade_revs(revision, current)  # type: ignore[arg-type]

    with EnvironmentContext(config, script, fn=upgrade_to) as env:
        env.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with env.begin_transaction():
            env.run_migrations()


async def migrate(
    engine: AsyncEngine,
    schema: str,
    migrations_dir: Path,
    metadata: MetaData,
    attributes: Mapping[str, object] | None = None,
    revision: str = "head",
) -> None:
    """Create the schema and bring it to the newest revision (or `revision`); safe when instances start
    together. `attributes` reach the migration scripts (the secret key, for those that re-encrypt)."""
    lock_id = zlib.crc32(f"wio-migrate-{schema}".encode())
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        try:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.commit()
            await conn.run_sync(_upgrade, schema, migrations_dir, metadata, attributes or {}, revision)
            await conn.commit()
        finally:
            # A failed migration leaves its transaction aborted; the unlock needs a usable connection.
            await conn.rollback()
            await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            await conn.commit()
