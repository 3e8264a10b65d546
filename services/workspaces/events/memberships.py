"""A local copy of users' group memberships, kept by auth's events, that answers only when it provably
holds every membership change auth has acknowledged.

Auth puts each membership event into its JetStream stream before it acknowledges the change to its caller
(the event's publish is part of the reply). This copy follows the whole auth stream with an ordered
consumer and remembers the stream sequence of the last message it applied. A request first asks the
stream for its last sequence (one JetStream call, read after the request arrived and shared by the
requests waiting at that moment): when the copy has applied that far, every change acknowledged before
the request is in it. When it is behind, it waits up to CATCH_UP_SECONDS for its consumer, then asks auth
as it did before the copy existed; so does it when NATS does not answer.

An entry is a user's groups as auth answered them; a membership event for the user drops the entry (the
next request asks auth again), so events applied in any order leave nothing stale behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.common.events import republished_from, stream_for, wait_for_stream
from services.workspaces.domain.ports import Memberships
from services.workspaces.domain.revisions import FreshRead
from wio.auth.v1 import events_pb2 as auth_events

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 0.05
STREAM_CALL_SECONDS = 1.0
MAX_USERS = 10_000


def _affected(subject: str, data: bytes) -> list[str]:
    """The users whose memberships an auth event changes (none for other auth events)."""
    parse: dict[str, Callable[[bytes], list[str]]] = {
        "wio.auth.group.member_added": lambda b: [auth_events.GroupMemberAddedEvent.FromString(b).user_id],
        "wio.auth.group.member_removed": lambda b: [
            auth_events.GroupMemberRemovedEvent.FromString(b).user_id
        ],
        "wio.auth.group.deleted": lambda b: list(auth_events.GroupDeletedEvent.FromString(b).member_user_ids),
        "wio.auth.user.disabled": lambda b: [auth_events.UserDisabledEvent.FromString(b).user_id],
    }
    reader = parse.get(subject)
    return reader(data) if reader else []


class MembershipMirror(Memberships):
    def __init__(
        self,
        nc: NatsClient,
        identity: Memberships,
        stream_wait_seconds: float,
        max_users: int = MAX_USERS,
        catch_up_seconds: float = CATCH_UP_SECONDS,
    ) -> None:
        self.nc = nc
        self.stream_wait_seconds = stream_wait_seconds
        self.identity = identity
        self.max_users = max_users
        self.catch_up_seconds = catch_up_seconds
        self.stream = stream_for("auth")[0]
        self._entries: dict[str, dict[str, str]] = {}
        self._generation = 0  # advanced by every drop: a look-up that overlapped one is not kept
        self._applied = 0  # stream sequence of the last auth event applied
        self._advanced = asyncio.Event()
        self._last = FreshRead(self._stream_last_sequence)
        self._sub: Subscription | None = None
        self._stream_failing = False

    @property
    def following(self) -> bool:
        return self._sub is not None

    async def start(self) -> None:
        js = self.nc.jetstream()
        # Auth's stream is auth's to create: this service's NATS user may only wait for it.
        await wait_for_stream(js, "auth", self.stream_wait_seconds)
        # Empty, the copy is consistent with everything before now; it follows from the next message on.
        self._entries.clear()
        self._generation += 1
        self._applied = await self._stream_last_sequence()
        self._sub = await js.subscribe(
            "wio.auth.>",
            stream=self.stream,
            cb=self._on_message,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._applied + 1
            ),
        )

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        if self._sub is None:
            return
        origin = republished_from(msg)
        try:
            # A copy another stream republished is not auth's word: it changes nothing here (it still
            # counts as applied, since it holds a place in the stream's sequence).
            users = [] if origin is not None else _affected(msg.subject, msg.data)
        except Exception:
            # Unreadable: nobody's entry can be trusted after it.
            log.exception("memberships: cannot read %s event; forgetting every entry", msg.subject)
            users = list(self._entries)
        for user_id in users:
            self._drop(user_id)
        self._applied = max(self._applied, msg.metadata.sequence.stream)
        self._advanced.set()
        self._advanced = asyncio.Event()

    def _drop(self, user_id: str) -> None:
        self._generation += 1
        self._entries.pop(user_id, None)

    async def _stream_last_sequence(self) -> int:
        reply = await self.nc.request(f"$JS.API.STREAM.INFO.{self.stream}", b"", timeout=STREAM_CALL_SECONDS)
        info = json.loads(reply.data)
        if "error" in info:
            raise RuntimeError(f"stream info: {info['error'].get('description', info['error'])}")
        return int(info["state"]["last_seq"])

    async def _caught_up(self) -> bool:
        """True when every auth event in the stream when this was asked has been applied."""
        if self._sub is None:
            return False
        try:
            last = await self._last.get()
        except Exception as exc:
            if not self._stream_failing:  # once per outage, not once per request
                log.warning(
                    "memberships: the auth stream did not answer (%s); asking auth until it does", exc
                )
            self._stream_failing = True
            return False
        if self._stream_failing:
            log.info("memberships: the auth stream answers again")
            self._stream_failing = False
        if last < self._applied:
            return False  # the stream was made anew: its sequences say nothing about this copy any more
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.catch_up_seconds
        while self._applied < last:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._sub is None:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._advanced.wait()
        return True

    async def groups(self, user_id: str) -> dict[str, str]:
        if not await self._caught_up():
            return await self.identity.groups(user_id)
        found = self._entries.get(user_id)
        if found is not None:
            return dict(found)
        generation = self._generation
        groups = await self.identity.groups(user_id)
        if generation == self._generation:
            self._keep(user_id, groups)
        return groups

    def _keep(self, user_id: str, groups: dict[str, str]) -> None:
        if len(self._entries) >= self.max_users:
            # The oldest tenth goes: a dropped entry is only asked of auth again.
            for key in list(self._entries)[: max(1, self.max_users // 10)]:
                del self._entries[key]
        self._entries[user_id] = dict(groups)
