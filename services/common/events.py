"""NATS JetStream: the connection, the streams and publishing."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from services.common.streams import STREAMS, inbox_prefix, stream_for

__all__ = [
    "STREAMS",
    "JetStreamPublisher",
    "StreamMissingError",
    "connect",
    "ensure_stream",
    "republished_from",
    "stream_for",
    "wait_for_stream",
]

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 600.0
STREAM_POLL_SECONDS = 0.5


class StreamMissingError(Exception):
    """A stream this service reads was not created in time by the service that owns it."""


async def connect(url: str, service: str, user: str = "", password: str = "") -> NatsClient:
    """The service's connection, as its own NATS user when one is set; replies and consumer deliveries
    come under the service's own inbox prefix, the only subjects its user may subscribe to."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    return await nats.connect(
        url,
        name=f"wio-{service}",
        user=user or None,
        password=password or None,
        inbox_prefix=inbox_prefix(service),
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=on_error,
    )


async def ensure_stream(js: JetStreamContext, domain: str) -> None:
    """Create the domain's stream if missing (idempotent). Only the domain's own service calls it: the
    others may not create it (their NATS users lack the permission) and wait for it instead."""
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


async def wait_for_stream(js: JetStreamContext, domain: str, wait_seconds: float) -> str:
    """The name of another domain's stream once it exists. Its service creates it when it starts, which
    may be after this one; the wait is logged once and bounded by `wait_seconds`."""
    name = stream_for(domain)[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    logged = False
    while True:
        try:
            await js.stream_info(name)
            if logged:
                log.info("stream %s is there", name)
            return name
        except NotFoundError:
            if loop.time() >= deadline:
                raise StreamMissingError(
                    f"stream {name} does not exist after {wait_seconds:.0f} s: is the {domain} service"
                    " running? (WIO_NATS_STREAM_WAIT_SECONDS sets the wait)"
                ) from None
            if not logged:
                log.info("waiting up to %.0f s for the %s service to create %s", wait_seconds, domain, name)
                logged = True
            await asyncio.sleep(STREAM_POLL_SECONDS)


def republished_from(msg: Msg) -> str | None:
    """The stream JetStream republished this message from (its Nats-Stream header), or None. Events a
    service publishes never carry it; a stream that another service's user created may republish into
    any subject, so consumers drop such messages rather than trust them."""
    headers = msg.headers or {}
    return next((value for key, value in headers.items() if key.lower() == "nats-stream"), None)


@dataclass
class JetStreamPublisher:
    """Publishes with JetStream acknowledgements; the outbox relay's Publisher."""

    js: JetStreamContext
    timeout: float = 5.0

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        await self.js.publish(subject, payload, timeout=self.timeout, headers=headers)
