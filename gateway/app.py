"""The gateway's composition root: the Starlette app, its connections (opened at start-up, closed at
shutdown) and its routes. A new group of routes is one more `routes()` provider in `build_app`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.backends import CachedHookVerifier, IngestPublisher, NodesHookVerifier
from gateway.config import GatewaySettings
from gateway.errors import INTERNAL, NOT_FOUND, UNIMPLEMENTED, error
from gateway.hooks import HookRoutes
from gateway.links import LinkRoutes, WorkspacesLinkResolver
from services.common import events
from services.common.clients import AuthClient
from services.common.tls import client_channel

log = logging.getLogger(__name__)

SERVICE = "gateway"


@dataclass
class Connections:
    """What the routes use, and how to close it."""

    hooks: HookRoutes
    links: LinkRoutes
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


async def connect(settings: GatewaySettings) -> Connections:
    """NATS (as the gateway's own user, inbox `_INBOX_gateway`) and channels to auth and nodes."""
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        nc = await events.connect(settings.nats_url, SERVICE, settings.nats_user, settings.nats_password)
        closers.append(nc.close)
        auth_channel = client_channel(settings.auth_address, settings.tls)
        closers.append(auth_channel.close)
        nodes_channel = client_channel(settings.nodes_address, settings.tls)
        closers.append(nodes_channel.close)
        workspaces_channel = client_channel(settings.workspaces_address, settings.tls)
        closers.append(workspaces_channel.close)
    except BaseException:
        await Connections(None, None, closers).close()  # type: ignore[arg-type]
        raise
    auth = AuthClient(auth_channel, settings.service_api_key)
    verifier = CachedHookVerifier(
        NodesHookVerifier(nodes_channel, auth, settings.call_timeout_seconds), settings.hook_cache_seconds
    )
    publisher = IngestPublisher(nc.jetstream(), settings.publish_timeout_seconds)
    links = LinkRoutes(WorkspacesLinkResolver(workspaces_channel, auth, settings.call_timeout_seconds))
    return Connections(HookRoutes(verifier, publisher, body_limit(settings, nc.max_payload)), links, closers)


# Room for the subject, headers and protocol line of a publish, besides the body.
PUBLISH_OVERHEAD = 4096


def body_limit(settings: GatewaySettings, max_payload: int) -> int:
    """The body cap: the setting, unless the NATS server takes less in one message (its max_payload,
    1 MiB by default; the launcher's NATS takes more), which a larger body would exceed and make the
    server drop the connection."""
    room = max_payload - PUBLISH_OVERHEAD
    if 0 < room < settings.hook_max_bytes:
        log.warning(
            "WIO_GATEWAY_HOOK_MAX_BYTES=%d is more than NATS takes in one message (max_payload %d):"
            " storage-event bodies are limited to %d bytes",
            settings.hook_max_bytes,
            max_payload,
            room,
        )
        return room
    return settings.hook_max_bytes


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route 404, wrong method 405) in the gateway's error body."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: NOT_FOUND, 405: UNIMPLEMENTED}.get(status, INTERNAL)
    headers = getattr(exc, "headers", None)
    return error(status, code, HTTPStatus(status).phrase.lower(), headers=headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: logged here (never a token: none is put in an exception), a plain 500 out."""
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return error(500, INTERNAL, "internal error")


def build_app(settings: GatewaySettings) -> Starlette:
    """The app; its connections open when the server starts it (lifespan) and close when it stops."""
    holder: dict[str, Connections] = {}

    async def hook(request: Request) -> Response:
        return await holder["connections"].hooks.s3_event(request)

    async def link(request: Request) -> Response:
        return await holder["connections"].links.open(request)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["connections"] = await connect(settings)
        log.info("gateway listening on %s", settings.listen)
        try:
            yield
        finally:
            await holder.pop("connections").close()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/hooks/s3/{node}", hook, methods=["POST"]),
        Route("/l/{token}", link, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
