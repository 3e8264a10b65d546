"""What the gateway talks to: the nodes service (hook tokens, with the gateway's own service token) and
NATS JetStream. Each call is bounded in time; a failure is `Unavailable`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict

import grpc
import nats.errors
from nats.js import JetStreamContext

from gateway.errors import Unavailable
from services.common.clients import AuthClient
from services.common.errors import DomainError
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc

log = logging.getLogger(__name__)


class NodesHookVerifier:
    """VerifyHookToken on the nodes service, as the gateway's service account. At most MAX_IN_FLIGHT
    checks at once: a flood of made-up tokens waits here (and gets 503 after the timeout) instead of
    piling onto the nodes service."""

    MAX_IN_FLIGHT = 64

    def __init__(self, channel: grpc.aio.Channel, auth: AuthClient, timeout: float) -> None:
        self._stub = nodes_pb2_grpc.NodesInternalServiceStub(channel)
        self._auth = auth
        self._timeout = timeout
        self._slots = asyncio.Semaphore(self.MAX_IN_FLIGHT)

    async def verify(self, node: str, token: str) -> str | None:
        """The node's id when the token is its current hook token, else None."""
        try:
            async with asyncio.timeout(self._timeout), self._slots:
                metadata = await self._auth.call_metadata()
                reply = await self._stub.VerifyHookToken(
                    nodes_pb2.VerifyHookTokenRequest(node=node, token=token),
                    metadata=metadata,
                    timeout=self._timeout,
                )
        except TimeoutError as exc:
            raise Unavailable("hook token check: no answer in time") from exc
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
            raise Unavailable(f"hook token check: {getattr(code, 'name', 'error')}") from exc
        except DomainError as exc:
            raise Unavailable(f"hook token check: {exc.reason.value}") from exc
        return reply.node_id if reply.valid and reply.node_id else None


class CachedHookVerifier:
    """Remembers positive answers for a few seconds, keyed by a hash of (node, token): never the token
    itself. Refusals are not remembered, so a token made valid by a rotation works at once; a rotated-out
    token may still pass for up to `seconds`."""

    MAX_ENTRIES = 4096

    def __init__(self, inner: NodesHookVerifier, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self._valid: OrderedDict[str, tuple[str, float]] = OrderedDict()

    @staticmethod
    def _key(node: str, token: str) -> str:
        return hashlib.sha256(f"{node}\n{token}".encode()).hexdigest()

    async def verify(self, node: str, token: str) -> str | None:
        key = self._key(node, token)
        now = time.monotonic()
        hit = self._valid.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        node_id = await self._inner.verify(node, token)
        if node_id is None:
            self._valid.pop(key, None)
        elif self._seconds > 0:
            self._valid[key] = (node_id, now + self._seconds)
            self._valid.move_to_end(key)
            while len(self._valid) > self.MAX_ENTRIES:
                self._valid.popitem(last=False)
        return node_id


class IngestPublisher:
    """Publishes to JetStream and waits for the stream's acknowledgement."""

    def __init__(self, js: JetStreamContext, timeout: float) -> None:
        self._js = js
        self._timeout = timeout

    async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._js.publish(subject, body, timeout=self._timeout, headers=headers)
        except TimeoutError as exc:
            raise Unavailable("JetStream publish: no acknowledgement in time") from exc
        except nats.errors.Error as exc:
            # No stream for the subject (no responders), connection closed or draining, an API error.
            raise Unavailable(f"JetStream publish: {type(exc).__name__}") from exc
