"""Nodes' reports of object changes, as the gateway stored them (the raw webhook body), turned into
ObjectChange values: MinIO's (AWS S3 event records) and SeaweedFS's (filer notifications). Pure: no I/O.

A body that cannot be read raises MalformedEvent; the consumer dead-letters it with the message. A body
that reads fine but concerns nothing the index keeps (folders, bucket creation, SeaweedFS's own
bookkeeping, reads) gives no change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from services.common.errors import DomainError, Reason
from services.indexer.domain.models import ObjectChange

# The largest body the parser reads; the gateway caps bodies before this, so this only guards the parser.
MAX_BODY_BYTES = 4 * 1024 * 1024

SEAWEED_BUCKETS = "/buckets/"
# SeaweedFS's own entries inside /buckets: its bookkeeping bucket and each bucket's multipart scratch.
SEAWEED_SYSTEM_BUCKET = ".system"
SEAWEED_UPLOADS = ".uploads"
SEAWEED_ETAG = "Seaweed-X-Amz-ETag"


class MalformedEvent(DomainError):
    """The body is not an event this indexer can read; redelivering it cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.MALFORMED_EVENT, message)


def parse_event(node_id: str, body: bytes, received_at: datetime) -> list[ObjectChange]:
    """The changes one stored body reports. `received_at` is when the gateway stored it: SeaweedFS says
    nothing about when a delete happened, only what was deleted."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedEvent(f"body of {len(body)} bytes is over {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body is not a JSON object")
    if "Records" in data:
        return parse_s3_records(node_id, data)
    if "event_type" in data and "key" in data:
        return parse_seaweedfs(node_id, data, received_at)
    raise MalformedEvent("body is neither S3 event records (Records) nor a SeaweedFS notification")


# --- MinIO / AWS S3 event records -------------------------------------------------------------------

CREATED = "s3:ObjectCreated:"
REMOVED = "s3:ObjectRemoved:"


def parse_s3_records(node_id: str, data: Mapping[str, Any]) -> list[ObjectChange]:
    """MinIO's event JSON (its webhook wraps the records as {"EventName", "Key", "Records"}; its NATS
    and queue targets send {"Records"}): creations upsert, removals delete, other events (reads,
    replication, lifecycle transitions) change nothing. Object keys are URL-encoded in these records."""
    records = data.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("Records is not a list")
    changes = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise MalformedEvent(f"Records[{index}] is not an object")
        name = _text(record, "eventName", f"Records[{index}]")
        if name.startswith(CREATED):
            deleted = False
        elif name.startswith(REMOVED):
            deleted = True
        else:
            continue
        s3 = _object(record, "s3", f"Records[{index}]")
        bucket = _text(_object(s3, "bucket", f"Records[{index}].s3"), "name", f"Records[{index}].s3.bucket")
        obj = _object(s3, "object", f"Records[{index}].s3")
        key = unquote_plus(_text(obj, "key", f"Records[{index}].s3.object"))
        if not bucket or not key:
            raise MalformedEvent(f"Records[{index}] has an empty bucket or key")
        changes.append(
            ObjectChange(
                node_id=node_id,
                bucket=bucket,
                key=key,
                deleted=deleted,
                occurred_at=_iso_time(_text(record, "eventTime", f"Records[{index}]")),
                size=0 if deleted else _int(obj.get("size", 0), f"Records[{index}].s3.object.size"),
                etag="" if deleted else str(obj.get("eTag") or "").strip('"'),
                content_type="" if deleted else str(obj.get("contentType") or ""),
                sequencer=str(obj.get("sequencer") or ""),
            )
        )
    return changes


# --- SeaweedFS filer notifications ------------------------------------------------------------------


def parse_seaweedfs(node_id: str, data: Mapping[str, Any], received_at: datetime) -> list[ObjectChange]:
    """One filer notification (tests/data/seaweedfs_webhook/README.md describes real ones): `key` is the
    entry's full path, /buckets/<bucket>/<object key>, not URL-encoded. create/update upsert the new
    entry, delete removes the old one, and a rename (new entry under another path) is a delete of the old
    key and a create of the new. Folders, buckets, /buckets/.system and .uploads scratch give nothing."""
    event_type = _text(data, "event_type", "body")
    path = _text(data, "key", "body")
    message = _object(data, "message", "body")
    old = message.get("old_entry")
    new = message.get("new_entry")
    for label, entry in (("old_entry", old), ("new_entry", new)):
        if entry is not None and not isinstance(entry, dict):
            raise MalformedEvent(f"message.{label} is not an object")
    if event_type not in ("create", "update", "delete", "rename"):
        raise MalformedEvent(f"unknown event_type {event_type!r}")
    if old is None and new is None:
        raise MalformedEvent("message has neither old_entry nor new_entry")
    changes = []
    new_path = path
    if new is not None:
        parent = message.get("new_parent_path") or path.rsplit("/", 1)[0]
        if not isinstance(parent, str):
            raise MalformedEvent("message.new_parent_path is not text")
        new_path = f"{parent.rstrip('/')}/{_text(new, 'name', 'message.new_entry')}"
    if old is not None and (new is None or new_path != path):
        gone = _seaweed_location(path)
        if gone is not None and not old.get("is_directory"):
            occurred = max(received_at, _seaweed_time(old))
            changes.append(ObjectChange(node_id, gone[0], gone[1], True, occurred))
    if new is not None:
        made = _seaweed_location(new_path)
        if made is not None and not new.get("is_directory"):
            attributes = new.get("attributes") or {}
            if not isinstance(attributes, dict):
                raise MalformedEvent("message.new_entry.attributes is not an object")
            changes.append(
                ObjectChange(
                    node_id=node_id,
                    bucket=made[0],
                    key=made[1],
                    deleted=False,
                    occurred_at=_seaweed_time(new),
                    size=_int(attributes.get("file_size", 0), "attributes.file_size"),
                    etag=_seaweed_etag(new),
                    content_type=str(attributes.get("mime") or ""),
                )
            )
    return changes


def _seaweed_location(path: str) -> tuple[str, str] | None:
    """(bucket, key) of an entry under /buckets/, or None for what is not an object of a user bucket."""
    if not path.startswith(SEAWEED_BUCKETS):
        return None
    bucket, _, key = path[len(SEAWEED_BUCKETS) :].partition("/")
    if not bucket or not key or bucket == SEAWEED_SYSTEM_BUCKET:
        return None
    if key == SEAWEED_UPLOADS or key.startswith(SEAWEED_UPLOADS + "/"):
        return None
    return bucket, key


def _seaweed_time(entry: Mapping[str, Any]) -> datetime:
    """When the entry was last written: its mtime (whole seconds, plus mtime_ns when given), refined by
    its chunks' nanosecond write times so that two writes within one second keep their order."""
    attributes = entry.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise MalformedEvent("entry attributes is not an object")
    ns = _int(attributes.get("mtime", 0), "attributes.mtime") * 1_000_000_000
    ns += _int(attributes.get("mtime_ns", 0), "attributes.mtime_ns")
    chunks = entry.get("chunks") or []
    if not isinstance(chunks, list):
        raise MalformedEvent("entry chunks is not a list")
    for chunk in chunks:
        if isinstance(chunk, dict):
            ns = max(ns, _int(chunk.get("modified_ts_ns", 0), "chunks.modified_ts_ns"))
    if ns <= 0:
        raise MalformedEvent("entry has no modification time")
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns // 1000) % 1_000_000)


