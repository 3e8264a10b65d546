"""DomainError to a gRPC status with a google.rpc.ErrorInfo detail, and a callee's failed call back to a
DomainError: the only place that does either."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from services.common.channels import ANSWER_DETAILS_KEY, RETRY_PUSHBACK_KEY
from services.common.errors import REASON_KIND, RETRY_AFTER_KEY, DomainError, Kind, Reason

KIND_TO_CODE: dict[Kind, grpc.StatusCode] = {
    Kind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Kind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Kind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Kind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Kind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.ABORTED: grpc.StatusCode.ABORTED,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    Kind.INTERNAL: grpc.StatusCode.INTERNAL,
}

STATUS_DETAILS_KEY = ANSWER_DETAILS_KEY


Trailers = tuple[tuple[str, str | bytes], ...]

# A message quotes what the caller sent (a name, a reference); the status travels in trailing metadata,
# which clients refuse past 8-16 KiB in all. Cut to these many UTF-8 bytes, an answer about a huge value
# still arrives whole.
MAX_MESSAGE_BYTES = 1024
MAX_METADATA_VALUE_BYTES = 256


def _bounded(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def status_for(error: DomainError, domain: str) -> tuple[grpc.StatusCode, str, Trailers]:
    """The code, message and trailing metadata (google.rpc.Status) that carry `error`. The service has
    answered: the negative retry pushback tells clients' retry policies not to send the call again."""
    code = KIND_TO_CODE[error.kind]
    message = _bounded(error.message, MAX_MESSAGE_BYTES)
    metadata = {key: _bounded(value, MAX_METADATA_VALUE_BYTES) for key, value in error.metadata.items()}
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=domain, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    details = [detail]
    retry_after = error.metadata.get(RETRY_AFTER_KEY)
    if retry_after is not None:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry_after))))
        details.append(retry)
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return code, message, ((STATUS_DETAILS_KEY, status.SerializeToString()), (RETRY_PUSHBACK_KEY, "-1"))


def _details_of(error: grpc.RpcError) -> list[any_pb2.Any]:
    """The google.rpc.Status details a failed call carried: only a wio service that answered sends any."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    # grpc's stubs type each item as an object with key and value; at run time they are (key, value) pairs.
    pairs = cast("Iterable[tuple[str, str | bytes]]", trailers or ())
    for key, value in pairs:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return list(status_pb2.Status.FromString(value).details)
    return []


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo a failed call carried, if any."""
    for detail in _details_of(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def retry_delay(error: grpc.RpcError) -> float | None:
    """The google.rpc.RetryInfo delay a failed call carried, in seconds, if any."""
    for detail in _details_of(error):
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return float(retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9)
    return None


def error_reason(error: grpc.RpcError) -> str | None:
    """The ErrorInfo reason a failed call carried, if any (for clients and tests)."""
    info = error_info(error)
    return str(info.reason) if info is not None else None


# A callee's reason this service does not know (a newer callee) keeps at least the kind of its status.
UNKNOWN_REASON_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: Reason.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED: Reason.PERMISSION_DENIED,
}


# The callee refused this service itself (not its user): for the user, the dependency is unavailable.
CALLER_REFUSED = {Reason.SERVICE_CALLER_REQUIRED, Reason.SERVICE_NOT_ALLOWED}


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if hasattr(error, "code") else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def _details(error: grpc.RpcError) -> str:
    details = error.details() if hasattr(error, "details") else None
    return str(details or "")


def from_callee(error: grpc.RpcError, service: str) -> DomainError:
    """The DomainError for a failed call to another wio service, keeping the callee's reason.

    - The callee answered with a reason: that reason, its message and its metadata, unchanged, so a
      NODE_UNREACHABLE or USER_NOT_FOUND two hops away reaches the user as such.
    - The callee refused this service's own token: the user did nothing wrong, so it is reported as the
      dependency being unavailable, never as the user's UNAUTHENTICATED.
    - No reason (connection refused, deadline passed, not a wio service): DEPENDENCY_UNAVAILABLE.
    """
    code = _code(error)
    info = error_info(error)
    if info is None:
        silent = code in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
        what = "did not answer" if silent else "failed"
        return DomainError(
            Reason.DEPENDENCY_UNAVAILABLE, f"the {service} service {what} ({code.name})", service=service
        )
    metadata = dict(info.metadata)
    try:
        reason = Reason(info.reason)
    except ValueError:
        fallback = UNKNOWN_REASON_BY_CODE.get(code, Reason.DEPENDENCY_UNAVAILABLE)
        metadata.setdefault("callee_reason", info.reason)
        return DomainError(fallback, f"the {service} service answered: {_details(error)}", **metadata)
    if REASON_KIND[reason] is Kind.UNAUTHENTICATED or reason in CALLER_REFUSED:
        return DomainError(
            Reason.DEPENDENCY_UNAVAILABLE,
            f"the {service} service refused this service's credential ({reason.value})",
            service=service,
        )
    if reason is Reason.INTERNAL:
        return DomainError(reason, f"the {service} service failed: {_details(error)}", **metadata)
    return DomainError(reason, _details(error), **metadata)


@contextlib.contextmanager
def callee_errors(service: str) -> Iterator[None]:
    """`with callee_errors("nodes"): await stub.Call(...)` raises from_callee's DomainError on failure."""
    try:
        yield
    except grpc.RpcError as error:
        raise from_callee(error, service) from error
