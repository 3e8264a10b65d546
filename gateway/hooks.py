"""POST /hooks/s3/{node}: a storage node reports object changes (SeaweedFS's webhook, MinIO's webhook
target). The gateway checks the node's hook token, caps and checks the body, publishes it untouched to
JetStream (`wio.ingest.s3.<node_id>`, header Wio-Node-Id) and answers 204 once the stream has it. What
the body means is the indexer's business."""

from __future__ import annotations

import json
import logging
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import INVALID_ARGUMENT, UNAUTHENTICATED, Unavailable, error, unavailable
from services.common.streams import NODE_ID_HEADER, ingest_subject

log = logging.getLogger(__name__)

# Node names and ids are short; anything longer is no node.
MAX_NODE_REF = 128


class HookVerifier(Protocol):
    async def verify(self, node: str, token: str) -> str | None: ...


class Publisher(Protocol):
    async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None: ...


class HookRoutes:
    def __init__(self, verifier: HookVerifier, publisher: Publisher, max_bytes: int) -> None:
        self.verifier = verifier
        self.publisher = publisher
        self.max_bytes = max_bytes

    async def s3_event(self, request: Request) -> Response:
        node = str(request.path_params["node"])
        token = bearer_token(request.headers.get("authorization", ""))
        try:
            node_id = await self.verifier.verify(node, token) if token and len(node) <= MAX_NODE_REF else None
        except Unavailable as exc:
            log.warning("storage event for node %.64r: %s", node, exc)
            return unavailable()
        if node_id is None:
            # Unknown node, no token, wrong token: one answer.
            return error(
                401,
                UNAUTHENTICATED,
                "unknown node or wrong hook token",
                headers={"WWW-Authenticate": 'Bearer realm="wio hooks"'},
            )
        body = await read_limited(request, self.max_bytes)
        if body is None:
            return error(413, INVALID_ARGUMENT, f"the body is larger than {self.max_bytes} bytes")
        if not is_json_object(body):
            return error(400, INVALID_ARGUMENT, "the body is not a JSON object")
        try:
            await self.publisher.publish(ingest_subject(node_id), body, {NODE_ID_HEADER: node_id})
        except Unavailable as exc:
            log.warning("storage event from node %s not published: %s", node_id, exc)
            return unavailable()
        return Response(status_code=204)


def bearer_token(authorization: str) -> str:
    """The token of `Authorization: Bearer <token>` (scheme in any case), or ""."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes (never buffering more)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, UnicodeDecodeError):
        return False
