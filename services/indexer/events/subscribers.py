"""What the indexer does when workspaces, roots and nodes change: records of what is gone go, the
workspace locations it keeps per node are dropped so the next storage event loads them again, and an
imported root gets its first crawl. Plus the periodic expiry of old tombstones.

Record removal must not be missed while the indexer is down, so these are durable consumers (shared by
the instances) that start with what they have not yet handled.

A removed root: its records carry workspace ids, not root ids, and the event carries no bucket or
prefix. A root can only be removed once no workspace uses it (the nodes service asks the workspaces
service: ROOT_IN_USE), and each workspace's records went with its workspace.deleted/.purged events, so
normally nothing is left. As a safety net the records of every workspace the indexer last knew under
that root are forgotten too (from the node's locations it keeps).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.common.consumer import ConsumerSettings, DurableConsumer
from services.common.errors import DomainError, Kind
from services.common.events import republished_from, wait_for_stream
from services.common.tasks import cancel_and_wait
from services.indexer.domain.locations import LocationMap
from services.indexer.domain.ports import ObjectIndex
from wio.nodes.v1 import events_pb2 as nodes_events
from wio.workspaces.v1 import events_pb2 as workspaces_events

log = logging.getLogger(__name__)

WORKSPACE_CREATED = "wio.workspaces.workspace.created"
WORKSPACE_DELETED = "wio.workspaces.workspace.deleted"
WORKSPACE_PURGED = "wio.workspaces.workspace.purged"
ROOT_IMPORTED = "wio.workspaces.root.imported"
ROOT_REMOVED = "wio.nodes.root.removed"
NODE_REMOVED = "wio.nodes.node.removed"

# Starts the first crawl of an imported root (the crawler's crawl_root); None where no crawler is wired.
StartRootCrawl = Callable[[str], Awaitable[object]]


class IndexerReactions:
    """One handler per subject; each is idempotent (forgetting twice forgets nothing more)."""

    def __init__(
        self, index: ObjectIndex, locations: LocationMap, start_root_crawl: StartRootCrawl | None
    ) -> None:
        self.index = index
        self.locations = locations
        self.start_root_crawl = start_root_crawl
        self.handlers: dict[str, Callable[[bytes], Awaitable[None]]] = {
            WORKSPACE_CREATED: self.workspace_created,
            WORKSPACE_DELETED: self.workspace_deleted,
            WORKSPACE_PURGED: self.workspace_purged,
            ROOT_IMPORTED: self.root_imported,
            ROOT_REMOVED: self.root_removed,
            NODE_REMOVED: self.node_removed,
        }

    async def handle(self, msg: Msg) -> None:
        handler = self.handlers.get(msg.subject)
        if handler is None:
            return
        origin = republished_from(msg)
        if origin is not None:
            log.warning("indexer: ignored %s republished from stream %s", msg.subject, origin)
            return
        await handler(msg.data)

    async def workspace_created(self, data: bytes) -> None:
        event = workspaces_events.WorkspaceCreatedEvent.FromString(data)
        self.locations.forget(event.node_id or None)

    async def workspace_deleted(self, data: bytes) -> None:
        event = workspaces_events.WorkspaceDeletedEvent.FromString(data)
        # The event names no node: every node's list is loaded again.
        self.locations.forget()
        removed = await self.index.forget_workspace(event.workspace_id)
        log.info("indexer: workspace %s deleted, %d record(s) removed", event.workspace_id, removed)

    async def workspace_purged(self, data: bytes) -> None:
        event = workspaces_events.WorkspacePurgedEvent.FromString(data)
        self.locations.forget(event.node_id or None)
        removed = await self.index.forget_workspace(event.workspace_id)
        if removed:
            log.info("indexer: workspace %s purged, %d record(s) removed", event.workspace_id, removed)

    async def root_imported(self, data: bytes) -> None:
        event = workspaces_events.RootImportedEvent.FromString(data)
        self.locations.forget(event.node_id or None)
        if self.start_root_crawl is None:
            log.warning("indexer: root %s imported but no crawler is wired; not crawled", event.root_id)
            return
        try:
            await self.start_root_crawl(event.root_id)
        except DomainError as error:
            if error.kind in (Kind.UNAVAILABLE, Kind.DEADLINE_EXCEEDED):
                raise  # tried again later
            # The root went again, or its node refuses: the next verify of the root covers it.
            log.warning("indexer: first crawl of root %s not started: %s", event.root_id, error.reason.value)

    async def root_removed(self, data: bytes) -> None:
        event = nodes_events.RootRemovedEvent.FromString(data)
        known = self.locations.known(event.node_id)
        self.locations.forget(event.node_id)
        removed = 0
        for workspace_id in {loc.workspace_id for loc in known if loc.root_id == event.root_id}:
            removed += await self.index.forget_workspace(workspace_id)
        if removed:
            log.info("indexer: root %s removed, %d record(s) removed", event.root_id, removed)

    async def node_removed(self, data: bytes) -> None:
        event = nodes_events.NodeRemovedEvent.FromString(data)
        self.locations.forget(event.node_id)
        removed = await self.index.forget_node(event.node_id)
        log.info("indexer: node %s removed, %d record(s) removed", event.node_id, removed)


class IndexerSubscribers:
    """Durable consumers of the workspaces and nodes streams (created by their services; waited for)."""

    def __init__(
        self,
        js: JetStreamContext,
        reactions: IndexerReactions,
        stream_wait_seconds: float = 60.0,
        settings: ConsumerSettings | None = None,
    ) -> None:
        self.js = js
        self.reactions = reactions
        self.stream_wait_seconds = stream_wait_seconds
        self.settings = settings
        self.consumers: list[DurableConsumer] = []

    async def start(self) -> None:
        by_domain: dict[str, list[str]] = {}
        for subject in self.reactions.handlers:
            by_domain.setdefault(subject.split(".")[1], []).append(subject)
        for domain, subjects in by_domain.items():
            stream = await wait_for_stream(self.js, domain, self.stream_wait_seconds)
            consumer = DurableConsumer(
                self.js,
                stream=stream,
                durable=f"indexer-{domain}",
                filter_subject=subjects,
                handle=self.reactions.handle,
                # The services' own events: one that keeps failing is retried, never set aside.
                dead_letter_subject=None,
                settings=self.settings or ConsumerSettings(max_deliver=-1),
            )
            await consumer.start()
            self.consumers.append(consumer)

    async def stop(self) -> None:
        for consumer in reversed(self.consumers):
            await consumer.stop()
        self.consumers.clear()


class TombstoneExpiry:
    """Removes tombstones older than `keep_seconds` every `every_seconds`: by then every delayed event
    of those keys has arrived (a later one is older than any record, and a crawl repairs the rest)."""

    def __init__(self, index: ObjectIndex, keep_seconds: float, every_seconds: float) -> None:
        self.index = index
        self.keep_seconds = keep_seconds
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        return await self.index.expire_tombstones(datetime.now(UTC) - timedelta(seconds=self.keep_seconds))

    async def start(self) -> None:
        if self.every_seconds > 0:
            self._task = asyncio.create_task(self._loop(), name="tombstone-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_seconds)
            try:
                expired = await self.run_once()
                if expired:
                    log.info("indexer: %d tombstone(s) expired", expired)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("indexer: tombstone expiry failed: %s", type(exc).__name__)
