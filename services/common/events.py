"""NATS JetStream: the connection, the streams and publishing."""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from services.common.config import ConfigError
from services.common.streams import MAX_AGE_SECONDS, STREAMS, inbox_prefix, stream_for
from services.common.tasks import cancel_and_wait

__all__ = [
    "STREAMS",
    "JetStreamPublisher",
    "StreamMissingError",
    "connect",
    "ensure_ingest_stream",
    "ensure_stream",
    "republished_from",
    "stream_for",
    "wait_for_stream",
]

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 600.0
STREAM_POLL_SECONDS = 0.5


class StreamMissingError(ConnectionError):
    """A stream this service reads was not created in time by the service that owns it."""


# How long a starting service keeps trying to reach NATS; once connected it reconnects without end.
INITIAL_CONNECT_SECONDS = 30.0


def _is_refusal(exc: Exception) -> bool:
    """The server refused this user (nats-py reports it as a plain error carrying the server's words)."""
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in str(exc).lower()


async def connect(
    url: str,
    service: str,
    user: str = "",
    password: str = "",
    initial_seconds: float = INITIAL_CONNECT_SECONDS,
) -> NatsClient:
    """The service's connection, as its own NATS user when one is set; replies and consumer deliveries
    come under the service's own inbox prefix, the only subjects its user may subscribe to.

    A refused user ends the start at once (ConfigError), and a NATS that does not answer within
    `initial_seconds` ends it too (ConnectionError): nats-py itself would retry both forever."""
    loop = asyncio.get_running_loop()
    refused: asyncio.Future[Exception] = loop.create_future()
    connected = False

    async def on_error(exc: Exception) -> None:
        if not connected and _is_refusal(exc) and not refused.done():
            refused.set_result(exc)
        log.warning("nats: %s", exc)

    attempt = asyncio.ensure_future(
        nats.connect(
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
    )
    waiting: set[asyncio.Future[Any]] = {attempt, refused}
    done, _ = await asyncio.wait(waiting, timeout=initial_seconds, return_when=FIRST_COMPLETED)
    if attempt in done:
        connected = True
        return attempt.result()
    await cancel_and_wait(attempt)
    if not attempt.cancelled() and attempt.exception() is None:
        await attempt.result().close()  # connected just as it was given up
    if refused.done():
        who = f"user {user!r}" if user else "a client without a user"
        raise ConfigError(f"NATS at {url} refused {who}: check WIO_NATS_USER and WIO_NATS_PASSWORD")
    raise ConnectionError(f"NATS at {url} did not answer within {initial_seconds:.0f} s")


async def ensure_stream(js: JetStreamContext, domain: str) -> None:
    """Create the domain's stream if missing (idempotent). Only the domain's own service calls it: the
    others may not create it (their NATS users lack the permission) and wait for it instead."""
    name, subjects = stream_for(domain)
    config = StreamConfig(
        name=name,
        subjects=[subjects],
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        # Limits retention (JetStream's default): messages stay until they are older than this.
        max_age=MAX_AGE_SECONDS.get(domain),
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except Exception:
            # Another instance may have created it in between.
            await js.stream_info(name)


async def ensure_ingest_stream(js: JetStreamContext) -> str:
    """WIO_INGEST (`wio.ingest.>`, limits retention, 7 days): storage events the gateway publishes and
    the indexer's dead letters. The indexer calls this at start (its NATS user is the one allowed to
    create it); answers the stream's name."""
    await ensure_stream(js, "ingest")
    return stream_for("ingest")[0]


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
