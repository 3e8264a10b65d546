"""The gateway's error answers: grpc-gateway's body, `{code, message, details}`, with the gRPC code
number that matches the HTTP status. Never a traceback, never a secret."""

from __future__ import annotations

from starlette.responses import JSONResponse

# gRPC status numbers (google.rpc.Code).
INVALID_ARGUMENT = 3
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16


class Unavailable(Exception):
    """A service or NATS the request needs did not answer in time (503). The message is for the log."""


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": []}, status, headers=headers)


def unavailable() -> JSONResponse:
    return error(503, UNAVAILABLE, "a service the gateway needs is not available; try again later")
