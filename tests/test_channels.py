"""Channels to several replicas of a service (services/common/channels.py): calls are spread over them,
and when one replica dies the calls that are safe to repeat are retried on another, so none fails.

The replicas are real identity services in their own processes (so one can be killed outright) on the
test run's PostgreSQL and NATS. Each answers GetServiceDirectory with its own name, which tells the test
which replica served a call.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.auth.config import parse_directory
from services.common.channels import (
    AFTER_ANSWER_ATTEMPTS,
    RETRYABLE_METHODS,
    AddressError,
    RepeatCutOffAioCalls,
    RepeatCutOffCalls,
    _CallDetails,
    open_aio_channel,
    open_channel,
    service_config,
    target,
)
from services.common.config import ConfigError, TlsSettings
from services.common.errors import DomainError, Reason
from services.common.interceptors import ErrorInterceptor
from services.common.tls import client_channel
from tests.conftest import AuthUnderTest, free_port
from tests.service_process import ServiceProcess, service_env
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

# Addresses and the service config -------------------------------------------------------------------


@pytest.mark.unit
def test_one_address_is_used_as_given_and_several_become_one_target() -> None:
    assert target("localhost:50151") == "localhost:50151"
    assert target("dns:///wio.example.org:443") == "dns:///wio.example.org:443"
    assert target(" 127.0.0.1:1, 127.0.0.2:2 ") == "ipv4:127.0.0.1:1,127.0.0.2:2"
    assert target("[::1]:1,[::1]:2") == "ipv6:[::1]:1,[::1]:2"
    for bad in ("", " , ", "a.example:1,b.example:2", "127.0.0.1:1,[::1]:2"):
        with pytest.raises(AddressError):
            target(bad)


@pytest.mark.unit
def test_retries_cover_reads_and_idempotent_calls_and_never_creates() -> None:
    config = service_config()
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method_config,) = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    named = {(name["service"], name["method"]) for name in method_config["name"]}
    assert ("wio.auth.v1.AuthService", "WhoAmI") in named
    assert ("wio.workspaces.v1.WorkspacesService", "IssueCredentials") in named
    methods = [method for listed in RETRYABLE_METHODS.values() for method in listed]
    writes = [m for m in methods if m.startswith(("Create", "Register", "Delete", "Revoke", "Add"))]
    # CreateLink stores a link record now, so a repeat would make a second one.
    assert writes == []
    # Every name is a real method of a real service, so a typo cannot silently drop a retry.
    from wio.auth.v1 import auth_pb2 as auth_descriptors
    from wio.nodes.v1 import nodes_pb2
    from wio.workspaces.v1 import workspaces_pb2

    services = {
        service.full_name: service
        for module in (auth_descriptors, nodes_pb2, workspaces_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
    }
    for service_name, listed in RETRYABLE_METHODS.items():
        assert set(listed) <= set(services[service_name].methods_by_name), service_name


class Outcome:
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ()


class AioOutcome:
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    async def code(self) -> grpc.StatusCode:
        return self._code

    async def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ()


def continuation(codes: list[grpc.StatusCode], seen: list[Any]) -> Any:
    def call(details: Any, request: Any) -> Outcome:
        seen.append(details.timeout)
        return Outcome(codes.pop(0))

    return call


@pytest.mark.unit
def test_a_safe_call_cut_off_is_made_again_within_its_deadline() -> None:
    interceptor = RepeatCutOffCalls()
    details = _CallDetails("/wio.auth.v1.AuthService/WhoAmI", 5.0, (), None, None, None)
    seen: list[Any] = []
    codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK]
    outcome = interceptor.intercept_unary_unary(continuation(codes, seen), details, object())
    assert outcome.code() == grpc.StatusCode.OK
    assert seen[0] == 5.0 and 4.0 < seen[1] < 5.0
    # At most AFTER_ANSWER_ATTEMPTS calls; then the failure is the caller's.
    seen.clear()
    codes = [grpc.StatusCode.UNAVAILABLE] * AFTER_ANSWER_ATTEMPTS
    outcome = interceptor.intercept_unary_unary(continuation(codes, seen), details, object())
    assert outcome.code() == grpc.StatusCode.UNAVAILABLE and len(seen) == AFTER_ANSWER_ATTEMPTS
    # Another status, or a call that is not safe to repeat, is made once.
    for method, code in [
        ("/wio.auth.v1.AuthService/WhoAmI", grpc.StatusCode.NOT_FOUND),
        ("/wio.auth.v1.AuthService/CreateUser", grpc.StatusCode.UNAVAILABLE),
    ]:
        seen.clear()
        once = details._replace(method=method)
        outcome = interceptor.intercept_unary_unary(continuation([code], seen), once, object())
        assert outcome.code() == code and len(seen) == 1


@pytest.mark.unit
async def test_an_asyncio_safe_call_cut_off_is_made_again() -> None:
    seen: list[str] = []
    codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE]

    async def call(details: Any, request: Any) -> AioOutcome:
        seen.append(details.method)
        return AioOutcome(codes.pop(0))

    interceptor = RepeatCutOffAioCalls()
    safe = grpc.aio.ClientCallDetails("/wio.nodes.v1.NodesService/ListNodes", None, None, None, None)
    assert await (await interceptor.intercept_unary_unary(call, safe, object())).code() == grpc.StatusCode.OK
    unsafe = grpc.aio.ClientCallDetails("/wio.nodes.v1.NodesService/RegisterNode", None, None, None, None)
    result = await interceptor.intercept_unary_unary(call, unsafe, object())
    assert await result.code() == grpc.StatusCode.UNAVAILABLE
    assert len(seen) == 3


class _Unavailable:
    """A real server whose IssueCredentials (a call safe to repeat) answers UNAVAILABLE: as the service
    itself (a DomainError through wio's ErrorInterceptor, e.g. a storage node that is down), or bare, as
    a server going away would; it counts the attempts that reach it."""

    def __init__(self, as_service: bool) -> None:
        self.attempts = 0
        self.address = f"127.0.0.1:{free_port()}"
        self.server = grpc.aio.server(interceptors=[ErrorInterceptor(domain="workspaces.wio")])

        async def answer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            self.attempts += 1
            if as_service:
                raise DomainError(Reason.NODE_UNREACHABLE, "the node did not answer")
            await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")

        handler = grpc.unary_unary_rpc_method_handler(
            answer, request_deserializer=lambda b: b, response_serializer=lambda b: b
        )
        service = grpc.method_handlers_generic_handler(
            "wio.workspaces.v1.WorkspacesService", {"IssueCredentials": handler}
        )
        self.server.add_generic_rpc_handlers([service])
        self.server.add_insecure_port(self.address)


@pytest.mark.parametrize("as_service", [True, False], ids=["service-answer", "bare"])
async def test_an_unavailable_answered_by_the_service_itself_is_not_repeated(as_service: bool) -> None:
    """A node that is down makes the workspaces service answer UNAVAILABLE after its node timeout;
    repeating that call would only multiply the wait. A bare UNAVAILABLE is still retried."""
    served = _Unavailable(as_service)
    await served.server.start()
    path = "/wio.workspaces.v1.WorkspacesService/IssueCredentials"
    try:
        async with open_aio_channel(served.address) as channel:
            method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await method(b"", timeout=10)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        aio_attempts, served.attempts = served.attempts, 0
        blocking = open_channel(served.address)
        try:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = blocking.unary_unary(path)
            # In a thread of its own: a blocking call on the event loop's thread would stop the server.
            with pytest.raises(grpc.RpcError):
                await asyncio.to_thread(call, b"", timeout=10)
        finally:
            blocking.close()
        blocking_attempts = served.attempts
    finally:
        await served.server.stop(None)
    if as_service:
        assert (aio_attempts, blocking_attempts) == (1, 1)
    else:
        assert aio_attempts > 1 and blocking_attempts > 1


@pytest.mark.unit
def test_service_channels_refuse_plaintext_unless_every_replica_is_loopback() -> None:
    with pytest.raises(ConfigError):
        client_channel("127.0.0.1:1,10.0.0.5:1", TlsSettings())
    with pytest.raises(ConfigError):
        client_channel("a.example:1,b.example:2", TlsSettings(ca_file="/nonexistent"))


@pytest.mark.unit
def test_directory_entries_may_name_several_replicas() -> None:
    assert parse_directory("nodes=127.0.0.1:1,127.0.0.1:2, workspaces=127.0.0.1:3") == {
        "nodes": "127.0.0.1:1,127.0.0.1:2",
        "workspaces": "127.0.0.1:3",
    }
    with pytest.raises(ConfigError):
        parse_directory("127.0.0.1:1,nodes=127.0.0.1:2")


# Two replicas -------------------------------------------------------------------------------------------


class Replica(ServiceProcess):
    """`python -m services.auth` on a free port, answering its own `name` in its service directory."""

    def __init__(self, name: str, infra: Any, auth: AuthUnderTest, logs: Path) -> None:
        self.name = name
        address = f"127.0.0.1:{free_port()}"
        env = service_env(
            infra,
            "auth",
            {
                "WIO_AUTH_ADDRESS": auth.address,
                "WIO_AUTH_LISTEN": address,
                "WIO_AUTH_DIRECTORY": f"replica={name}",
            },
        )
        super().__init__("auth", address, env, logs / f"{name}.log")

    async def ready(self) -> None:
        async def answers(channel: grpc.aio.Channel) -> None:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            await stub.GetServiceDirectory(auth_pb2.GetServiceDirectoryRequest(), timeout=2)

        await self.wait_ready(answers)


@pytest.fixture
def replicas(infra: Any, auth: AuthUnderTest, tmp_path: Path) -> Iterator[list[Replica]]:
    started = [Replica(name, infra, auth, tmp_path) for name in ("one", "two")]
    try:
        yield started
    finally:
        for replica in started:
            replica.kill()


async def served_by(stub: Any) -> str:
    reply = await stub.GetServiceDirectory(auth_pb2.GetServiceDirectoryRequest(), timeout=10)
    return str({endpoint.name: endpoint.address for endpoint in reply.services}["replica"])


@pytest.mark.integration
async def test_calls_spread_over_replicas_and_survive_one_killed(
    replicas: list[Replica], auth: AuthUnderTest, tmp_path: Path
) -> None:
    one, two = replicas
    await asyncio.gather(one.ready(), two.ready())
    async with open_aio_channel(f"{one.address},{two.address}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        await channel.channel_ready()

        spread = Counter([await served_by(stub) for _ in range(60)])
        assert spread["one"] >= 15 and spread["two"] >= 15, spread

        # Four clients call without pause while replica two is killed: calls in flight on it, and those
        # sent before the channel notices, fail with UNAVAILABLE and are retried on replica one.
        served: list[tuple[float, str]] = []
        failures: list[BaseException] = []
        running = True

        async def client() -> None:
            while running:
                try:
                    served.append((time.monotonic(), await served_by(stub)))
                except grpc.aio.AioRpcError as exc:
                    failures.append(exc)

        clients = [asyncio.create_task(client()) for _ in range(4)]
        await asyncio.sleep(0.5)
        killed_at = time.monotonic()
        await asyncio.to_thread(two.kill)
        await asyncio.sleep(1.5)
        running = False
        await asyncio.gather(*clients)

    assert not failures, [str(exc) for exc in failures[:3]]
    before = Counter(name for at, name in served if at < killed_at)
    after = [name for at, name in served if at > killed_at + 0.5]
    assert before["one"] and before["two"], before
    assert after and set(after) == {"one"}

    # The CLI's channel is the same one: `wio whoami` with both addresses works with one replica dead.
    config = tmp_path / "cli" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        f'[server]\naddress = "{one.address},{two.address}"\n[auth]\napi_key = "{auth.admin_key}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env["WIO_CONFIG"] = str(config)
    result = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("wio")), "whoami", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["role"] == "ROLE_ADMIN"
