"""WIO_INGEST and the gateway's NATS user (services/common/streams.py, deploy/nats.py), against the real
nats-server started the launcher's way: the indexer creates the stream (limits retention, 7 days),
reads it and the nodes and workspaces streams, and may publish dead letters; the gateway may publish
storage events and nothing else, and reads no stream; no other service may publish storage events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import RetentionPolicy

from deploy.nats import NatsServer, permissions_for, start_nats
from deploy.ports import pick_free_port
from services.common.events import ensure_ingest_stream, ensure_stream
from services.common.streams import STREAMS, deadletter_subject, inbox_prefix, ingest_subject

pytestmark = pytest.mark.integration

# A refused JetStream request gets no answer: the client gives up after this.
REFUSED_WAIT = 1.5


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path, pick_free_port())
    try:
        yield server
    finally:
        server.stop()


class As:
    def __init__(self, nc: Any, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors
        self.js = nc.jetstream(timeout=REFUSED_WAIT)

    def violations(self, subject: str) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e and subject.lower() in e.lower()]


@pytest.fixture
async def connect_as(fresh_nats: NatsServer) -> AsyncIterator[Any]:
    opened: list[Any] = []

    async def connect(user: str) -> As:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            fresh_nats.url,
            user=user,
            password=fresh_nats.credentials.password(user),
            inbox_prefix=inbox_prefix(user),
            error_cb=on_error,
            allow_reconnect=False,
        )
        opened.append(nc)
        return As(nc, errors)

    try:
        yield connect
    finally:
        for nc in opened:
            await nc.close()


async def refused(call: Any) -> bool:
    try:
        await call
    except Exception:
        return True
    return False


async def test_gateway_publishes_storage_events_only(connect_as: Any) -> None:
    indexer = await connect_as("indexer")
    assert await ensure_ingest_stream(indexer.js) == "WIO_INGEST"
    for domain in ("nodes", "workspaces"):
        await ensure_stream((await connect_as(domain)).js, domain)
    gateway = await connect_as("gateway")

    ack = await gateway.js.publish(ingest_subject("n1"), b"{}", headers={"Wio-Node-Id": "n1"})
    assert ack.stream == "WIO_INGEST"
    # Nowhere else: not dead letters, not another domain's events.
    for subject in (deadletter_subject("n1"), "wio.nodes.node.removed", "wio.indexer.crawl.started"):
        assert await refused(gateway.js.publish(subject, b"{}")), subject
        assert gateway.violations(subject), subject
    # It reads no stream and creates none.
    assert await refused(gateway.js.stream_info("WIO_INGEST"))
    assert await refused(
        gateway.js.subscribe(ingest_subject("n1"), stream="WIO_INGEST", ordered_consumer=True)
    )
    assert await refused(gateway.js.add_stream(name="WIO_GATEWAY", subjects=["gw.>"]))
    # Plain subscriptions outside its inbox are refused too.
    await gateway.nc.subscribe("wio.>")
    await gateway.nc.subscribe("_INBOX.>")
    await gateway.nc.flush()
    await asyncio.sleep(0.3)
    assert gateway.violations('subscription to "wio.>"')
    assert gateway.violations("_INBOX.>")
    info = await indexer.js.stream_info("WIO_INGEST")
    assert info.state.messages == 1


async def test_indexer_owns_and_reads_ingest_and_reads_nodes_and_workspaces(connect_as: Any) -> None:
    indexer = await connect_as("indexer")
    await ensure_ingest_stream(indexer.js)
    await ensure_ingest_stream(indexer.js)  # idempotent
    info = await indexer.js.stream_info("WIO_INGEST")
    assert info.config.subjects == ["wio.ingest.>"]
    assert info.config.retention == RetentionPolicy.LIMITS
    assert info.config.max_age == 7 * 24 * 3600
    ack = await indexer.js.publish(deadletter_subject("n1"), b"reason", headers={"Wio-Node-Id": "n1"})
    assert ack.stream == "WIO_INGEST"
    gateway = await connect_as("gateway")
    await gateway.js.publish(ingest_subject("n1"), b"{}")
    pull = await indexer.js.pull_subscribe(ingest_subject("n1"), durable="indexer-test", stream="WIO_INGEST")
    (message,) = await pull.fetch(1, timeout=5)
    assert message.subject == ingest_subject("n1")
    await message.ack()
    for domain in ("nodes", "workspaces"):
        owner = await connect_as(domain)
        await ensure_stream(owner.js, domain)
        await owner.js.publish(f"wio.{domain}.thing.happened", b"x")
        sub = await indexer.js.subscribe(f"wio.{domain}.>", stream=STREAMS[domain], ordered_consumer=True)
        assert (await sub.next_msg(timeout=5)).subject == f"wio.{domain}.thing.happened"


async def test_no_other_service_publishes_storage_events_or_makes_the_stream(connect_as: Any) -> None:
    for user in ("auth", "nodes", "workspaces"):
        client = await connect_as(user)
        assert await refused(ensure_ingest_stream(client.js)), user
    indexer = await connect_as("indexer")
    await ensure_ingest_stream(indexer.js)
    for user in ("auth", "nodes", "workspaces", "indexer"):
        client = await connect_as(user)
        assert await refused(client.js.publish(ingest_subject("forged"), b"{}")), user
    assert (await indexer.js.stream_info("WIO_INGEST")).state.messages == 0


@pytest.mark.unit
def test_permission_table_for_the_gateway_and_the_indexer() -> None:
    gateway = permissions_for("gateway")
    assert gateway["publish"]["allow"] == ["wio.ingest.s3.>"]
    assert gateway["subscribe"]["allow"] == ["_INBOX_gateway.>"]
    indexer = permissions_for("indexer")["publish"]["allow"]
    assert {"wio.indexer.>", "wio.ingest.deadletter.>", "$JS.API.STREAM.CREATE.WIO_INGEST"} <= set(indexer)
    for stream in ("WIO_INGEST", "WIO_NODES", "WIO_WORKSPACES", "WIO_AUTH"):
        assert f"$JS.API.CONSUMER.CREATE.{stream}.>" in indexer
    assert "wio.ingest.s3.>" not in indexer and "wio.ingest.>" not in indexer
