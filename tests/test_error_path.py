"""One error path: S3 and STS failures to domain reasons through one table, and a callee's gRPC error back
to a DomainError that keeps the callee's reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from services.common.clients import AuthClient
from services.common.errors import REASON_KIND, DomainError, Kind, Reason
from services.common.grpc_errors import (
    KIND_TO_CODE,
    STATUS_DETAILS_KEY,
    Trailers,
    callee_errors,
    error_reason,
    from_callee,
    status_for,
)
from services.common.interceptors import ErrorInterceptor
from services.common.s3 import (
    FAILURE_REASONS,
    MIN_CREDENTIAL_SECONDS,
    PROBE_POLICY,
    S3Endpoint,
    S3Failure,
    S3FailureKind,
    S3Gateway,
    check_node,
    classify,
)
from services.workspaces.domain.ports import NodeAccess
from services.workspaces.storage.s3 import S3ObjectStore
from tests.conftest import AuthUnderTest, free_port


def _client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Call")


# --- the S3 failure table (unit) -------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("exc", "sts", "kind", "reason", "code"),
    [
        (
            EndpointConnectionError(endpoint_url="http://x"),
            False,
            "unreachable",
            "NODE_UNREACHABLE",
            "UNAVAILABLE",
        ),
        (
            ConnectTimeoutError(endpoint_url="http://x"),
            True,
            "unreachable",
            "NODE_UNREACHABLE",
            "UNAVAILABLE",
        ),
        (
            ReadTimeoutError(endpoint_url="http://x"),
            False,
            "timed_out",
            "NODE_TIMED_OUT",
            "DEADLINE_EXCEEDED",
        ),
        (TimeoutError(), True, "timed_out", "NODE_TIMED_OUT", "DEADLINE_EXCEEDED"),
        (
            _client_error("InvalidAccessKeyId"),
            False,
            "credentials",
            "NODE_CREDENTIALS_REFUSED",
            "FAILED_PRECONDITION",
        ),
        (
            _client_error("AccessDenied"),
            False,
            "credentials",
            "NODE_CREDENTIALS_REFUSED",
            "FAILED_PRECONDITION",
        ),
        (
            _client_error("SignatureDoesNotMatch"),
            True,
            "credentials",
            "NODE_CREDENTIALS_REFUSED",
            "FAILED_PRECONDITION",
        ),
        # On STS, AccessDenied refuses the role or the policy, not the key.
        (
            _client_error("AccessDenied", "no role"),
            True,
            "sts_refused",
            "NODE_STS_FAILED",
            "FAILED_PRECONDITION",
        ),
        (
            _client_error("MalformedPolicyDocument"),
            True,
            "sts_refused",
            "NODE_STS_FAILED",
            "FAILED_PRECONDITION",
        ),
        (_client_error("NoSuchBucket"), False, "no_bucket", "BUCKET_NOT_FOUND", "FAILED_PRECONDITION"),
        (_client_error("404"), False, "not_found", "OBJECT_NOT_FOUND", "NOT_FOUND"),
        (_client_error("InternalError", "disk"), False, "refused", "NODE_REFUSED", "FAILED_PRECONDITION"),
        # The connection dropped mid-answer; a request boto3 refused to send never left this machine.
        (
            ConnectionClosedError(endpoint_url="http://x"),
            False,
            "unreachable",
            "NODE_UNREACHABLE",
            "UNAVAILABLE",
        ),
        (ParamValidationError(report="bad"), True, "refused", "NODE_REFUSED", "FAILED_PRECONDITION"),
    ],
)
def test_s3_failures_map_to_one_reason_each(
    exc: BaseException, sts: bool, kind: str, reason: str, code: str
) -> None:
    failure = classify(exc, "the call", sts)
    assert failure.kind == kind and failure.message.startswith("the call")
    error = failure.domain_error("storage node")
    assert error.reason == reason and error.message.startswith("storage node: the call")
    assert status_for(error, "test.wio")[0].name == code


@pytest.mark.unit
def test_every_s3_failure_kind_has_a_reason_and_timeouts_stay_timeouts() -> None:
    assert set(FAILURE_REASONS) == set(S3FailureKind)
    assert REASON_KIND[Reason.NODE_UNREACHABLE] is Kind.UNAVAILABLE
    assert KIND_TO_CODE[Kind.UNAVAILABLE] is grpc.StatusCode.UNAVAILABLE
    assert REASON_KIND[Reason.NODE_TIMED_OUT] is Kind.DEADLINE_EXCEEDED
    assert "timed out" in classify(TimeoutError(), "STS AssumeRole", sts=True).message
    assert not S3Failure(S3FailureKind.TIMED_OUT, "x").reachable
    assert S3Failure(S3FailureKind.STS_REFUSED, "x").reachable


# --- a callee's reason (unit table, real gRPC server) ----------------------------------------------


class _Callee:
    """A real grpc.aio server behind wio's ErrorInterceptor whose one method raises the error it is given."""

    def __init__(self) -> None:
        self.raise_next: Exception = DomainError(Reason.INTERNAL, "unset")
        self.address = f"127.0.0.1:{free_port()}"
        self.server = grpc.aio.server(interceptors=[ErrorInterceptor(domain="callee.wio")])

        async def fail(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            raise self.raise_next

        handler = grpc.unary_unary_rpc_method_handler(
            fail, request_deserializer=lambda b: b, response_serializer=lambda b: b
        )
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Callee", {"Fail": handler})]
        )
        self.server.add_insecure_port(self.address)


