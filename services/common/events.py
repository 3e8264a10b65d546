"""NATS JetStream: the connection, the streams, publishing, and durable subscriptions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from services.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# One stream per domain holds every event of that domain.
STREAMS = {
    "auth": "WIO_AUTH",
    "nodes": "WIO_NODES",
    "workspaces": "WIO_WORKSPACES",
    "indexer": "WIO_INDEXER",
}
DUPLICATE_WINDOW_SECONDS = 600.0


def stream_for(domain: str) -> tuple[str, str]:
    return STREAMS[domain], f"wio.{domain}.>"


async def connect(url: str, name: str) -> NatsClient:
    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    return await nats.connect(
        url,
        name=name,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=on_error,
    )


async def ensure_stream(js: JetStreamContext, domain: str) -> None:
    """Create the domain's stream if missing (idempotent; every service may call it)."""
    name, subjects = stream_for(domain)
    config = StreamConfig(name=name, subjects=[subjects], duplicate_window=DUPLICATE_WINDOW_SECONDS)
    try:
        await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except Exception:
            # Another instance may have created it in between.
            await js.stream_info(name)


@dataclass
class JetStreamPublisher:
    """Publishes with JetStream acknowledgements; the outbox relay's Publisher."""

    js: JetStreamContext
    timeout: float = 5.0

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await self.js.publish(subject, payload, timeout=self.timeout, headers=headers)


Handler = Callable[[Msg], Awaitable[None]]


class DurableSubscription:
    """A pull consumer with explicit ack; a handler that fails leaves the message for redelivery."""

    def __init__(
        self,
        js: JetStreamContext,
        domain: str,
        subject: str,
        durable: str,
        handler: Handler,
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
        opt_start_time: datetime | None = None,
    ) -> None:
        self.js = js
        self.domain = domain
        self.subject = subject
        self.durable = durable
        self.handler = handler
        self.deliver_policy = deliver_policy
        self.opt_start_time = opt_start_time
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_stream(self.js, self.domain)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=self.deliver_policy,
            opt_start_time=self.opt_start_time,
            ack_wait=30,
            max_deliver=-1,
        )
        sub = await self.js.pull_subscribe(
            self.subject, durable=self.durable, stream=stream_for(self.domain)[0], config=config
        )
        self._task = asyncio.create_task(self._run(sub), name=f"consumer-{self.durable}")

    async def _run(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                messages = await sub.fetch(batch=50, timeout=1)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s: fetch failed: %s", self.durable, exc)
                await asyncio.sleep(1)
                continue
            for msg in messages:
                try:
                    await self.handler(msg)
                except Exception:
                    log.exception("consumer %s: handler failed on %s; will retry", self.durable, msg.subject)
                    await msg.nak(delay=1)
                else:
                    await msg.ack()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
