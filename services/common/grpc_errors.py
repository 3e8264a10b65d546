"""Maps DomainError to a gRPC status with a google.rpc.ErrorInfo detail: the only place that does."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from services.common.errors import DomainError, Kind

KIND_TO_CODE: dict[Kind, grpc.StatusCode] = {
    Kind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Kind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Kind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Kind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Kind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    Kind.INTERNAL: grpc.StatusCode.INTERNAL,
}

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def status_for(error: DomainError, domain: str) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The code, message and trailing metadata (google.rpc.Status) that carry `error`."""
    code = KIND_TO_CODE[error.kind]
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=domain, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[detail])
    return code, error.message, ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def error_reason(error: grpc.aio.AioRpcError) -> str | None:
    """The ErrorInfo reason a failed call carried, if any (for clients and tests)."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return None