@pytest.fixture
async def callee() -> AsyncIterator[_Callee]:
    served = _Callee()
    await served.server.start()
    try:
        yield served
    finally:
        await served.server.stop(None)


async def _call(address: str, service: str = "callee") -> DomainError:
    async with grpc.aio.insecure_channel(address) as channel:
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/test.Callee/Fail")
        with pytest.raises(DomainError) as info, callee_errors(service):
            await method(b"", timeout=5)
    return info.value


@pytest.mark.unit
async def test_a_callee_reason_message_and_metadata_arrive_intact(callee: _Callee) -> None:
    callee.raise_next = DomainError(Reason.NODE_UNREACHABLE, "storage node: cannot connect", node="lab")
    error = await _call(callee.address)
    assert error.reason is Reason.NODE_UNREACHABLE and error.message == "storage node: cannot connect"
    assert error.metadata == {"node": "lab"}
    callee.raise_next = DomainError(Reason.USER_NOT_FOUND, "no active user 'bob'")
    error = await _call(callee.address)
    assert error.reason is Reason.USER_NOT_FOUND and error.message == "no active user 'bob'"


@pytest.mark.unit
async def test_a_refused_service_token_is_not_the_users_fault(callee: _Callee) -> None:
    for refusal in (Reason.TOKEN_EXPIRED, Reason.API_KEY_INVALID, Reason.SERVICE_CALLER_REQUIRED):
        callee.raise_next = DomainError(refusal, "refused")
        error = await _call(callee.address, "identity")
        assert error.reason is Reason.DEPENDENCY_UNAVAILABLE, refusal
        assert f"identity service refused this service's credential ({refusal.value})" in error.message


@pytest.mark.unit
async def test_an_unexpected_callee_failure_is_named(callee: _Callee) -> None:
    callee.raise_next = RuntimeError("boom")
    error = await _call(callee.address, "nodes")
    assert error.reason is Reason.INTERNAL and error.message.startswith(
        "the nodes service failed: internal error"
    )
    assert "boom" not in error.message


