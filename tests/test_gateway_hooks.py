"""POST /hooks/s3/{node} through the real gateway app (uvicorn), the real nodes service and NATS
JetStream: 401 alike for an unknown node and a wrong token with nothing published, 413 over the size
cap, 400 for a body that is not a JSON object, the raw body in WIO_INGEST with the node's id in a header
on success, 503 within a bounded time when the nodes service or NATS is not there; and an S3 upload to a
SeaweedFS whose webhook points at the gateway arrives in WIO_INGEST with no manual step."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from deploy.nats import start_nats
from deploy.ports import pick_free_port
from gateway.app import PUBLISH_OVERHEAD, body_limit
from gateway.config import GatewaySettings
from services.common.streams import NODE_ID_HEADER, ingest_subject
from tests.conftest import AuthUnderTest, NodesUnderTest
from tests.gateway_fixture import EventsNode, GatewayUnderTest, gateway_settings, run_gateway
from wio.nodes.v1 import nodes_pb2

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parent / "data" / "seaweedfs_webhook"
# Generous: the answers are expected within the configured timeouts (2 s) plus scheduling on a busy host.
BOUNDED_SECONDS = 15.0


def sample(marker: str) -> bytes:
    """A real SeaweedFS webhook body, with a marker in its key so this test finds its own message."""
    body = json.loads((SAMPLES / "create_object.json").read_text())
    body["key"] = f"/buckets/capbucket/{marker}.txt"
    return json.dumps(body).encode()


@pytest.fixture
async def hook_node(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest) -> tuple[str, str, str]:
    """(node id, node name, hook token) of a freshly registered node."""
    _user, key = await auth.new_user("hooks", admin=True)
    reply = await nodes.stub.RegisterNode(
        nodes_pb2.RegisterNodeRequest(
            name=f"gw-{uuid.uuid4().hex[:8]}",
            endpoint=infra.s3.endpoint,
            region=infra.s3.region,
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=infra.s3.access_key,
            secret_key=infra.s3.secret_key,
            role_arn=infra.s3.role_arn,
        ),
        metadata=await auth.as_key(key),
    )
    return reply.node.id, reply.node.name, reply.hook_token


def carrying(watcher: Any, marker: str) -> list[Any]:
    return [m for m in watcher.messages if marker.encode() in m.data]


async def wait_for(watcher: Any, marker: str, within: float = BOUNDED_SECONDS) -> list[Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = carrying(watcher, marker)
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


async def test_good_hook_is_published_raw_with_the_node_id(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], events: Any
) -> None:
    node_id, name, token = hook_node
    watcher = await events("wio.ingest.>")
    by_id, by_name = uuid.uuid4().hex, uuid.uuid4().hex
    body = sample(by_id)
    assert await gateway.hook(node_id, body, token) == (204, b"")
    # By name too, and with the scheme in another case (Authorization: bearer ...).
    status, _ = await gateway.post(
        f"/hooks/s3/{name}", sample(by_name), headers={"Authorization": f"bearer {token}"}
    )
    assert status == 204
    (message,) = await wait_for(watcher, by_id)
    assert message.subject == ingest_subject(node_id) == f"wio.ingest.s3.{node_id}"
    assert message.headers == {NODE_ID_HEADER: node_id}
    assert message.data == body  # untouched
    (second,) = await wait_for(watcher, by_name)
    assert second.subject == ingest_subject(node_id)


async def test_unknown_node_and_wrong_token_get_the_same_401_and_nothing_is_published(
    gateway: GatewayUnderTest,
    hook_node: tuple[str, str, str],
    events: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node_id, name, token = hook_node
    watcher = await events("wio.ingest.>")
    caplog.set_level(logging.DEBUG)
    marker = uuid.uuid4().hex
    body = sample(marker)
    attempts = [
        gateway.hook(node_id, body, token + "x"),
        gateway.hook(node_id, body, "wioh_" + "a" * 43),
        gateway.hook(name, body, token[:-1]),
        gateway.hook(str(uuid.uuid4()), body, token),  # unknown node, a real token
        gateway.hook("no-such-node", body, token),
        gateway.hook("x" * 500, body, token),
        gateway.post("/hooks/s3/%00", body, headers={"Authorization": f"Bearer {token}"}),  # a NUL
        gateway.post("/hooks/s3/a%0Ab", body, headers={"Authorization": f"Bearer {token}"}),
        gateway.hook(node_id, body, None),  # no Authorization
        gateway.hook(node_id, body, ""),  # "Bearer " and nothing
        gateway.post(f"/hooks/s3/{node_id}", body, headers={"Authorization": f"Basic {token}"}),
        gateway.post(f"/hooks/s3/{node_id}", body, headers={"Authorization": token}),
    ]
    answers = [await attempt for attempt in attempts]
    assert {status for status, _ in answers} == {401}
    assert len({body for _, body in answers}) == 1
    assert json.loads(answers[0][1]) == {
        "code": 16,
        "message": "unknown node or wrong hook token",
        "details": [],
    }
    # The same node with its token gets through, and is the only message carrying the marker.
    assert (await gateway.hook(node_id, body, token))[0] == 204
    assert len(await wait_for(watcher, marker)) == 1
    await asyncio.sleep(0.5)
    assert len(carrying(watcher, marker)) == 1
    assert token not in caplog.text and token[:-1] not in caplog.text


async def test_body_too_large_or_not_json(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], events: Any
) -> None:
    node_id, _name, token = hook_node
    watcher = await events("wio.ingest.>")
    limit = gateway.settings.hook_max_bytes
    marker = uuid.uuid4().hex
    padded = json.dumps({"marker": marker, "pad": "x" * limit}).encode()
    status, answer = await gateway.hook(node_id, padded, token)
    assert status == 413 and json.loads(answer)["code"] == 3
    # Without a Content-Length (chunked): refused once the limit is passed, not after reading it all.
    chunks = [padded[i : i + 65536] for i in range(0, len(padded), 65536)]
    status, _ = await gateway.post(f"/hooks/s3/{node_id}", chunks, token, chunked=True)
    assert status == 413
    # Exactly at the limit is fine.
    exact = json.dumps({"marker": marker, "pad": ""}).encode()
    exact = json.dumps({"marker": marker, "pad": "x" * (limit - len(exact))}).encode()
    assert len(exact) == limit
    for bad in (b"", b"not json", b"[1, 2]", b'"a string"', b"\xff\xfe{}", b'{"a": 1'):
        status, answer = await gateway.hook(node_id, bad + marker.encode(), token)
        assert status == 400, bad
        assert json.loads(answer) == {"code": 3, "message": "the body is not a JSON object", "details": []}
    assert (await gateway.hook(node_id, exact, token))[0] == 204
    assert len(await wait_for(watcher, marker)) == 1
    await asyncio.sleep(0.5)
    assert len(carrying(watcher, marker)) == 1


async def test_rotated_out_token_is_refused_after_the_cache_and_the_new_one_at_once(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], auth: AuthUnderTest, nodes: NodesUnderTest
) -> None:
    node_id, _name, token = hook_node
    assert (await gateway.hook(node_id, sample("warm"), token))[0] == 204  # cached as valid now
    rotated = await nodes.stub.RotateHookToken(
        nodes_pb2.RotateHookTokenRequest(node=node_id), metadata=await auth.as_key(auth.admin_key)
    )
    assert (await gateway.hook(node_id, sample("new"), rotated.hook_token))[0] == 204
    deadline = time.monotonic() + gateway.settings.hook_cache_seconds + BOUNDED_SECONDS
    status = 0
    while time.monotonic() < deadline:
        status, _ = await gateway.hook(node_id, sample("old"), token)
        if status == 401:
            break
        await asyncio.sleep(0.2)
    assert status == 401


async def test_nodes_service_down_answers_503_in_bounded_time(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], silent_port: int
) -> None:
    node_id, _name, token = hook_node
    closed = pick_free_port()  # nothing listens there
    for address in (f"127.0.0.1:{closed}", f"127.0.0.1:{silent_port}"):
        settings = gateway_settings(gateway, nodes_address=address, call_timeout_seconds=1.0)
        async with run_gateway(settings) as down:
            started = time.monotonic()
            status, answer = await down.hook(node_id, sample("down"), token)
            took = time.monotonic() - started
        assert status == 503, address
        assert json.loads(answer)["code"] == 14 and b"Traceback" not in answer
        assert took < BOUNDED_SECONDS


async def test_nats_without_the_stream_or_down_answers_503_in_bounded_time(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], tmp_path: Path
) -> None:
    node_id, _name, token = hook_node
    nats_server = await asyncio.to_thread(start_nats, tmp_path, pick_free_port())
    try:
        settings = gateway_settings(
            gateway,
            nats_url=nats_server.url,
            nats_user="gateway",
            nats_password=nats_server.credentials.password("gateway"),
            publish_timeout_seconds=1.0,
        )
        async with run_gateway(settings) as alone:
            # No WIO_INGEST there (its indexer never started): nothing takes the message.
            started = time.monotonic()
            status, answer = await alone.hook(node_id, sample("nostream"), token)
            assert status == 503 and time.monotonic() - started < BOUNDED_SECONDS
            await asyncio.to_thread(nats_server.stop)
            started = time.monotonic()
            status, answer = await alone.hook(node_id, sample("natsdown"), token)
            assert status == 503 and time.monotonic() - started < BOUNDED_SECONDS
            assert json.loads(answer)["code"] == 14
    finally:
        await asyncio.to_thread(nats_server.stop)


def minio_event(bucket: str, key: str) -> bytes:
    """A body shaped as MinIO documents its webhook's (one S3 event record; the key URL-encoded). No
    MinIO server can run here, so this stands in for one."""
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": "2026-11-30T10:00:00.000Z",
        "eventName": "s3:ObjectCreated:Put",
        "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"sourceIPAddress": "10.0.0.5"},
        "responseElements": {"x-amz-request-id": "187B4E2F5C3D9A10", "x-minio-origin-endpoint": ""},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "minioadmin"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": key.replace("/", "%2F").replace(" ", "+"),
                "size": 8,
                "eTag": "0123456789abcdef0123456789abcdef",
                "contentType": "text/csv",
                "sequencer": "187B4E2F5C3D9A10",
            },
        },
    }
    return json.dumps(
        {"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{key}", "Records": [record]}
    ).encode()


async def test_minio_webhook_requests_are_taken(
    gateway: GatewayUnderTest, hook_node: tuple[str, str, str], events: Any
) -> None:
    """What MinIO's webhook target sends: a HEAD to the endpoint first (any answer means reachable), then
    POSTs with `Authorization: Bearer <auth_token>` (a one-word auth_token gets `Bearer ` prepended, a
    two-word one is sent as it is)."""
    node_id, _name, token = hook_node
    watcher = await events("wio.ingest.>")
    conn_status = await asyncio.to_thread(_head, gateway.port, f"/hooks/s3/{node_id}")
    assert conn_status == 405
    marker = uuid.uuid4().hex
    body = minio_event("lab-data", f"runs/{marker}/a b.csv")
    assert (await gateway.hook(node_id, body, token))[0] == 204
    (message,) = await wait_for(watcher, marker)
    assert message.data == body and message.headers == {NODE_ID_HEADER: node_id}


def _head(port: int, path: str) -> int:
    return _request(port, "HEAD", path)[0]


def _request(port: int, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def test_other_routes_and_methods_answer_in_the_error_body(gateway: GatewayUnderTest) -> None:
    assert await asyncio.to_thread(_request, gateway.port, "GET", "/healthz") == (200, b'{"status":"ok"}')
    status, body = await asyncio.to_thread(_request, gateway.port, "GET", "/hooks/s3/some-node")
    assert status == 405 and json.loads(body) == {"code": 12, "message": "method not allowed", "details": []}
    status, body = await asyncio.to_thread(_request, gateway.port, "GET", "/no/such/route")
    assert status == 404 and json.loads(body) == {"code": 5, "message": "not found", "details": []}


@pytest.mark.unit
def test_the_body_cap_stays_below_what_nats_takes_in_one_message() -> None:
    settings = GatewaySettings(hook_max_bytes=1024 * 1024)
    assert body_limit(settings, 2 * 1024 * 1024) == 1024 * 1024  # the launcher's NATS
    assert body_limit(settings, 1024 * 1024) == 1024 * 1024 - PUBLISH_OVERHEAD  # NATS's default
    assert body_limit(GatewaySettings(hook_max_bytes=1000), 1024 * 1024) == 1000


async def test_an_s3_upload_reaches_ingest_through_the_webhook(events_s3: EventsNode, events: Any) -> None:
    watcher = await events("wio.ingest.>")
    s3 = boto3.client(
        "s3",
        endpoint_url=events_s3.s3.endpoint,
        region_name=events_s3.s3.region,
        aws_access_key_id=events_s3.s3.access_key,
        aws_secret_access_key=events_s3.s3.secret_key,
    )
    bucket, key = f"ev-{uuid.uuid4().hex[:10]}", f"dir/{uuid.uuid4().hex}.csv"
    await asyncio.to_thread(s3.create_bucket, Bucket=bucket)
    await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    await asyncio.to_thread(s3.delete_object, Bucket=bucket, Key=key)
    deadline = time.monotonic() + 30
    kinds: set[str] = set()
    while time.monotonic() < deadline and kinds != {"create", "delete"}:
        await asyncio.sleep(0.1)
        kinds = {json.loads(m.data)["event_type"] for m in carrying(watcher, f"/buckets/{bucket}/{key}")}
    assert kinds == {"create", "delete"}
    for message in carrying(watcher, f"/buckets/{bucket}/{key}"):
        assert message.subject == ingest_subject(events_s3.id)
        assert message.headers == {NODE_ID_HEADER: events_s3.id}
