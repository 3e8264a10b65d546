"""Every service starts through services.common.server.start_service, and a start-up that fails closes
what it had opened: database engines, the NATS connection, the outbox relay, channels and subscribers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData

from services.auth import server as auth_server
from services.auth.config import AuthSettings
from services.common import server
from services.common.config import CommonSettings, ConfigError
from services.common.server import Runtime, Service, start_service
from services.indexer import server as indexer_server
from services.indexer.config import IndexerSettings
from services.indexer.storage import tables as indexer_tables
from services.nodes import server as nodes_server
from services.nodes.config import NodesSettings
from services.workspaces import server as workspaces_server
from services.workspaces.config import WorkspacesSettings
from tests.conftest import AuthUnderTest, common_settings, free_port

pytestmark = pytest.mark.integration

# Plaintext gRPC to an address off loopback is refused while the service is being built.
OFF_LOOPBACK = "10.255.255.1:50051"


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> list[Runtime]:
    """Every runtime start_service makes from now on."""
    made: list[Runtime] = []
    real = server.start_runtime

    async def recording(settings: CommonSettings, metadata: MetaData, migrations: Path) -> Runtime:
        runtime = await real(settings, metadata, migrations)
        made.append(runtime)
        return runtime

    monkeypatch.setattr(server, "start_runtime", recording)
    return made


def _assert_closed(runtime: Runtime) -> None:
    assert runtime.nats.is_closed
    assert runtime.relay._task is None
    assert runtime.deny_feed._subs == []


def _starts(infra: Any, auth: AuthUnderTest) -> dict[str, Callable[[], Awaitable[Service[Any]]]]:
    """For each service, a start that fails only once its runtime is up."""
    listen = f"127.0.0.1:{free_port()}"

    def common(name: str, auth_address: str = auth.address, **overrides: Any) -> CommonSettings:
        return common_settings(name, infra, listen, auth_address, **overrides)

    return {
        # Its signing keys were sealed with the test run's secret key; another one cannot open them.
        "auth": lambda: auth_server.start(
            AuthSettings(common=common("auth", secret_key="another-secret-key-" + "x" * 20), directory={})
        ),
        "nodes": lambda: nodes_server.start(
            NodesSettings(
                common=common("nodes"),
                probe_interval_seconds=60.0,
                s3_timeout_seconds=3.0,
                degraded_latency_ms=2000.0,
                workspaces_address=OFF_LOOPBACK,
            )
        ),
        "workspaces": lambda: workspaces_server.start(
            WorkspacesSettings(
                common=common("workspaces"),
                nodes_address=OFF_LOOPBACK,
                credential_seconds=900,
                s3_timeout_seconds=3.0,
            )
        ),
        "indexer": lambda: indexer_server.start(
            IndexerSettings(
                common=common("indexer", auth_address=OFF_LOOPBACK), workspaces_address=OFF_LOOPBACK
            )
        ),
    }


@pytest.mark.parametrize("name", ["auth", "nodes", "workspaces", "indexer"])
async def test_a_failed_start_closes_the_runtime(
    name: str, infra: Any, auth: AuthUnderTest, runtimes: list[Runtime]
) -> None:
    with pytest.raises(ConfigError):
        await _starts(infra, auth)[name]()
    assert len(runtimes) == 1, "the failure came before the runtime was up"
    _assert_closed(runtimes[0])


async def test_a_subscriber_that_fails_to_start_is_closed_with_the_rest(
    infra: Any, auth: AuthUnderTest, runtimes: list[Runtime]
) -> None:
    stopped: list[str] = []

    @dataclasses.dataclass
    class Recorder:
        name: str
        fails: bool = False

        async def start(self) -> None:
            if self.fails:
                raise RuntimeError(f"{self.name} cannot start")

        async def stop(self) -> None:
            stopped.append(self.name)

    async def build(runtime: Runtime) -> Service[None]:
        async def closer() -> None:
            stopped.append("opened by build")

        runtime.closers.append(closer)
        subscribers = [Recorder("first"), Recorder("second", fails=True)]
        return Service(runtime, None, [], [], fetch_jwks=_no_keys, subscribers=subscribers)

    settings = common_settings("indexer", infra, f"127.0.0.1:{free_port()}", auth.address)
    with pytest.raises(RuntimeError, match="second cannot start"):
        await start_service(settings, indexer_tables.metadata, indexer_server.MIGRATIONS, build)
    # The started subscriber stops first, then what build opened; the failed one was never started.
    assert stopped == ["first", "opened by build"]
    _assert_closed(runtimes[0])


async def test_a_server_that_cannot_listen_closes_its_runtime(
    infra: Any, auth: AuthUnderTest, runtimes: list[Runtime]
) -> None:
    settings = common_settings("indexer", infra, OFF_LOOPBACK, auth.address)
    service = await indexer_server.start(IndexerSettings(common=settings, workspaces_address=OFF_LOOPBACK))
    with pytest.raises(ConfigError, match="refusing plaintext"):
        await server.serve(service, stop=asyncio.Event())
    _assert_closed(runtimes[0])


async def _no_keys() -> list[dict[str, str]]:
    return []