class _DriverError(Exception):
    """Stands for asyncpg's errors, which carry PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver refused: the statement's values ({sqlstate})")
        self.sqlstate = sqlstate


class _WrappedError(Exception):
    """Stands for SQLAlchemy's DBAPIError, which keeps the driver's error as `orig`."""

    def __init__(self, orig: Exception) -> None:
        super().__init__(str(orig))
        self.orig = orig


@pytest.mark.unit
async def test_database_refusals_are_the_callers_not_internal(callee: _Callee) -> None:
    for raised, reason, code in (
        (_WrappedError(_DriverError("22021")), Reason.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (_DriverError("22003"), Reason.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (_WrappedError(_DriverError("40P01")), Reason.CONCURRENT_CHANGE, grpc.StatusCode.ABORTED),
        (_WrappedError(_DriverError("40001")), Reason.CONCURRENT_CHANGE, grpc.StatusCode.ABORTED),
        (_WrappedError(_DriverError("23505")), Reason.INTERNAL, grpc.StatusCode.INTERNAL),
    ):
        callee.raise_next = raised
        async with grpc.aio.insecure_channel(callee.address) as channel:
            method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/test.Callee/Fail")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await method(b"", timeout=5)
        assert info.value.code() == code and error_reason(info.value) == reason.value
        assert "the statement's values" not in (info.value.details() or "")
    assert KIND_TO_CODE[REASON_KIND[Reason.CONCURRENT_CHANGE]] is grpc.StatusCode.ABORTED


@pytest.mark.unit
async def test_no_answer_is_dependency_unavailable() -> None:
    error = await _call(f"127.0.0.1:{free_port()}", "workspaces")
    assert error.reason is Reason.DEPENDENCY_UNAVAILABLE
    assert error.message == "the workspaces service did not answer (UNAVAILABLE)"
    assert error.metadata == {"service": "workspaces"}


class _Unknown:
    """A failure carrying a reason this service does not know (a newer callee)."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code
        _, _, trailers = status_for(DomainError(Reason.INVALID_ARGUMENT, "new"), "callee.wio")
        self._trailers: Trailers = tuple(
            (
                key,
                value.replace(b"INVALID_ARGUMENT", b"BRAND_NEW_REASON")
                if isinstance(value, bytes)
                else value,
            )
            for key, value in trailers
        )

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "something new"

    def trailing_metadata(self) -> Trailers:
        return self._trailers


@pytest.mark.unit
def test_an_unknown_callee_reason_keeps_its_kind() -> None:
    error = from_callee(cast(grpc.RpcError, _Unknown(grpc.StatusCode.INVALID_ARGUMENT)), "auth")
    assert error.reason is Reason.INVALID_ARGUMENT and error.metadata["callee_reason"] == "BRAND_NEW_REASON"
    assert (
        from_callee(cast(grpc.RpcError, _Unknown(grpc.StatusCode.ABORTED)), "auth").reason
        is Reason.DEPENDENCY_UNAVAILABLE
    )


@pytest.mark.unit
def test_a_message_quoting_a_huge_value_is_cut_to_fit_the_trailers() -> None:
    huge = "é" * 100_000
    error = DomainError(Reason.WORKSPACE_NOT_FOUND, f"no workspace {huge!r}", field=huge)
    code, message, trailers = status_for(error, "workspaces.wio")
    assert code is grpc.StatusCode.NOT_FOUND
    assert message.startswith("no workspace 'éé") and message.endswith("...")
    assert len(message.encode()) <= 1024
    details = dict(trailers)[STATUS_DETAILS_KEY]
    assert isinstance(details, bytes) and len(details) < 2048
    # A short message goes as it is.
    short = DomainError(Reason.WORKSPACE_NOT_FOUND, "no workspace 'x'")
    assert status_for(short, "workspaces.wio")[1] == "no workspace 'x'"


# --- against the real identity service and SeaweedFS (integration) ---------------------------------


