"""NATS JetStream: the connection, the streams and publishing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

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
