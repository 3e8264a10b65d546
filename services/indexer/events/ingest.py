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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy.exc import InterfaceError, OperationalError

from services.common.consumer import ConsumerSettings, DurableConsumer
from services.common.errors import DomainError, Kind
from services.common.streams import (
    INGEST_SUBJECTS,
    NODE_ID_HEADER,
    STREAMS,
    deadletter_subject,
    ingest_subject,
)
from services.indexer.domain.ingest import MalformedEvent, parse_event
from services.indexer.domain.locations import LocationMap
from services.indexer.domain.models import (
    ApplyResult,
    ObjectChange,
    ObjectRecord,
    is_folder_marker,
    record_for,
)
from services.indexer.domain.ports import ObjectIndex

log = logging.getLogger(__name__)

INGEST_STREAM = STREAMS["ingest"]
SUBJECT_PREFIX = ingest_subject("")
NODE_HEADER = NODE_ID_HEADER
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
    return deadletter_subject(token if token and "." not in token else "unknown")


ApplyMany = Callable[[Sequence[tuple[ObjectChange, ObjectRecord | None]]], Awaitable[list[ApplyResult]]]


class ChangeApplier:
    """Maps changes to workspaces and applies them; counts what happened.

    With `apply_many`, the changes that arrive while a write is under way are applied together in the
    next one (one transaction, one commit); a failed group is retried one change at a time, so each
    message learns its own outcome."""

    def __init__(
        self,
        index: ObjectIndex,
        locations: LocationMap,
        apply_many: ApplyMany | None = None,
        group: int = 256,
    ) -> None:
        self.index = index
        self.locations = locations
        self.apply_many = apply_many
        self.group = group
        self.counts: Counter[str] = Counter()
        self._waiting: list[tuple[ObjectChange, ObjectRecord | None, asyncio.Future[ApplyResult]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def handle(self, msg: Msg) -> None:
        node_id = node_of(msg)
        received = msg.metadata.timestamp if msg.metadata.timestamp is not None else datetime.now(UTC)
        for change in parse_event(node_id, msg.data, received):
            await self.apply(change, received)

    async def apply(self, change: ObjectChange, received: datetime) -> str:
        """Applies one change the gateway stored at `received`."""
        if is_folder_marker(change.key):
            return self._count(IGNORED)
        location = await self.locations.find(change.node_id, change.bucket, change.key, received.timestamp())
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
        result = await self._applied(change, record)
        return self._count(result.value)

    async def _applied(self, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
        if self.apply_many is None:
            return await self.index.apply(change, record)
        done: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((change, record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="ingest-writer")
        return await done

    async def _write(self) -> None:
        assert self.apply_many is not None
        while self._waiting:
            taken, self._waiting = self._waiting[: self.group], self._waiting[self.group :]
            try:
                results = await self.apply_many([(change, record) for change, record, _ in taken])
            except asyncio.CancelledError:
                for *_, done in taken:
                    done.cancel()
                raise
            except Exception:
                # Each on its own: one change that cannot be written fails only its own message.
                for change, record, done in taken:
                    try:
                        outcome = await self.index.apply(change, record)
                    except Exception as exc:
                        if not done.done():
                            done.set_exception(exc)
                    else:
                        if not done.done():
                            done.set_result(outcome)
                continue
            for (*_, done), result in zip(taken, results, strict=True):
                if not done.done():
                    done.set_result(result)

    def _count(self, outcome: str) -> str:
        self.counts[outcome] += 1
        return outcome


def dependency_down(exc: BaseException) -> bool:
    """The workspaces service or the database not answering: wait for it rather than dead-letter."""
    if isinstance(exc, DomainError):
        return exc.kind in (Kind.UNAVAILABLE, Kind.DEADLINE_EXCEEDED)
    return isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError)


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
        is_transient=dependency_down,
        settings=settings,
    )
