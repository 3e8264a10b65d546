"""The gateway's composition root: the Starlette app, its connections (opened at start-up, closed at
shutdown) and its routes. A new group of routes is a few more entries in `build_routes`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import openapi
from gateway.backends import CachedHookVerifier, IngestPublisher, NodesHookVerifier
from gateway.catalog import Catalog
from gateway.config import GatewaySettings
from gateway.errors import INTERNAL, NOT_FOUND, UNIMPLEMENTED, error
from gateway.hooks import HookRoutes
from gateway.links import LinkRoutes, WorkspacesLinkResolver
from gateway.rest import ApiKeyExchanger, RestRoutes
from gateway.web import EdgeHeaders
from services.auth.api import PUBLIC_METHODS
from services.common import events
from services.common.clients import AuthClient
from services.common.tls import client_channel

log = logging.getLogger(__name__)

SERVICE = "gateway"
REST_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Connections:
    """What the routes use, and how to close it."""

    hooks: HookRoutes
    rest: RestRoutes
    links: LinkRoutes
    # domain -> channel, for /readyz.
    channels: dict[str, grpc.aio.Channel]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


async def connect(settings: GatewaySettings, catalog: Catalog) -> Connections:
    """NATS (as the gateway's own user, inbox `_INBOX_gateway`) and one channel per service."""
    closers: list[Callable[[], Awaitable[None]]] = []
    channels: dict[str, grpc.aio.Channel] = {}
    try:
        nc = await events.connect(settings.nats_url, SERVICE, settings.nats_user, settings.nats_password)
        closers.append(nc.close)
        for domain, address in settings.service_addresses.items():
            channels[domain] = client_channel(address, settings.tls)
            closers.append(channels[domain].close)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        raise
    auth = AuthClient(channels["auth"], settings.service_api_key)
    verifier = CachedHookVerifier(
        NodesHookVerifier(channels["nodes"], auth, settings.call_timeout_seconds), settings.hook_cache_seconds
    )
    publisher = IngestPublisher(nc.jetstream(), settings.publish_timeout_seconds)
    rest = RestRoutes(
        catalog,
        channels,
        ApiKeyExchanger(channels["auth"], settings.call_timeout_seconds),
        auth,
        PUBLIC_METHODS,
        timeout=settings.rest_timeout_seconds,
        stream_timeout=settings.stream_timeout_seconds,
        max_bytes=settings.rest_max_bytes,
    )
    hooks = HookRoutes(verifier, publisher, body_limit(settings, nc.max_payload))
    links = LinkRoutes(WorkspacesLinkResolver(channels["workspaces"], auth, settings.call_timeout_seconds))
    return Connections(hooks, rest, links, channels, closers)


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
    """The process is up (nothing else is asked)."""
    return JSONResponse({"status": "ok"})


async def readiness(channels: dict[str, grpc.aio.Channel], seconds: float) -> dict[str, str]:
    """Each service's answer to the standard gRPC health check, asked all at once."""

    async def check(channel: grpc.aio.Channel) -> str:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=seconds
            )
        except grpc.RpcError:
            return "UNAVAILABLE"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    answers = await asyncio.gather(*(check(c) for c in channels.values()))
    return dict(zip(channels, answers, strict=True))


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


def build_routes(
    settings: GatewaySettings, catalog: Catalog, holder: dict[str, Connections]
) -> list[BaseRoute]:
    """Every route of the gateway. Routes that need a connection reach it through `holder` (filled at
    start-up)."""
    doc = openapi.document(catalog, PUBLIC_METHODS)
    page = openapi.docs_page(doc)

    async def hook(request: Request) -> Response:
        return await holder["connections"].hooks.s3_event(request)

    async def link(request: Request) -> Response:
        return await holder["connections"].links.open(request)

    async def rest(request: Request) -> Response:
        return await holder["connections"].rest.handle(request)

    async def readyz(request: Request) -> Response:
        services = await readiness(holder["connections"].channels, settings.ready_timeout_seconds)
        ready = all(status == "SERVING" for status in services.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "services": services}, 200 if ready else 503
        )

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(doc)

    async def docs(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": openapi.DOCS_CSP})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/hooks/s3/{node}", hook, methods=["POST"]),
        Route("/l/{token}", link, methods=["GET"]),
    ]
    # The REST side: one catch-all per first path segment of the templates (`/v1/...`); the matching
    # against the templates (404, 405) is RestRoutes'.
    for prefix in sorted(
        {"/" + op.binding.template.lstrip("/").split("/", 1)[0] for op in catalog.operations}
    ):
        routes.append(Route(prefix + "/{rest:path}", rest, methods=REST_METHODS))
    return routes


def build_app(settings: GatewaySettings) -> Starlette:
    """The app; its connections open when the server starts it (lifespan) and close when it stops."""
    holder: dict[str, Connections] = {}
    catalog = Catalog.discover(settings.proto_packages, settings.service_addresses)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["connections"] = await connect(settings, catalog)
        log.info("gateway listening on %s (%d REST operations)", settings.listen, len(catalog.operations))
        try:
            yield
        finally:
            await holder.pop("connections").close()

    middleware = [Middleware(EdgeHeaders)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=REST_METHODS,
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=600,
            )
        )
    return Starlette(
        routes=build_routes(settings, catalog, holder),
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
