"""Service bootstrap shared by every wio service: database, NATS, outbox relay, token verification,
interceptors, health and reflection, and a graceful stop on SIGTERM/SIGINT.

Every service starts the same way: its server.py declares a `build(runtime) -> Service` (storage,
clients, use cases, servicers, subscribers), and start_service(...) then serve(...) run it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import events
from services.common.clients import AuthClient
from services.common.config import CommonSettings
from services.common.db import SessionFactory, make_engine, make_read_engine, make_session_factory, migrate
from services.common.deny_feed import DenyListFeed
from services.common.interceptors import AuthInterceptor, ErrorInterceptor, RequestIdInterceptor
from services.common.jobs import Handler, JobRunner, OutcomeT
from services.common.outbox import Outbox, OutboxRelay
from services.common.streams import owned_by
from services.common.tokens import DenyList, JwksFetcher, TokenVerifier

log = logging.getLogger(__name__)

AppT = TypeVar("AppT")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Connection URLs may carry passwords; these loggers never need to print them.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


@dataclass
class Runtime:
    """What a service's composition root builds once and passes to its parts."""

    settings: CommonSettings
    engine: AsyncEngine
    sessions: SessionFactory
    read_engine: AsyncEngine
    # Single statements outside transactions (reads, and job claims and settles): see make_read_engine.
    read_sessions: SessionFactory
    nats: NatsClient
    js: JetStreamContext
    outbox: Outbox
    relay: OutboxRelay
    deny_list: DenyList
    deny_feed: DenyListFeed
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Stops everything in reverse order of start. Each step gets a bounded time: a process that is
        stopping must end even when a connection or a library call does not answer."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            *((f"closer {i}", close) for i, close in enumerate(reversed(self.closers))),
            ("outbox relay", self.relay.stop),
            ("deny list feed", self.deny_feed.stop),
            ("NATS drain", self.nats.drain),
        ]
        for name, step in steps:
            await _bounded(name, step)
        if not self.nats.is_closed:
            await _bounded("NATS close", self.nats.close)
        await _bounded("database", self.engine.dispose)
        await _bounded("read database", self.read_engine.dispose)


CLOSE_STEP_SECONDS = 10.0


async def _bounded(name: str, step: Callable[[], Awaitable[None]]) -> None:
    """Runs one stop step as its own task and leaves it behind after CLOSE_STEP_SECONDS; unlike a timeout
    around an await, this holds even when the step swallows its cancellation."""
    task = asyncio.ensure_future(step())
    done, _ = await asyncio.wait([task], timeout=CLOSE_STEP_SECONDS)
    if not done:
        task.cancel()
        log.warning("stopping: %s did not end within %.0f s; going on without it", name, CLOSE_STEP_SECONDS)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("stopping: %s failed: %s", name, type(task.exception()).__name__)


async def start_runtime(settings: CommonSettings, metadata: MetaData, migrations_dir: Path) -> Runtime:
    """Database (migrated), NATS, the outbox relay and the deny-list feed. If a step fails, what the
    steps before it opened is closed again before the error goes on."""
    opened: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    try:
        engine = make_engine(settings.database_url)
        opened.append(("database", engine.dispose))
        await migrate(engine, settings.schema, migrations_dir, metadata, {"secret_key": settings.secret_key})
        sessions = make_session_factory(engine)
        read_engine = make_read_engine(settings.database_url)
        opened.append(("read database", read_engine.dispose))
        nc = await events.connect(
            settings.nats_url, settings.service, settings.nats_user, settings.nats_password
        )
        opened.append(("NATS", nc.close))
        js = nc.jetstream()
        # Its own streams only (streams.OWNERS; the indexer's include WIO_INGEST): the others are their
        # services' to create.
        for domain in owned_by(settings.service):
            await events.ensure_stream(js, domain)
        outbox_table = metadata.tables[f"{settings.schema}.outbox"]
        outbox = Outbox(outbox_table)
        relay = OutboxRelay(
            sessions,
            outbox,
            events.JetStreamPublisher(js),
            poll_seconds=settings.relay_poll_seconds,
            engine=engine,
        )
        deny_list = DenyList()
        deny_feed = DenyListFeed(js, deny_list, settings.token_ttl_seconds, settings.stream_wait_seconds)
        await deny_feed.start()
        opened.append(("deny list feed", deny_feed.stop))
        relay.start()
    except BaseException:
        for name, close in reversed(opened):
            await _bounded(name, close)
        raise
    return Runtime(
        settings,
        engine,
        sessions,
        read_engine,
        make_session_factory(read_engine),
        nc,
        js,
        outbox,
        relay,
        deny_list,
        deny_feed,
    )


