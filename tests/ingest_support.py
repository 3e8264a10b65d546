"""Helpers of the ingest tests: event bodies as MinIO and SeaweedFS send them, publishing them as the
gateway does (JetStream WIO_INGEST, subject wio.ingest.s3.<node_id>, header Wio-Node-Id), the indexer's
settings, and reading the index."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client as NatsClient
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import events
from services.common.db import make_engine
from services.indexer.config import IndexerSettings, IngestConfig
from services.indexer.domain.models import ObjectRecord, SearchQuery
from services.indexer.storage.pg_index import PgObjectIndex
from tests.conftest import AuthUnderTest, _service_key, common_settings

SAMPLES = Path(__file__).parent / "data" / "seaweedfs_webhook"
INGEST_STREAM = "WIO_INGEST"
DURABLE = "indexer-ingest"


def minio_body(
    event: str, bucket: str, key: str, when: datetime, size: int = 0, etag: str = "", sequencer: str = ""
) -> bytes:
    """MinIO's webhook document (docs/bucket/notifications/README.md of minio/minio): the key URL-encoded."""
    encoded = quote_plus(key, safe="/")
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": event,
        "userIdentity": {"principalId": "minio"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": encoded, "size": size, "eTag": etag, "sequencer": sequencer},
        },
    }
    return json.dumps({"EventName": event, "Key": f"{bucket}/{encoded}", "Records": [record]}).encode()


def seaweed_body(
    bucket: str, key: str, deleted: bool = False, size: int = 5, when: datetime | None = None
) -> bytes:
    """A real SeaweedFS 4.48 body (tests/data/seaweedfs_webhook) moved to this bucket and key."""
    body = json.loads((SAMPLES / ("delete_object.json" if deleted else "create_object.json")).read_bytes())
    path = f"/buckets/{bucket}/{key}"
    body["key"] = path
    entry = body["message"]["old_entry" if deleted else "new_entry"]
    entry["name"] = path.rsplit("/", 1)[1]
    if not deleted:
        body["message"]["new_parent_path"] = path.rsplit("/", 1)[0]
    entry["attributes"]["file_size"] = size
    if when is not None:
        entry["attributes"]["mtime"] = int(when.timestamp())
        for chunk in entry.get("chunks", []):
            chunk["modified_ts_ns"] = int(when.timestamp() * 1_000_000_000)
    return json.dumps(body).encode()


class Gateway:
    """Publishes raw bodies the way the gateway does, as its NATS user."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    async def publish(self, node_id: str, body: bytes) -> None:
        await self.js.publish(f"wio.ingest.s3.{node_id}", body, headers={"Wio-Node-Id": node_id}, timeout=10)


@pytest.fixture
async def gateway_nats(infra: Any) -> AsyncIterator[Gateway]:
    user, password = infra.nats_login("gateway")
    nc = await events.connect(infra.nats_url, "gateway", user, password)
    try:
        yield Gateway(nc)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def index_engine(infra: Any) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(infra.database_url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


async def indexed(engine: AsyncEngine, workspace_id: str) -> dict[str, ObjectRecord]:
    """The records of one workspace, by key."""
    index = PgObjectIndex(engine)
    found: dict[str, ObjectRecord] = {}
    after = None
    while True:
        page = await index.search(SearchQuery(workspace_ids=(workspace_id,), limit=500, after=after))
        found.update((r.key, r) for r in page.records)
        if not page.has_more or not page.records:
            return found
        last = page.records[-1]
        after = (last.path, last.node_id, last.bucket, last.key)


async def until(check: Callable[[], Any], within: float = 20.0, what: str = "condition") -> Any:
    """Polls an async check until it answers something true; fails after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await check()
        if answer:
            return answer
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def settled(infra: Any) -> None:
    """Until the indexer's ingest consumer has nothing pending or unacknowledged (as the reader user)."""
    user, password = infra.nats_login()
    nc = await nats.connect(infra.nats_url, user=user or None, password=password or None)
    try:
        js = nc.jetstream()

        async def quiet() -> bool:
            info = await js.consumer_info(INGEST_STREAM, DURABLE)
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)

        await until(quiet, what="the ingest consumer to settle")
    finally:
        await nc.close()


async def indexer_settings(
    infra: Any, auth: AuthUnderTest, listen: str, workspaces_address: str, **ingest: Any
) -> IndexerSettings:
    common = common_settings(
        "indexer", infra, listen, auth.address, service_api_key=await _service_key(auth, "indexer")
    )
    return IndexerSettings(
        common=common, workspaces_address=workspaces_address, ingest=IngestConfig(**ingest)
    )


async def health_answers(channel: grpc.aio.Channel) -> None:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
