"""Live updates: the indexer's durable consumer of the ingest stream, where the gateway stores each raw
webhook body a node sent (subject wio.ingest.s3.<node_id>).

Each body is parsed into object changes (services/indexer/domain/ingest.py), each change mapped to the
workspace holding its key and applied to the index: an upsert of the record built by record_for, or a
delete (record None, which leaves a tombstone). Applying is idempotent and the index ignores a change
older than what it already knows, so redeliveries and out-of-order arrivals end in the right state.
A malformed body goes to wio.ingest.deadletter.<node_id> at once; a failing apply (database or
workspaces service down) is retried and dead-lettered after the last attempt. A change whose key lies
in no workspace is counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.common.consumer import ConsumerSettings, DurableConsumer
from services.indexer.domain.ingest import MalformedEvent, parse_event
from services.indexer.domain.locations import LocationMap
from services.indexer.domain.models import ApplyResult, ObjectChange, is_folder_marker, record_for
from services.indexer.domain.ports import ObjectIndex

log = logging.getLogger(__name__)

INGEST_STREAM = "WIO_INGEST"
INGEST_SUBJECTS = "wio.ingest.s3.>"
SUBJECT_PREFIX = "wio.ingest.s3."
DEAD_LETTER_PREFIX = "wio.ingest.deadletter."
NODE_HEADER = "Wio-Node-Id"
DURABLE = "indexer-ingest"

# What happened to changes, by outcome: the ApplyResult values, plus these.
UNMAPPED = "unmapped"  # the key lies in no workspace: dropped
IGNORED = "ignored"  # a folder marker or the workspace's own folder: nothing to index


def node_of(msg: Msg) -> str:
    """The node the gateway authenticated: the subject's last token. A Wio-Node-Id header, which the
    gateway also sets, must agree."""
    if not msg.subject.startswith(SUBJECT_PREFIX):
        raise MalformedEvent(f"subject {msg.subject!r} is not under {SUBJECT_PREFIX}")
    node_id = msg.subject[len(SUBJECT_PREFIX) :]
    if not node_id or "." in node_id:
        raise MalformedEvent(f"subject {msg.subject!r} names no node")
    header = next((v for k, v in (msg.headers or {}).items() if k.lower() == NODE_HEADER.lower()), None)
    if header is not None and header != node_id:
        raise MalformedEvent(f"{NODE_HEADER} header does not match the subject's node")
    return node_id


def dead_letter_subject(msg: Msg) -> str:
    token = msg.subject[len(SUBJECT_PREFIX) :] if msg.subject.startswith(SUBJECT_PREFIX) else ""
    return DEAD_LETTER_PREFIX + (token if token and "." not in token else "unknown")


class ChangeApplier:
    """Maps changes to workspaces and applies them; counts what happened."""

    def __init__(self, index: ObjectIndex, locations: LocationMap) -> None:
        self.index = index
        self.locations = locations
        self.counts: Counter[str] = Counter()
        self._busy: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def handle(self, msg: Msg) -> None:
        node_id = node_of(msg)
        received = msg.metadata.timestamp if msg.metadata.timestamp is not None else datetime.now(UTC)
        for change in parse_event(node_id, msg.data, received):
            await self.apply(change)

    async def apply(self, change: ObjectChange) -> str:
        if is_folder_marker(change.key):
            return self._count(IGNORED)
        location = await self.locations.find(change.node_id, change.bucket, change.key)
        if location is None:
            outcome = self._count(UNMAPPED)
            dropped = self.counts[UNMAPPED]
            if dropped in (1, 10, 100) or dropped % 1000 == 0:
                log.info("ingest: %d change(s) so far outside every workspace, dropped", dropped)
            return outcome
        record = None
        if not change.deleted:
            record = record_for(
                location, change.key, change.size, change.etag, change.occurred_at, change.content_type
            )
            if record is None:
                return self._count(IGNORED)
        # Changes of one key are applied one at a time, whatever their arrival: the index orders them.
        with self._holding((change.node_id, change.bucket, change.key)) as lock:
            async with lock:
                result: ApplyResult = await self.index.apply(change, record)
        return self._count(result.value)

    def _count(self, outcome: str) -> str:
        self.counts[outcome] += 1
        return outcome

    @contextmanager
    def _holding(self, key: tuple[str, str, str]) -> Iterator[asyncio.Lock]:
        lock = self._busy.setdefault(key, asyncio.Lock())
        try:
            yield lock
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._busy.pop(key, None)


def ingest_consumer(
    js: JetStreamContext, applier: ChangeApplier, settings: ConsumerSettings | None = None
) -> DurableConsumer:
    return DurableConsumer(
        js,
        stream=INGEST_STREAM,
        durable=DURABLE,
        filter_subject=INGEST_SUBJECTS,
        handle=applier.handle,
        dead_letter_subject=dead_letter_subject,
        is_permanent=lambda exc: isinstance(exc, MalformedEvent),
        settings=settings,
    )