def _seaweed_etag(entry: Mapping[str, Any]) -> str:
    """The ETag S3 lists for the object: the one SeaweedFS's S3 gateway stored, else the MD5 of the
    content, else the one S3 computes from the chunks (MD5 of their MD5s, "-N")."""
    extended = entry.get("extended") or {}
    attributes = entry.get("attributes") or {}
    stored = extended.get(SEAWEED_ETAG) if isinstance(extended, dict) else None
    if isinstance(stored, str) and stored:
        return _b64(stored, SEAWEED_ETAG).decode("utf-8", "replace").strip('"')
    md5 = attributes.get("md5") if isinstance(attributes, dict) else None
    if isinstance(md5, str) and md5:
        return _b64(md5, "attributes.md5").hex()
    chunks = [c for c in entry.get("chunks") or [] if isinstance(c, dict) and c.get("e_tag")]
    if len(chunks) == 1:
        return _b64(str(chunks[0]["e_tag"]), "chunks.e_tag").hex()
    if chunks:
        digest = hashlib.md5(b"".join(_b64(str(c["e_tag"]), "chunks.e_tag") for c in chunks))  # noqa: S324
        return f"{digest.hexdigest()}-{len(chunks)}"
    return ""


# --- small readers ----------------------------------------------------------------------------------


def _object(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise MalformedEvent(f"{where}.{name} is missing or not an object")
    return value


def _text(data: Mapping[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}.{name} is missing or not text")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedEvent(f"{where} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        raise MalformedEvent(f"{where} is not a whole number") from None
    if number < 0:
        raise MalformedEvent(f"{where} is negative")
    return number


def _iso_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"eventTime {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent(f"{where} is not base64") from None
