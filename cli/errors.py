"""Errors the CLI reports as one line, and the exit code each kind of failure gets.

Imports nothing heavy: `wio --help` loads this module.
"""

from __future__ import annotations

from typing import Any

# The exit codes, one table (README.md, Errors, shows it too). Failures the CLI finds itself:
EXIT_ERROR = 1  # anything else, including the server's own faults
EXIT_USAGE = 2  # bad arguments (click's own code); checked before anything is sent
EXIT_CONFIG = 3  # the config file or a WIO_* variable is wrong
EXIT_AUTH = 4  # not logged in, or the key or token was refused
EXIT_DENIED = 5
EXIT_NOT_FOUND = 6
EXIT_CONFLICT = 7
EXIT_INVALID = 8
EXIT_UNAVAILABLE = 9
EXIT_TIMEOUT = 10
EXIT_COMMAND_NOT_FOUND = 127  # `wio exec`: the command to run does not exist, as a shell says
EXIT_INTERRUPTED = 130  # Ctrl-C

# A failed call's gRPC status -> the exit code. Every status is named, so none falls through by accident.
EXIT_CODES: dict[str, int] = {
    "CANCELLED": EXIT_ERROR,
    "UNKNOWN": EXIT_ERROR,
    "INVALID_ARGUMENT": EXIT_INVALID,
    "DEADLINE_EXCEEDED": EXIT_TIMEOUT,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "ALREADY_EXISTS": EXIT_CONFLICT,
    "PERMISSION_DENIED": EXIT_DENIED,
    "RESOURCE_EXHAUSTED": EXIT_ERROR,
    "FAILED_PRECONDITION": EXIT_CONFLICT,
    "ABORTED": EXIT_CONFLICT,
    "OUT_OF_RANGE": EXIT_INVALID,
    "UNIMPLEMENTED": EXIT_ERROR,
    "INTERNAL": EXIT_ERROR,
    "UNAVAILABLE": EXIT_UNAVAILABLE,
    "DATA_LOSS": EXIT_ERROR,
    "UNAUTHENTICATED": EXIT_AUTH,
}


def exit_code_for(status: str) -> int:
    return EXIT_CODES.get(status, EXIT_ERROR)


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


STATUS_DETAILS_KEY = "grpc-status-details-bin"


def error_reason(error: Any) -> str:
    """The google.rpc.ErrorInfo reason carried in the trailers, or "" when there is none.

    Read from the status-details trailer with googleapis-common-protos alone: grpcio-status is a server
    package, and the CLI installs without it."""
    try:
        trailers = error.trailing_metadata() or ()
        raw = next((value for key, value in trailers if key == STATUS_DETAILS_KEY), None)
        if raw is None:
            return ""
        from google.rpc import error_details_pb2, status_pb2

        status = status_pb2.Status.FromString(raw)
    except Exception:
        return ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


# Statuses whose server message is the whole story (e.g. "workspace alice/data not found").
_SERVER_MESSAGES = frozenset(
    {"PERMISSION_DENIED", "NOT_FOUND", "ALREADY_EXISTS", "ABORTED", "FAILED_PRECONDITION"}
    | {"INVALID_ARGUMENT", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED"}
)


def describe_status(code: str, details: str, address: str | None, answered: bool = False) -> tuple[str, int]:
    """The line to print and the exit code (EXIT_CODES) for a failed call with status `code`.
    `answered`: the server itself sent the error (it carries a reason), so its message says what is
    unavailable."""
    where = address or "the server"
    exit_code = exit_code_for(code)
    if code == "UNAVAILABLE" and answered and details:
        return details, exit_code
    if code == "UNAVAILABLE":
        return f"cannot reach {where}: is the server running?", exit_code
    if code == "UNAUTHENTICATED":
        message = "not logged in or key refused: run `wio login`"
        return (f"{message} ({details})" if details else message), exit_code
    if code == "DEADLINE_EXCEEDED":
        return f"timed out waiting for {where}", exit_code
    if code == "CANCELLED":
        return "the call was cancelled", exit_code
    if code in _SERVER_MESSAGES:
        return details or code.lower().replace("_", " "), exit_code
    # INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS: the server's fault, not the user's.
    suffix = f": {details}" if details else ""
    return f"server error ({code}) at {where}{suffix}", exit_code
