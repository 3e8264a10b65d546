"""Every public RPC, given a value no rule expects (in a string field: a NUL, which PostgreSQL text cannot
hold, other control characters, a very long string; in a Timestamp: no time at all), answers with a clear
client error and never INTERNAL: the rules refuse what they know, and a value the database itself refuses
is still the caller's mistake (services/common/interceptors.py). Every refusal arrives whole, with its
ErrorInfo, even when its message quotes a huge value (services/common/grpc_errors.py bounds it)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.common.grpc_errors import error_reason
from tests import test_indexer_search
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.test_indexer_search import IndexerUnderTest
from wio.auth.v1 import auth_pb2
from wio.indexer.v1 import indexer_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2

pytestmark = pytest.mark.integration

BAD_VALUES = ("a\x00b", "tab\there\x7f", "x" * 300_000)
SERVICES: tuple[ServiceDescriptor, ...] = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    nodes_pb2.DESCRIPTOR.services_by_name["NodesService"],
    workspaces_pb2.DESCRIPTOR.services_by_name["WorkspacesService"],
    indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"],
)
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


# The indexer on a free port, as the search tests start it.
indexer = test_indexer_search.indexer


# Timestamps the wire carries but no time is: past year 9999, before year 1, nanoseconds out of range.
BAD_TIMES = ((10**15, 0), (-(2**63), 0), (0, -5), (0, 2 * 10**9))


def _request(method: MethodDescriptor, field: FieldDescriptor, value: str) -> Any:
    request = GetMessageClass(method.input_type)()
    if field.is_repeated:
        getattr(request, field.name).append(value)
    else:
        setattr(request, field.name, value)
    return request


def _timed_request(method: MethodDescriptor, field: FieldDescriptor, seconds: int, nanos: int) -> Any:
    request = GetMessageClass(method.input_type)()
    stamp = getattr(request, field.name)
    stamp.seconds, stamp.nanos = seconds, nanos
    return request


def _bad_requests(method: MethodDescriptor) -> list[tuple[str, Any]]:
    """Each top-level string field with each bad value, each Timestamp field with each bad time."""
    found: list[tuple[str, Any]] = []
    for field in method.input_type.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            found += [(f"{field.name}={v[:12]!r}", _request(method, field, v)) for v in BAD_VALUES]
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type.full_name == "google.protobuf.Timestamp"
            and not field.is_repeated
        ):
            found += [(f"{field.name}={t}", _timed_request(method, field, *t)) for t in BAD_TIMES]
    return found


async def _call(
    channel: grpc.aio.Channel, service: ServiceDescriptor, method: MethodDescriptor, request: Any, md: Any
) -> tuple[grpc.StatusCode, str | None]:
    """The answer's code, and the ErrorInfo reason it carried (None: no service's own answer)."""
    path = f"/{service.full_name}/{method.name}"
    serialize, parse = type(request).SerializeToString, GetMessageClass(method.output_type).FromString
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, request_serializer=serialize, response_deserializer=parse)
            async for _item in stream(request, metadata=md, timeout=20):
                pass
        else:
            unary = channel.unary_unary(path, request_serializer=serialize, response_deserializer=parse)
            await unary(request, metadata=md, timeout=20)
    except grpc.aio.AioRpcError as error:
        return error.code(), error_reason(error)
    return grpc.StatusCode.OK, None


async def test_no_string_field_of_any_public_rpc_gets_a_server_error(
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
) -> None:
    # As an admin: the most RPCs go past their permission checks to the rules and the queries.
    md = await auth.as_key(auth.admin_key)
    addresses = {
        "AuthService": auth.address,
        "NodesService": nodes.address,
        "WorkspacesService": workspaces.address,
        "IndexerService": indexer.address,
    }
    faults: list[str] = []
    calls = 0
    for service in SERVICES:
        async with grpc.aio.insecure_channel(addresses[service.name]) as channel:
            for method in service.methods:
                for label, request in _bad_requests(method):
                    code, reason = await _call(channel, service, method, request, md)
                    calls += 1
                    if code in SERVER_FAULTS or (code != grpc.StatusCode.OK and reason is None):
                        faults.append(f"{method.name}.{label}: {code.name} {reason}")
    assert calls > 200  # every service's methods were reached
    assert faults == []


async def test_a_failed_statements_error_does_not_list_its_values(workspaces: WorkspacesUnderTest) -> None:
    """SQLAlchemy appends a failed statement's values to its error (and so to a log of it) unless told not
    to: every engine of the services is. (The database's own message may still quote a value it refused.)"""
    runtime = workspaces.runtime
    for engine in (runtime.engine, runtime.read_engine):
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failed:
                await connection.execute(
                    text("SELECT CAST(:value AS text), 1 / 0"), {"value": "sealed-xyz-0042"}
                )
        assert "division by zero" in str(failed.value)
        assert "sealed-xyz-0042" not in str(failed.value)


async def test_lists_in_a_request_are_bounded(
    auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    """Each listed value costs a look-up: past 100 the request is refused before any is made."""
    md = await auth.as_key(auth.admin_key)
    too_many = [f"w{i}" for i in range(101)]
    for call in (
        workspaces.stub.IssueCredentials(
            workspaces_pb2.IssueCredentialsRequest(workspaces=too_many), metadata=md
        ),
        workspaces.stub.IssueCredentials(
            workspaces_pb2.IssueCredentialsRequest(workspaces=["data"] * 100_000), metadata=md
        ),
        nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(
                node="any", bucket="any-bucket", type=nodes_pb2.ROOT_TYPE_PRIVATE, allowed_creators=too_many
            ),
            metadata=md,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert "at most 100 values" in (refused.value.details() or "")


async def test_free_text_others_read_holds_no_control_characters(auth: AuthUnderTest) -> None:
    """A group's description (shown to everyone), a display name, a key's name: one line of text."""
    md = await auth.as_key(auth.admin_key)
    for call, field in (
        (
            auth.stub.CreateGroup(
                auth_pb2.CreateGroupRequest(name="spoof", description="hi\n fake"), metadata=md
            ),
            "description",
        ),
        (
            auth.stub.CreateUser(
                auth_pb2.CreateUserRequest(username="spoof", email="s@example.org", display_name="a\x1b[2J"),
                metadata=md,
            ),
            "display_name",
        ),
        (auth.stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="k\rfake"), metadata=md), "name"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"{field} holds a control character" in (refused.value.details() or "")


async def test_bytes_that_are_no_message_are_invalid_argument(
    auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer: IndexerUnderTest
) -> None:
    """What only a broken client sends (bytes that do not parse, a string that is not UTF-8) is the
    caller's INVALID_ARGUMENT with its ErrorInfo, from a unary RPC and a server stream alike."""
    md = await auth.as_key(auth.admin_key)
    not_protobuf, not_utf8 = b"\xff\xff\xff\xff", b"\x0a\x01\xff"
    for address, path, server_streaming in (
        (workspaces.address, "/wio.workspaces.v1.WorkspacesService/GetWorkspace", False),
        (indexer.address, "/wio.indexer.v1.IndexerService/IndexWorkspace", True),
    ):
        async with grpc.aio.insecure_channel(address) as channel:
            for raw in (not_protobuf, not_utf8):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    if server_streaming:
                        stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(path)
                        async for _item in stream(raw, metadata=md, timeout=20):
                            pass
                    else:
                        unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(path)
                        await unary(raw, metadata=md, timeout=20)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
                assert error_reason(refused.value) == "INVALID_ARGUMENT"