Registrar = Callable[[grpc.aio.Server], None]


class Subscriber(Protocol):
    """Anything a service runs beside its RPCs: event consumers, background probes."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Service(Generic[AppT]):
    """One service as its composition root declares it: what it serves, what it runs beside, and its
    use cases (`app`, for tools and tests). Made by start_service, run by serve."""

    runtime: Runtime
    app: AppT
    servicers: Sequence[Registrar]
    service_names: Collection[str]
    fetch_jwks: JwksFetcher
    subscribers: Sequence[Subscriber] = ()
    public_methods: Collection[str] = ()


Build = Callable[[Runtime], Awaitable[Service[AppT]]]


async def start_service(
    settings: CommonSettings, metadata: MetaData, migrations_dir: Path, build: Build[AppT]
) -> Service[AppT]:
    """The one start-up every service goes through: its runtime (database, NATS, outbox, deny list),
    then `build` (storage, clients, use cases, servicers; whatever it opens it adds to
    runtime.closers at once), then its subscribers. If any of it fails, everything opened so far is
    closed before the error goes on, so a failed start leaves no connection or task behind."""
    runtime = await start_runtime(settings, metadata, migrations_dir)
    try:
        service = await build(runtime)
        for subscriber in service.subscribers:
            await subscriber.start()
            runtime.closers.append(subscriber.stop)
    except BaseException:
        await runtime.close()
        raise
    return service


async def serve(
    service: Service[Any], ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    """Serve a started service until SIGTERM/SIGINT (or `stop` is set), then stop gracefully and close
    all it opened; also when the server cannot start (e.g. it may not listen on its address)."""
    from services.common.tls import add_server_port

    runtime = service.runtime
    settings = runtime.settings
    verifier = TokenVerifier(service.fetch_jwks, runtime.deny_list)
    server = grpc.aio.server(
        interceptors=[
            RequestIdInterceptor(),
            ErrorInterceptor(domain=f"{settings.service}.wio"),
            AuthInterceptor(verifier, service.public_methods),
        ]
    )
    for add in service.servicers:
        add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    # Embedded use (tests) passes its own stop event and keeps its signal handlers.
    handle_signals = stop is None
    stop_event = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    started = False
    try:
        add_server_port(server, settings.listen, settings.tls)
        await server.start()
        started = True
        for name in ("", *service.service_names):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s listening on %s", settings.service, settings.listen)
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop_event.set)
        if ready is not None:
            ready.set()
        await stop_event.wait()
    finally:
        log.info("%s stopping", settings.service)
        if started:
            await health_servicer.enter_graceful_shutdown()
            await server.stop(settings.shutdown_grace_seconds)
        await runtime.close()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def job_runner(
    runtime: Runtime, table: Table, handlers: Mapping[str, Handler[OutcomeT]]
) -> JobRunner[OutcomeT]:
    """The service's job worker over its jobs table; list it among the service's subscribers so that it
    starts after the rest of the service and stops before it."""
    settings = runtime.settings
    return JobRunner(
        runtime.sessions,
        table,
        handlers,
        # Claims and settles are single statements: the autocommit sessions spare each a transaction.
        statements=runtime.read_sessions,
        poll_seconds=settings.job_poll_seconds,
        lease_seconds=settings.job_lease_seconds,
        max_backoff_seconds=settings.job_max_backoff_seconds,
    )


def auth_client(runtime: Runtime) -> AuthClient:
    """This service's client of the identity service (its token and auth's public keys); the channel is
    closed with the runtime."""
    from services.common.tls import client_channel

    settings = runtime.settings
    channel = client_channel(settings.auth_address, settings.tls)
    runtime.closers.append(channel.close)
    return AuthClient(channel, settings.service_api_key)
