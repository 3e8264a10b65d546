"""GET /l/{id}.{secret}: a revocable link (`wio link`). The workspaces service decides on every use whether
the link still stands (ResolveLink, asked with the gateway's own service identity) and answers with a
pre-signed URL valid for at most 60 s; the gateway redirects to it (302). Every link that does not stand
(unknown, wrong secret, revoked, expired, its creator disabled or no longer able to read the object) is
the same 404; the workspaces service not answering in time is 503."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import NOT_FOUND, Unavailable, error, unavailable
from services.common.clients import AuthClient
from services.common.errors import DomainError
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

log = logging.getLogger(__name__)

# A link's id is a UUID; its secret is token_urlsafe(32) (43 characters). Anything else is no link and
# costs the workspaces service nothing.
TOKEN_RE = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{16,128})"
)
# Neither the redirect (it holds a short-lived URL) nor a refusal is kept anywhere, and the link's own
# URL is not passed on to the storage node as a Referer.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class LinkResolver(Protocol):
    async def resolve(self, link_id: str, secret: str) -> str | None:
        """A fresh URL of the object, or None when the link does not stand; Unavailable if no answer."""
        ...


class WorkspacesLinkResolver:
    """ResolveLink on the workspaces service as the gateway's service account, bounded in time; at most
    MAX_IN_FLIGHT at once, so a flood of made-up links waits here rather than on the service."""

    MAX_IN_FLIGHT = 64

    def __init__(self, channel: grpc.aio.Channel, auth: AuthClient, timeout: float) -> None:
        self._stub = workspaces_pb2_grpc.WorkspacesInternalServiceStub(channel)
        self._auth = auth
        self._timeout = timeout
        self._slots = asyncio.Semaphore(self.MAX_IN_FLIGHT)

    async def resolve(self, link_id: str, secret: str) -> str | None:
        try:
            async with asyncio.timeout(self._timeout), self._slots:
                metadata = await self._auth.call_metadata()
                reply = await self._stub.ResolveLink(
                    workspaces_pb2.ResolveLinkRequest(id=link_id, secret=secret),
                    metadata=metadata,
                    timeout=self._timeout,
                )
        except TimeoutError as exc:
            raise Unavailable("link check: no answer in time") from exc
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else None
            if code in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}:
                return None
            raise Unavailable(f"link check: {getattr(code, 'name', 'error')}") from exc
        except DomainError as exc:
            raise Unavailable(f"link check: {exc.reason.value}") from exc
        return reply.url or None


class LinkRoutes:
    def __init__(self, resolver: LinkResolver) -> None:
        self.resolver = resolver

    async def open(self, request: Request) -> Response:
        found = TOKEN_RE.fullmatch(str(request.path_params["token"]))
        try:
            url = await self.resolver.resolve(found.group(1), found.group(2)) if found else None
        except Unavailable as exc:
            log.warning("link %.36s not checked: %s", found.group(1) if found else "-", exc)
            response = unavailable()
            response.headers.update(NO_STORE)
            return response
        if url is None:
            return error(404, NOT_FOUND, "no such link, or it no longer works", headers=NO_STORE)
        return Response(status_code=302, headers={"Location": url, **NO_STORE})