@pytest.mark.integration
async def test_the_identity_services_reasons_reach_its_caller_intact(auth: AuthUnderTest) -> None:
    _account, key = await auth.identity.bootstrap_account(
        f"svc-e-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert key is not None
    async with grpc.aio.insecure_channel(auth.address) as channel:
        client = AuthClient(channel, key)
        with pytest.raises(DomainError) as empty:
            await client.lookup_user("  ")
        # Before, only INVALID_ARGUMENT arrived; now also the field auth named.
        assert empty.value.reason is Reason.INVALID_ARGUMENT and empty.value.metadata == {"field": "query"}
        assert empty.value.message == "give a username or an email"
        missing = f"nobody-{uuid.uuid4().hex[:6]}"
        with pytest.raises(DomainError) as unknown:
            await client.lookup_user(missing)
        assert (
            unknown.value.reason is Reason.USER_NOT_FOUND
            and unknown.value.message == f"no active user {missing!r}"
        )
        with pytest.raises(DomainError) as no_group:
            await client.get_group(f"none-{uuid.uuid4().hex[:6]}")
        assert no_group.value.reason is Reason.GROUP_NOT_FOUND

        wrong = AuthClient(channel, key + "x")
        with pytest.raises(DomainError) as refused:
            await wrong.lookup_user(missing)
        assert refused.value.reason is Reason.DEPENDENCY_UNAVAILABLE
        assert "API_KEY_INVALID" in refused.value.message


def _node(s3: Any, sts_endpoint: str = "", role_arn: str | None = None) -> NodeAccess:
    return NodeAccess(
        node_id="n",
        endpoint=s3.endpoint,
        region=s3.region,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        sts_endpoint=sts_endpoint,
        role_arn=s3.role_arn if role_arn is None else role_arn,
        max_credential_seconds=3600,
        policy_size_limit=2048,
        operator_id="op",
        admin_networks=True,  # the test node is on loopback, which only an admin's node may use
    )


@pytest.mark.integration
async def test_sts_failures_keep_their_kind(infra: Any, silent_port: int) -> None:
    gateway = S3Gateway(timeout_seconds=1.0)
    store = S3ObjectStore(gateway)
    policy = json.dumps(PROBE_POLICY)
    try:
        issued = await store.assume_role(_node(infra.s3), policy, MIN_CREDENTIAL_SECONDS, "wio-test")
        assert issued.session_token
        cases = [
            (
                _node(infra.s3, sts_endpoint=f"http://127.0.0.1:{silent_port}"),
                Reason.NODE_TIMED_OUT,
                "timed out",
            ),
            (
                _node(infra.s3, sts_endpoint=f"http://127.0.0.1:{free_port()}"),
                Reason.NODE_UNREACHABLE,
                "connect",
            ),
            (
                _node(infra.s3, role_arn="arn:aws:iam::000000000000:role/none"),
                Reason.NODE_STS_FAILED,
                "refused",
            ),
        ]
        for node, reason, words in cases:
            with pytest.raises(DomainError) as failed:
                await store.assume_role(node, policy, MIN_CREDENTIAL_SECONDS, "wio-test")
            assert failed.value.reason is reason, failed.value
            assert words in failed.value.message and "STS AssumeRole" in failed.value.message
        with pytest.raises(DomainError) as malformed:
            await store.assume_role(_node(infra.s3), "{not json", MIN_CREDENTIAL_SECONDS, "wio-test")
        assert malformed.value.reason is Reason.NODE_STS_FAILED

        # The node check reports the same kinds: S3 answered, STS did not.
        silent = S3Endpoint(
            infra.s3.endpoint,
            infra.s3.region,
            infra.s3.access_key,
            infra.s3.secret_key,
            sts_endpoint=f"http://127.0.0.1:{silent_port}",
            role_arn=infra.s3.role_arn,
        )
        check = await check_node(gateway, silent)
        assert check.reachable and check.credentials_ok and not check.sts_ok
        assert check.failure is not None and check.failure.reason is Reason.NODE_TIMED_OUT
    finally:
        gateway.close()
