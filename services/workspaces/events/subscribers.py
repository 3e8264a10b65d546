"""Evicts cached credential sets and node access when the events say the rights behind them changed.

Every instance keeps its own cache, so each has its own ordered (ephemeral) consumers that start at new
messages: what happened before the instance started cannot be in its cache. The auth and nodes services
create their streams; an instance started before them waits for those (bounded).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.common.events import republished_from, wait_for_stream
from services.workspaces.domain.cache import CredentialCache, PlanCache
from services.workspaces.storage.clients.nodes import NodesClient
from wio.auth.v1 import events_pb2 as auth_events
from wio.nodes.v1 import events_pb2 as nodes_events
from wio.workspaces.v1 import events_pb2 as workspaces_events

log = logging.getLogger(__name__)


def _evictions(
    cache: CredentialCache, plans: PlanCache, nodes: NodesClient
) -> dict[str, Callable[[bytes], int]]:
    """Subject -> what its event evicts (returns how many credential sets went). Plans need no event for
    changes to workspaces, shares or memberships: they check those themselves before each reuse."""

    def users(*ids: str) -> int:
        return cache.forget_users(set(ids))

    def roots_created() -> int:
        nodes.forget_roots()
        return 0

    def node(node_id: str) -> int:
        nodes.forget_node(node_id)
        plans.forget_node(node_id)
        return cache.forget_node(node_id)

    return {
        "wio.auth.user.disabled": lambda b: users(auth_events.UserDisabledEvent.FromString(b).user_id),
        "wio.auth.group.member_added": lambda b: users(
            auth_events.GroupMemberAddedEvent.FromString(b).user_id
        ),
        "wio.auth.group.member_removed": lambda b: users(
            auth_events.GroupMemberRemovedEvent.FromString(b).user_id
        ),
        "wio.auth.group.deleted": lambda b: users(
            *auth_events.GroupDeletedEvent.FromString(b).member_user_ids
        ),
        "wio.nodes.node.updated": lambda b: node(nodes_events.NodeUpdatedEvent.FromString(b).node_id),
        "wio.nodes.node.removed": lambda b: node(nodes_events.NodeRemovedEvent.FromString(b).node_id),
        "wio.nodes.root.removed": lambda b: node(nodes_events.RootRemovedEvent.FromString(b).node_id),
        "wio.nodes.root.created": lambda _b: roots_created(),
        "wio.workspaces.share.updated": lambda b: cache.forget_workspace(
            workspaces_events.ShareChangedEvent.FromString(b).workspace_id
        ),
        "wio.workspaces.share.revoked": lambda b: cache.forget_workspace(
            workspaces_events.ShareChangedEvent.FromString(b).workspace_id
        ),
        "wio.workspaces.workspace.deleted": lambda b: cache.forget_workspace(
            workspaces_events.WorkspaceDeletedEvent.FromString(b).workspace_id
        ),
    }


class CacheEvictionFeed:
    def __init__(
        self,
        js: JetStreamContext,
        cache: CredentialCache,
        plans: PlanCache,
        nodes: NodesClient,
        stream_wait_seconds: float = 60.0,
    ) -> None:
        self.js = js
        self.stream_wait_seconds = stream_wait_seconds
        self.handlers = _evictions(cache, plans, nodes)
        self._subs: list[Subscription] = []

    async def _on_message(self, msg: Msg) -> None:
        handler = self.handlers.get(msg.subject)
        if handler is None:
            return
        origin = republished_from(msg)
        if origin is not None:
            log.warning("credential cache: ignored %s republished from stream %s", msg.subject, origin)
            return
        try:
            evicted = handler(msg.data)
        except Exception:
            log.exception("credential cache: cannot read %s event", msg.subject)
            return
        if evicted:
            log.info("credential cache: %s evicted %d set(s)", msg.subject, evicted)

    async def start(self) -> None:
        streams: dict[str, str] = {}
        for subject in self.handlers:
            domain = subject.split(".")[1]
            if domain not in streams:
                streams[domain] = await wait_for_stream(self.js, domain, self.stream_wait_seconds)
            self._subs.append(
                await self.js.subscribe(
                    subject,
                    stream=streams[domain],
                    cb=self._on_message,
                    ordered_consumer=True,
                    config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
                )
            )

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
