"""The parsers of nodes' event bodies, on real SeaweedFS webhook bodies (tests/data/seaweedfs_webhook,
captured from SeaweedFS 4.48) and on MinIO's documented example payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import Reason
from services.indexer.domain.ingest import MalformedEvent, parse_event
from services.indexer.domain.models import ObjectChange

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).parent / "data" / "seaweedfs_webhook"
RECEIVED = datetime(2026, 11, 30, 19, 0, 0, tzinfo=UTC)  # after the samples were taken
NODE = "node-1"

# MinIO's documented webhook/NSQ payload, from github.com/minio/minio docs/bucket/notifications/README.md
# ("Publish MinIO events via NSQ", step 3): the webhook target sends the same {"EventName", "Key",
# "Records"} document.
MINIO_PUT = (
    '{"EventName":"s3:ObjectCreated:Put","Key":"images/gopher.jpg","Records":[{"eventVersion":"2.0",'
    '"eventSource":"minio:s3","awsRegion":"","eventTime":"2018-10-31T09:31:11Z","eventName":'
    '"s3:ObjectCreated:Put","userIdentity":{"principalId":"21EJ9HYV110O8NVX2VMS"},"requestParameters":'
    '{"sourceIPAddress":"10.1.1.1"},"responseElements":{"x-amz-request-id":"1562A792DAA53426",'
    '"x-minio-origin-endpoint":"http://10.0.3.1:9000"},"s3":{"s3SchemaVersion":"1.0","configurationId":'
    '"Config","bucket":{"name":"images","ownerIdentity":{"principalId":"21EJ9HYV110O8NVX2VMS"},"arn":'
    '"arn:aws:s3:::images"},"object":{"key":"gopher.jpg","size":162023,"eTag":'
    '"5337769ffa594e742408ad3f30713cd7","contentType":"image/jpeg","userMetadata":{"content-type":'
    '"image/jpeg"},"versionId":"1","sequencer":"1562A792DAA53426"}},"source":{"host":"","port":"",'
    '"userAgent":"MinIO (linux; amd64) minio-go/v6.0.8 mc/DEVELOPMENT.GOGET"}}]}'
)

# The same README's AMQP example (step 3): records without the webhook's wrapper, no eTag, a
# millisecond eventTime (the page writes its date with en dashes, a typo; hyphens here).
MINIO_AMQP = (
    '{"Records":[{"eventVersion":"2.0","eventSource":"aws:s3","awsRegion":"","eventTime":'
    '"2016-09-08T22:34:38.226Z","eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":'
    '"minio"},"requestParameters":{"sourceIPAddress":"10.1.10.150:44576"},"responseElements":{},"s3":'
    '{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"images","ownerIdentity":'
    '{"principalId":"minio"},"arn":"arn:aws:s3:::images"},"object":{"key":"myphoto.jpg","size":200436,'
    '"sequencer":"147279EAF9F40933"}}}],"level":"info","msg":"","time":"2016-09-08T15:34:38-07:00"}'
)


def minio_record(event: str, key: str, **obj: Any) -> dict[str, Any]:
    """A record shaped like the README's, for the cases it has no example of (removal, encoded keys)."""
    return {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "eventTime": "2026-11-30T10:00:00.123Z",
        "eventName": event,
        "s3": {"bucket": {"name": "data"}, "object": {"key": key, "sequencer": "17A0", **obj}},
    }


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()


def parse(body: bytes | str) -> list[ObjectChange]:
    return parse_event(NODE, body.encode() if isinstance(body, str) else body, RECEIVED)


def test_minio_documented_put() -> None:
    [change] = parse(MINIO_PUT)
    assert change == ObjectChange(
        node_id=NODE,
        bucket="images",
        key="gopher.jpg",
        deleted=False,
        occurred_at=datetime(2018, 10, 31, 9, 31, 11, tzinfo=UTC),
        size=162023,
        etag="5337769ffa594e742408ad3f30713cd7",
        content_type="image/jpeg",
        sequencer="1562A792DAA53426",
    )


def test_minio_documented_records_without_wrapper_or_etag() -> None:
    [change] = parse(MINIO_AMQP)
    assert (change.bucket, change.key, change.size, change.etag) == ("images", "myphoto.jpg", 200436, "")
    assert change.occurred_at == datetime(2016, 9, 8, 22, 34, 38, 226000, tzinfo=UTC)


def test_minio_keys_are_url_decoded_and_removals_delete() -> None:
    body = {
        "EventName": "s3:ObjectRemoved:Delete",
        "Key": "data/a%2Fb+c%C3%A9.txt",
        "Records": [
            minio_record(
                "s3:ObjectCreated:CompleteMultipartUpload", "dir+one%2Fx%2B1.csv", size=7, eTag='"e-2"'
            ),
            minio_record("s3:ObjectRemoved:Delete", "a%2Fb+c%C3%A9.txt"),
            minio_record("s3:ObjectRemoved:DeleteMarkerCreated", "old.txt"),
            minio_record("s3:ObjectAccessed:Get", "read.txt"),
        ],
    }
    created, removed, marker = parse(json.dumps(body))
    assert (created.key, created.deleted, created.size, created.etag) == ("dir one/x+1.csv", False, 7, "e-2")
    assert (removed.key, removed.deleted, removed.size) == ("a/b cé.txt", True, 0)
    assert marker.deleted and marker.key == "old.txt"
    assert removed.occurred_at == datetime(2026, 11, 30, 10, 0, 0, 123000, tzinfo=UTC)


