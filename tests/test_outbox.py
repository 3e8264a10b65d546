"""The transactional outbox: exactly one event per change, also across a relay stop and a repeated publish."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from services.auth.storage import tables
from tests.conftest import AuthUnderTest
from wio.auth.v1 import auth_pb2, events_pb2

pytestmark = pytest.mark.integration


async def test_event_published_once_after_relay_restart(auth: AuthUnderTest, events: Any) -> None:
    watcher = await events("wio.auth.user.created")
    relay = auth.runtime.relay
    await relay.stop()
    try:
        user, _key = await auth.new_user("outbox")
        # Committed, but the relay is stopped: nothing may be published yet.
        await asyncio.sleep(1.0)
        assert (
            watcher.matching("wio.auth.user.created", events_pb2.UserCreatedEvent.FromString, user_id=user.id)
            == []
        )
        async with auth.runtime.sessions() as session:
            row = (
                await session.execute(
                    select(tables.outbox.c.event_id, tables.outbox.c.published_at)
                    .where(tables.outbox.c.subject == "wio.auth.user.created")
                    .order_by(tables.outbox.c.created_at.desc())
                    .limit(1)
                )
            ).one()
        assert row.published_at is None
    finally:
        relay.start()
    found = await watcher.wait_for(
        "wio.auth.user.created", events_pb2.UserCreatedEvent.FromString, user_id=user.id
    )
    await asyncio.sleep(1.0)
    found = watcher.matching("wio.auth.user.created", events_pb2.UserCreatedEvent.FromString, user_id=user.id)
    assert len(found) == 1
    assert found[0].meta.event_id == str(row.event_id)


async def test_publish_repeated_after_crash_is_dropped_as_duplicate(auth: AuthUnderTest, events: Any) -> None:
    """A relay that published but died before marking the row publishes again; JetStream drops it."""
    watcher = await events("wio.auth.user.created")
    relay = auth.runtime.relay
    await relay.stop()
    try:
        user, _key = await auth.new_user("crash")
        async with auth.runtime.sessions() as session:
            row = (
                await session.execute(
                    select(tables.outbox.c.event_id, tables.outbox.c.subject, tables.outbox.c.payload).where(
                        tables.outbox.c.published_at.is_(None)
                    )
                )
            ).one()
        # The first relay's publish went out; its mark never committed.
        await auth.runtime.js.publish(row.subject, row.payload, headers={"Nats-Msg-Id": str(row.event_id)})
    finally:
        relay.start()
    await asyncio.sleep(1.5)
    found = watcher.matching("wio.auth.user.created", events_pb2.UserCreatedEvent.FromString, user_id=user.id)
    assert len(found) == 1
    async with auth.runtime.sessions() as session:
        published = (
            await session.execute(
                select(tables.outbox.c.published_at).where(
                    tables.outbox.c.event_id == uuid.UUID(str(row.event_id))
                )
            )
        ).scalar_one()
    assert published is not None


async def test_failed_change_writes_no_event(auth: AuthUnderTest, events: Any) -> None:
    watcher = await events("wio.auth.>")
    admin = await auth.as_key(auth.admin_key)
    user, _ = await auth.new_user("once")
    with pytest.raises(grpc.aio.AioRpcError):
        await auth.stub.CreateUser(
            auth_pb2.CreateUserRequest(username=user.username, email="x@example.org"), metadata=admin
        )
    await asyncio.sleep(1.0)
    subjects = [m.subject for m in watcher.messages]
    assert subjects.count("wio.auth.user.created") == 1


async def test_relay_stops_when_stopped_right_after_a_commit(auth: AuthUnderTest) -> None:
    """A commit wakes the relay; a stop that follows at once must still end it (graceful shutdown after a
    last write, as in the auth bootstrap)."""
    relay, outbox = auth.runtime.relay, auth.runtime.outbox
    for _ in range(20):
        await asyncio.sleep(0.02)  # the relay is waiting for the next commit
        task = relay._task
        assert task is not None
        outbox.poke()
        async with asyncio.timeout(10):
            await relay.stop()
        assert task.done()
        relay.start()
