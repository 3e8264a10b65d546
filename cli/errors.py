"""Errors the CLI reports as one line, and the exit code each kind of failure gets.

Imports nothing heavy: `wio --help` loads this module.
"""

from __future__ import annotations

from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2  # click's own code for bad arguments
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_DENIED = 5
EXIT_NOT_FOUND = 6
EXIT_CONFLICT = 7
EXIT_INVALID = 8
EXIT_UNAVAILABLE = 9
EXIT_TIMEOUT = 10
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure the user can act on; its message is shown as is (it never holds a secret)."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(CliError):
    exit_code = EXIT_CONFIG


class NotLoggedInError(CliError):
    exit_code = EXIT_AUTH


class RpcFailure(CliError):
    """A failed gRPC call, with the address it went to (a bare grpc.RpcError does not know it)."""

    def __init__(self, error: Any, address: str) -> None:
        self.error = error
        self.address = address
        self.code = status_name(error)
        self.details = status_details(error)
        self.reason = error_reason(error)
        message, exit_code = describe_status(self.code, self.details, address, bool(self.reason))
        super().__init__(message, exit_code)


def status_name(error: Any) -> str:
    """The status code's name (e.g. NOT_FOUND) of a grpc.RpcError, without importing grpc here."""
    try:
        code = error.code()
    except Exception:
        return "UNKNOWN"
    return str(getattr(code, "name", code))


def status_details(error: Any) -> str:
    try:
        details = error.details()
    except Exception:
        return ""
    # One line, whatever the server sent.
    return " ".join(str(details or "").split())


def error_reason(error: Any) -> str:
    """The google.rpc.ErrorInfo reason carried in the trailers, or "" when there is none."""
    try:
        from google.rpc import error_details_pb2
        from grpc_status import rpc_status

        status = rpc_status.from_call(error)
    except Exception:
        return ""
    if status is None:
        return ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


_SERVER_MESSAGE_CODES = {
    "PERMISSION_DENIED": EXIT_DENIED,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "ALREADY_EXISTS": EXIT_CONFLICT,
    "ABORTED": EXIT_CONFLICT,
    "FAILED_PRECONDITION": EXIT_CONFLICT,
    "INVALID_ARGUMENT": EXIT_INVALID,
    "OUT_OF_RANGE": EXIT_INVALID,
    "RESOURCE_EXHAUSTED": EXIT_ERROR,
}


def describe_status(code: str, details: str, address: str | None, answered: bool = False) -> tuple[str, int]:
    """The line to print and the exit code for a failed call with status `code`. `answered`: the
    server itself sent the error (it carries a reason), so its message says what is unavailable."""
    where = address or "the server"
    if code == "UNAVAILABLE" and answered and details:
        return details, EXIT_UNAVAILABLE
    if code == "UNAVAILABLE":
        return f"cannot reach {where}: is the server running?", EXIT_UNAVAILABLE
    if code == "UNAUTHENTICATED":
        message = "not logged in or key refused: run `wio login`"
        return (f"{message} ({details})" if details else message), EXIT_AUTH
    if code == "DEADLINE_EXCEEDED":
        return f"timed out waiting for {where}", EXIT_TIMEOUT
    if code == "CANCELLED":
        return "the call was cancelled", EXIT_ERROR
    if code in _SERVER_MESSAGE_CODES:
        return details or code.lower().replace("_", " "), _SERVER_MESSAGE_CODES[code]
    # INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS: the server's fault, not the user's.
    suffix = f": {details}" if details else ""
    return f"server error ({code}) at {where}{suffix}", EXIT_ERROR