def test_seaweedfs_create_object() -> None:
    [change] = parse(sample("create_object"))
    assert change == ObjectChange(
        node_id=NODE,
        bucket="capbucket",
        key="dir one/sub/a b.txt",
        deleted=False,
        # the chunk's write time refines the whole-second mtime
        occurred_at=datetime.fromtimestamp(1796062011, UTC).replace(microsecond=304139),
        size=5,
        etag="5d41402abc4b2a76b9719d911017c592",  # md5("hello"): what S3 lists
        content_type="text/plain",
    )


def test_seaweedfs_overwrite_is_an_upsert_of_the_new_entry() -> None:
    [change] = parse(sample("overwrite_object"))
    assert (change.key, change.deleted, change.size) == ("dir one/sub/a b.txt", False, 19)
    assert change.etag == "f8bdd9c1a4c978e70cbe90c4dc15c84e"
    assert change.occurred_at > parse(sample("create_object"))[0].occurred_at


def test_seaweedfs_delete_is_timed_when_received() -> None:
    [change] = parse(sample("delete_object"))
    assert (change.bucket, change.key, change.deleted) == ("capbucket", "dir one/sub/a b.txt", True)
    assert change.occurred_at == RECEIVED


def test_seaweedfs_multipart_and_copy_have_the_listed_etag() -> None:
    [done] = parse(sample("multipart_complete_object"))
    [copy] = parse(sample("copy_object"))
    assert (done.key, done.size, done.etag) == ("big.bin", 1000, "94f8e164b9a2fbe8c9b1972cd9498362-1")
    assert (copy.key, copy.size, copy.etag) == ("copy.bin", 1000, "94f8e164b9a2fbe8c9b1972cd9498362-1")


@pytest.mark.parametrize(
    "name",
    [
        "create_folder_marker",
        "delete_folder_marker",
        "create_implicit_folder",
        "multipart_create_part",
        "multipart_create_upload_folder",
        "multipart_create_uploads_dir",
        "multipart_delete_part",
        "multipart_delete_upload_folder",
    ],
)
def test_seaweedfs_folders_and_multipart_scratch_give_nothing(name: str) -> None:
    assert parse(sample(name)) == []


def test_seaweedfs_buckets_and_system_entries_give_nothing() -> None:
    body = json.loads(sample("create_object"))
    for key in ("/buckets/capbucket", "/buckets/.system/owners/admin/capbucket", "/topics/x/y", "/buckets/"):
        body["key"] = key
        body["message"]["new_parent_path"] = key.rsplit("/", 1)[0]
        body["message"]["new_entry"]["name"] = key.rsplit("/", 1)[1]
        assert parse(json.dumps(body)) == [], key


def test_seaweedfs_rename_is_a_delete_and_a_create() -> None:
    # No S3 call renames, so no captured sample: this is the overwrite sample moved to another folder,
    # shaped as SeaweedFS's filer reports a move (weed/notification/webhook/filter.go: old and new entry
    # with a new_parent_path; the notification's key is the old path).
    body = json.loads(sample("overwrite_object"))
    body["event_type"] = "rename"
    body["message"]["new_parent_path"] = "/buckets/capbucket/moved"
    body["message"]["new_entry"]["name"] = "b.txt"
    gone, made = parse(json.dumps(body))
    assert (gone.key, gone.deleted, gone.occurred_at) == ("dir one/sub/a b.txt", True, RECEIVED)
    assert (made.key, made.deleted, made.size) == ("moved/b.txt", False, 19)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hello": 1}', "neither"),
        (b'{"Records": {}}', "Records is not a list"),
        (b'{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}', "s3 is missing"),
        (
            b'{"Records": [{"eventName": "s3:ObjectCreated:Put", "eventTime": "yesterday", "s3": '
            b'{"bucket": {"name": "b"}, "object": {"key": "k"}}}]}',
            "not an ISO 8601 time",
        ),
        (
            b'{"Records": [{"eventName": "s3:ObjectCreated:Put", "eventTime": "2026-01-01T00:00:00Z", "s3": '
            b'{"bucket": {"name": "b"}, "object": {"key": "k", "size": -4}}}]}',
            "negative",
        ),
        (b'{"event_type": "create", "key": "/buckets/b/k", "message": {}}', "neither old_entry"),
        (b'{"event_type": "explode", "key": "/buckets/b/k", "message": {"new_entry": {}}}', "event_type"),
        (b'{"event_type": "create", "key": 5, "message": {}}', "key is missing or not text"),
        (
            b'{"event_type": "create", "key": "/buckets/b/k", "message": {"new_entry": {"name": "k"}}}',
            "no modification time",
        ),
    ],
)
def test_malformed_bodies_say_why(body: bytes, words: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse(body)
    assert caught.value.reason == Reason.MALFORMED_EVENT
    assert words in caught.value.message
