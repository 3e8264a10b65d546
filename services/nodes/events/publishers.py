"""The nodes service's events, written to the outbox inside the transaction that makes the change."""

from __future__ import annotations

from services.common.subjects import OutboxEvents, Subjects
from services.nodes.convert import ROOT_TYPE, STATUS
from services.nodes.domain.models import Node, Root
from wio.nodes.v1 import events_pb2

NODE_REGISTERED = "wio.nodes.node.registered"
NODE_UPDATED = "wio.nodes.node.updated"
NODE_REMOVED = "wio.nodes.node.removed"
NODE_STATUS_CHANGED = "wio.nodes.node.status_changed"
ROOT_CREATED = "wio.nodes.root.created"
ROOT_REMOVED = "wio.nodes.root.removed"

# Every subject this service publishes and its message type (docs/events.md is generated from it).
SUBJECTS: Subjects = {
    NODE_REGISTERED: events_pb2.NodeRegisteredEvent,
    NODE_UPDATED: events_pb2.NodeUpdatedEvent,
    NODE_REMOVED: events_pb2.NodeRemovedEvent,
    NODE_STATUS_CHANGED: events_pb2.NodeStatusChangedEvent,
    ROOT_CREATED: events_pb2.RootCreatedEvent,
    ROOT_REMOVED: events_pb2.RootRemovedEvent,
}


class OutboxNodesEvents(OutboxEvents):
    subjects = SUBJECTS

    async def node_registered(self, node: Node) -> None:
        event = events_pb2.NodeRegisteredEvent(
            node_id=node.id, name=node.name, endpoint=node.settings.endpoint, operator_id=node.operator_id
        )
        await self.outbox.add(self.session, NODE_REGISTERED, event)

    async def node_updated(self, node: Node, changed: list[str]) -> None:
        event = events_pb2.NodeUpdatedEvent(node_id=node.id, name=node.name, changed_fields=changed)
        await self.outbox.add(self.session, NODE_UPDATED, event)

    async def node_removed(self, node: Node) -> None:
        await self.outbox.add(
            self.session, NODE_REMOVED, events_pb2.NodeRemovedEvent(node_id=node.id, name=node.name)
        )

    async def status_changed(self, node: Node, previous: str, current: str, detail: str) -> None:
        event = events_pb2.NodeStatusChangedEvent(
            node_id=node.id, name=node.name, previous=STATUS[previous], current=STATUS[current], detail=detail
        )
        await self.outbox.add(self.session, NODE_STATUS_CHANGED, event)

    async def root_created(self, root: Root) -> None:
        event = events_pb2.RootCreatedEvent(
            root_id=root.id,
            node_id=root.node_id,
            bucket=root.bucket,
            base_prefix=root.base_prefix,
            type=ROOT_TYPE[root.type],
        )
        await self.outbox.add(self.session, ROOT_CREATED, event)

    async def root_removed(self, root: Root) -> None:
        event = events_pb2.RootRemovedEvent(root_id=root.id, node_id=root.node_id)
        await self.outbox.add(self.session, ROOT_REMOVED, event)
