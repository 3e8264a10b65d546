"""The indexer's minio lister against the real SeaweedFS of the test stack, with list-only credentials
brokered through STS as the workspaces service brokers them: pages in key order, resumable after a key,
refused outside its grant, and clear failures for a node that is down or at an address not allowed."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.errors import DomainError, Reason
from services.common.netguard import NetworkPolicy
from services.common.s3 import S3Gateway
from services.indexer.domain.ports import ListedObject, ListingGrant
from services.indexer.storage.lister import MinioLister
from tests.test_policy_s3 import broker_endpoint, client, remove_bucket

pytestmark = pytest.mark.integration

LOOPBACK = NetworkPolicy(False, (ipaddress.ip_network("127.0.0.0/8"),))
KEYS = sorted(
    [f"ws/a/file-{i:04d}.txt" for i in range(230)]
    + [f"ws/b/sub/{i}.bin" for i in range(40)]
    + ["ws/", "ws/a/", "ws/z é 🐟.txt"]
    + [f"other/{i}.txt" for i in range(5)]
)


@pytest.fixture(scope="module")
def bucket(infra: Any) -> Iterator[str]:
    admin = client(infra.s3, infra.s3.access_key, infra.s3.secret_key)
    name = f"wio-list-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(Bucket=name)
    for key in KEYS:
        admin.put_object(Bucket=name, Key=key, Body=key.encode())
    try:
        yield name
    finally:
        remove_bucket(admin, name)


async def list_grant(infra: Any, bucket: str, prefix: str) -> ListingGrant:
    """List-only credentials for `prefix`, as the workspaces service brokers them for the indexer."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            }
        ],
    }
    gateway = S3Gateway(timeout_seconds=10.0)
    try:
        creds = await gateway.assume_role(
            broker_endpoint(infra.s3), json.dumps(policy), 900, "wio-indexer-test"
        )
    finally:
        gateway.close()
    return ListingGrant(
        node_id="n",
        node_name="n",
        endpoint=infra.s3.endpoint,
        region=infra.s3.region,
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        session_token=creds.session_token,
        expires_at=datetime.fromtimestamp(creds.expires_at, UTC),
        bucket=bucket,
        prefix=prefix,
        root_id="r",
        locations=(),
    )


@pytest.fixture
async def lister() -> AsyncIterator[MinioLister]:
    lister = MinioLister(LOOPBACK, page_size=50, queue_pages=2, timeout_seconds=5.0)
    yield lister
    lister.close()


async def collect(
    lister: MinioLister, grant: ListingGrant, prefix: str, after: str = ""
) -> list[list[ListedObject]]:
    return [page async for page in lister.pages(grant, prefix, after)]


async def test_pages_come_in_key_order_with_what_the_listing_says(
    infra: Any, bucket: str, lister: MinioLister
) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    pages = await collect(lister, grant, "ws/")
    keys = [o.key for page in pages for o in page]
    assert keys == [k for k in KEYS if k.startswith("ws/")]
    assert all(1 <= len(page) <= 50 for page in pages) and len(pages) == -(-len(keys) // 50)
    one = next(o for page in pages for o in page if o.key == "ws/z é 🐟.txt")
    assert one.size == len(one.key.encode()) and one.etag and one.modified_at.tzinfo is not None


async def test_a_listing_starts_after_a_key(infra: Any, bucket: str, lister: MinioLister) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    after = "ws/a/file-0199.txt"
    keys = [o.key for page in await collect(lister, grant, "ws/", after) for o in page]
    assert keys == [k for k in KEYS if k.startswith("ws/") and k > after]


async def test_outside_its_grant_the_listing_is_refused(infra: Any, bucket: str, lister: MinioLister) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    with pytest.raises(DomainError) as refused:
        await collect(lister, grant, "other/")
    assert refused.value.reason == Reason.NODE_CREDENTIALS_REFUSED
    assert grant.secret_key not in refused.value.message and grant.session_token not in refused.value.message


async def test_a_node_that_is_down_is_unreachable(infra: Any, bucket: str, lister: MinioLister) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = dataclasses.replace(grant, endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(DomainError) as failed:
        await collect(lister, down, "ws/")
    assert failed.value.reason == Reason.NODE_UNREACHABLE


async def test_an_address_outside_the_networks_is_never_connected_to(infra: Any, bucket: str) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    public_only = MinioLister(NetworkPolicy(True, ()), timeout_seconds=5.0)
    try:
        with pytest.raises(DomainError) as refused:
            await collect(public_only, grant, "ws/")
    finally:
        public_only.close()
    assert refused.value.reason == Reason.NODE_ADDRESS_REFUSED


async def test_a_consumer_that_stops_early_stops_the_listing(infra: Any, bucket: str) -> None:
    grant = await list_grant(infra, bucket, "ws/")
    lister = MinioLister(LOOPBACK, page_size=10, queue_pages=1, threads=1, timeout_seconds=5.0)
    try:
        stream = lister.pages(grant, "ws/", "")
        async for _page in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        # With one thread, a second listing can only run once the first one's thread has let go.
        keys = [o.key for page in await collect(lister, grant, "ws/b/") for o in page]
        assert keys == [k for k in KEYS if k.startswith("ws/b/")]
    finally:
        lister.close()
