"""The shared durable JetStream consumer (services/common/consumer.py) on the test run's NATS, as the
workspaces service's NATS user on its own stream (a user that both publishes and consumes it): acks,
bounded redelivery, dead letters with their reason, and no loss across a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from services.common import events
from services.common.consumer import (
    DELIVERIES_HEADER,
    REASON_HEADER,
    SUBJECT_HEADER,
    ConsumerSettings,
    DurableConsumer,
)
from services.common.errors import DomainError, Reason

pytestmark = pytest.mark.integration

STREAM = "WIO_WORKSPACES"
FAST = ConsumerSettings(batch=16, fetch_seconds=0.2, max_deliver=3, retry_delays=(0.05,), ack_wait_seconds=5)


@pytest.fixture
async def nc(infra: Any) -> AsyncIterator[NatsClient]:
    user, password = infra.nats_login("workspaces")
    client = await events.connect(infra.nats_url, "workspaces", user, password)
    await events.ensure_stream(client.jetstream(), "workspaces")
    try:
        yield client
    finally:
        await client.close()


async def until(check: Any, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class Recorder:
    def __init__(self, fail: set[bytes], permanent: set[bytes]) -> None:
        self.fail = fail
        self.permanent = permanent
        self.seen: Counter[bytes] = Counter()
        self.done: list[bytes] = []

    async def __call__(self, msg: Msg) -> None:
        self.seen[msg.data] += 1
        if msg.data in self.permanent:
            raise DomainError(Reason.MALFORMED_EVENT, "cannot read\r\nthis body")
        if msg.data in self.fail:
            raise ConnectionError("secret-ish detail that must not reach a header")
        self.done.append(msg.data)


def consumer_for(nc: NatsClient, base: str, handle: Any, durable: str) -> DurableConsumer:
    return DurableConsumer(
        nc.jetstream(),
        stream=STREAM,
        durable=durable,
        filter_subject=f"{base}.in.>",
        handle=handle,
        dead_letter_subject=lambda msg: f"{base}.dead.{msg.subject.rsplit('.', 1)[-1]}",
        is_permanent=lambda exc: isinstance(exc, DomainError),
        settings=FAST,
    )


async def test_acks_retries_and_dead_letters(nc: NatsClient) -> None:
    base = f"wio.workspaces.test{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    dead: list[Msg] = []
    watch = await js.subscribe(f"{base}.dead.>", stream=STREAM, cb=_append(dead), ordered_consumer=True)
    handler = Recorder(fail={b"flaky"}, permanent={b"bad"})
    consumer = consumer_for(nc, base, handler, f"t{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        for body, node in ((b"good", "n1"), (b"bad", "n2"), (b"flaky", "n3")):
            await js.publish(f"{base}.in.{node}", body, headers={"Wio-Node-Id": node})
        await until(lambda: len(dead) == 2 and b"good" in handler.done)
    finally:
        await consumer.stop()
        await watch.unsubscribe()
    assert handler.seen == {b"good": 1, b"bad": 1, b"flaky": FAST.max_deliver}
    by_body = {msg.data: msg for msg in dead}
    bad, flaky = by_body[b"bad"], by_body[b"flaky"]
    assert bad.subject == f"{base}.dead.n2"
    assert bad.headers is not None and flaky.headers is not None
    # A permanent error goes at once, with its reason on one line.
    assert bad.headers[REASON_HEADER] == "MALFORMED_EVENT: cannot read this body"
    assert bad.headers[DELIVERIES_HEADER] == "1"
    assert bad.headers["Wio-Node-Id"] == "n2"
    assert bad.headers[SUBJECT_HEADER] == f"{base}.in.n2"
    # Anything else is tried max_deliver times; its reason names the error's type only.
    assert flaky.headers[REASON_HEADER] == "ConnectionError"
    assert flaky.headers[DELIVERIES_HEADER] == str(FAST.max_deliver)
    assert consumer.dead_lettered == 2
    await js.delete_consumer(STREAM, consumer.durable)


async def test_messages_published_while_stopped_arrive_after_restart(nc: NatsClient) -> None:
    base = f"wio.workspaces.test{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    durable = f"t{uuid.uuid4().hex[:8]}"
    first = Recorder(set(), set())
    consumer = consumer_for(nc, base, first, durable)
    await consumer.start()
    await js.publish(f"{base}.in.n1", b"before")
    await until(lambda: first.done == [b"before"])
    await consumer.stop()
    bodies = [f"while-{i}".encode() for i in range(200)]
    await asyncio.gather(*(js.publish(f"{base}.in.n1", body) for body in bodies))
    second = Recorder(set(), set())
    again = consumer_for(nc, base, second, durable)
    await again.start()
    try:
        await until(lambda: len(second.done) >= len(bodies))
    finally:
        await again.stop()
    assert sorted(second.done) == sorted(bodies)
    await js.delete_consumer(STREAM, durable)


def _append(into: list[Msg]) -> Any:
    async def collect(msg: Msg) -> None:
        into.append(msg)

    return collect


async def test_a_dependency_outage_uses_up_no_attempt(nc: NatsClient) -> None:
    base = f"wio.workspaces.test{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    dead: list[Msg] = []
    watch = await js.subscribe(f"{base}.dead.>", stream=STREAM, cb=_append(dead), ordered_consumer=True)
    tries: list[int] = []

    async def down_for_a_while(msg: Msg) -> None:
        tries.append(msg.metadata.num_delivered or 0)
        if len(tries) <= FAST.max_deliver + 2:
            raise ConnectionError("the database is restarting")

    consumer = DurableConsumer(
        js,
        stream=STREAM,
        durable=f"t{uuid.uuid4().hex[:8]}",
        filter_subject=f"{base}.in.>",
        handle=down_for_a_while,
        dead_letter_subject=lambda msg: f"{base}.dead.x",
        is_transient=lambda exc: isinstance(exc, ConnectionError),
        settings=FAST,
    )
    await consumer.start()
    try:
        await js.publish(f"{base}.in.n1", b"waits")
        await until(lambda: len(tries) == FAST.max_deliver + 3, within=60)
        info = await until_acked(js, consumer.durable)
    finally:
        await consumer.stop()
        await watch.unsubscribe()
    # Tried more often than max_deliver, all within its first delivery, and never dead-lettered.
    assert set(tries) == {1} and not dead and consumer.dead_lettered == 0
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    await js.delete_consumer(STREAM, consumer.durable)


async def until_acked(js: Any, durable: str) -> Any:
    for _ in range(100):
        info = await js.consumer_info(STREAM, durable)
        if info.num_ack_pending == 0:
            return info
        await asyncio.sleep(0.1)
    pytest.fail("the message was not acknowledged")
