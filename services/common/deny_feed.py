"""Feeds a service's token deny list from auth's events.

Every instance needs every such event, so this is an ordered (ephemeral) consumer per instance rather than
a shared durable one. It replays from one token lifetime ago: older events concern tokens that have expired.
The auth service creates the stream; a service started before it waits for it (bounded).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.common.events import republished_from, wait_for_stream
from services.common.tokens import DenyList
from wio.auth.v1 import events_pb2

log = logging.getLogger(__name__)

USER_DISABLED = "wio.auth.user.disabled"
APIKEY_REVOKED = "wio.auth.apikey.revoked"


class DenyListFeed:
    def __init__(
        self,
        js: JetStreamContext,
        deny_list: DenyList,
        token_ttl_seconds: int,
        stream_wait_seconds: float = 60.0,
    ) -> None:
        self.js = js
        self.deny_list = deny_list
        self.token_ttl_seconds = token_ttl_seconds
        self.stream_wait_seconds = stream_wait_seconds
        self._subs: list[Subscription] = []

    async def _on_message(self, msg: Msg) -> None:
        origin = republished_from(msg)
        if origin is not None:
            log.warning("deny list: ignored %s republished from stream %s", msg.subject, origin)
            return
        try:
            if msg.subject == USER_DISABLED:
                self.deny_list.deny_user(events_pb2.UserDisabledEvent.FromString(msg.data).user_id)
            elif msg.subject == APIKEY_REVOKED:
                self.deny_list.deny_api_key(events_pb2.ApiKeyRevokedEvent.FromString(msg.data).api_key_id)
        except Exception:
            log.exception("deny list: cannot read %s event", msg.subject)

    async def start(self) -> None:
        stream = await wait_for_stream(self.js, "auth", self.stream_wait_seconds)
        since = datetime.now(UTC) - timedelta(seconds=self.token_ttl_seconds + 60)
        for subject in (USER_DISABLED, APIKEY_REVOKED):
            sub = await self._subscribe(stream, subject, since)
            self._subs.append(sub)

    async def _subscribe(self, stream: str, subject: str, since: datetime) -> Subscription:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
        )
        return await self.js.subscribe(
            subject, stream=stream, cb=self._on_message, ordered_consumer=True, config=config
        )

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
