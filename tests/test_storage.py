"""Storage plumbing shared by the services.

Each service's tables (storage/tables.py) and its Alembic migrations are written by hand: a fresh
database migrated to head must hold exactly the tables, columns, types, indexes and constraints the
repositories are written against."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

import services.auth.storage.tables as auth_tables
import services.indexer.storage.tables as indexer_tables
import services.nodes.storage.tables as nodes_tables
import services.workspaces.storage.tables as workspaces_tables
from deploy.postgres import drop_database, ensure_database, with_database
from services.common.db import execute_unique, make_session_factory, migrate
from services.common.errors import DomainError, Reason

pytestmark = pytest.mark.integration

SERVICES = {
    "auth": auth_tables,
    "nodes": nodes_tables,
    "workspaces": workspaces_tables,
    "indexer": indexer_tables,
}


def _migrations(tables_module: Any) -> Path:
    return Path(tables_module.__file__).parent / "migrations"


@pytest.fixture
async def fresh_database(infra: Any) -> AsyncIterator[str]:
    server = with_database(infra.database_url, "postgres")
    name = f"wio_schema_{uuid.uuid4().hex[:10]}"
    ensure_database(server, name)
    try:
        yield with_database(infra.database_url, name)
    finally:
        drop_database(server, name)


def _differences(connection: Connection, metadata: MetaData, schema: str) -> list[Any]:
    def ours(name: str | None, kind: str, parent: Any) -> bool:
        if kind == "schema":
            return name == schema
        # Alembic's own bookkeeping table is not part of the model.
        return not (kind == "table" and name == "alembic_version")

    context = MigrationContext.configure(
        connection,
        opts={"include_schemas": True, "include_name": ours, "compare_type": True},
    )
    return _without_expression_index_echoes(list(compare_metadata(context, metadata)))


def _without_expression_index_echoes(differences: list[Any]) -> list[Any]:
    """Alembic reflects an index on an expression (e.g. `prefix COLLATE "C"`) as one on the bare column,
    so such an index is reported as removed and added again under the same name. That pair only says the
    index exists on both sides; its expression is not compared (Alembic cannot)."""

    def has_expression(index: Any) -> bool:
        return any(not isinstance(part, Column) for part in index.expressions)

    added = {d[1].name for d in differences if d[0] == "add_index" and has_expression(d[1])}
    removed = {d[1].name for d in differences if d[0] == "remove_index"}
    echoes = added & removed
    return [d for d in differences if not (d[0] in {"add_index", "remove_index"} and d[1].name in echoes)]


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrated_schema_matches_the_tables(fresh_database: str, service: str) -> None:
    module = SERVICES[service]
    engine = create_async_engine(fresh_database)
    try:
        await migrate(engine, module.SCHEMA, _migrations(module), module.metadata)
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences, module.metadata, module.SCHEMA)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: tables.py and the migrations disagree: {differences}"


async def test_the_comparison_sees_a_column_the_migrations_lack(fresh_database: str) -> None:
    """The check above can fail: a table model with one column more than its migration is reported."""
    module = SERVICES["workspaces"]
    engine = create_async_engine(fresh_database)
    try:
        await migrate(engine, module.SCHEMA, _migrations(module), module.metadata)
        drifted = MetaData(schema=module.SCHEMA)
        for table in module.metadata.tables.values():
            table.to_metadata(drifted)
        Table(
            "workspaces",
            drifted,
            Column("added_by_hand", Integer),
            extend_existing=True,
        )
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences, drifted, module.SCHEMA)
    finally:
        await engine.dispose()
    added = [d for d in differences if d[0] == "add_column"]
    assert [(d[2], d[3].name) for d in added] == [("workspaces", "added_by_hand")]


async def test_a_taken_unique_value_becomes_the_callers_error_and_the_transaction_goes_on(
    fresh_database: str,
) -> None:
    engine = create_async_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE parents (id int PRIMARY KEY)"))
            await conn.execute(
                text(
                    "CREATE TABLE things (id int PRIMARY KEY, name text CONSTRAINT uq_things_name UNIQUE,"
                    " parent int REFERENCES parents (id))"
                )
            )
        sessions = make_session_factory(engine)
        seen: list[str] = []

        def taken(constraint: str) -> DomainError:
            seen.append(constraint)
            return DomainError(Reason.GROUP_NAME_TAKEN, "taken")

        async with sessions() as session, session.begin():
            await execute_unique(session, text("INSERT INTO things (id, name) VALUES (1, 'a')"), taken)
            with pytest.raises(DomainError) as refused:
                await execute_unique(session, text("INSERT INTO things (id, name) VALUES (2, 'a')"), taken)
            assert refused.value.reason is Reason.GROUP_NAME_TAKEN
            assert seen == ["uq_things_name"]
            # Only the savepoint was rolled back: the first row and a later one still commit.
            await execute_unique(session, text("INSERT INTO things (id, name) VALUES (3, 'b')"), taken)
        async with sessions() as session, session.begin():
            # Not a unique violation: the error goes up as it is, and `taken` is not asked.
            with pytest.raises(IntegrityError):
                await execute_unique(
                    session, text("INSERT INTO things (id, name, parent) VALUES (4, 'c', 99)"), taken
                )
        assert seen == ["uq_things_name"]
        async with engine.connect() as conn:
            names = (await conn.execute(text("SELECT name FROM things ORDER BY id"))).scalars().all()
        assert names == ["a", "b"]
    finally:
        await engine.dispose()
