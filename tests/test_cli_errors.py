"""cli/errors.py and the failure handling in cli/main.py: one line on stderr, the exit code from the table,
never a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grpc
import pytest

from cli import errors
from cli.errors import RpcFailure
from tests.cli_support import ROOT, FakeRpcError, run_cli

pytestmark = pytest.mark.unit
pytest_plugins = ["tests.cli_fixtures"]  # env, fake_auth


@pytest.mark.parametrize(
    ("code", "details", "line", "exit_code"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses",
            "cannot reach the server: is the server running?",
            errors.EXIT_UNAVAILABLE,
        ),
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "",
            "not logged in or key refused: run `wio login`",
            errors.EXIT_AUTH,
        ),
        (grpc.StatusCode.PERMISSION_DENIED, "admins only", "admins only", errors.EXIT_DENIED),
        (grpc.StatusCode.NOT_FOUND, "no user 'bob'", "no user 'bob'", errors.EXIT_NOT_FOUND),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad\nname", "bad name", errors.EXIT_INVALID),
        (grpc.StatusCode.ALREADY_EXISTS, "username taken", "username taken", errors.EXIT_CONFLICT),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", "timed out waiting for the server", errors.EXIT_TIMEOUT),
        (grpc.StatusCode.INTERNAL, "boom", "server error (INTERNAL) at the server: boom", errors.EXIT_ERROR),
    ],
)
def test_rpc_error_becomes_one_line_and_exit_code(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: grpc.StatusCode,
    details: str,
    line: str,
    exit_code: int,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise FakeRpcError(code, details)

    monkeypatch.setattr("cli.client.connect", failing)
    status, out, err = run_cli(monkeypatch, capsys, "whoami")
    assert (status, out, err) == (exit_code, "", f"error: {line}\n")


def test_rpc_failure_names_the_address() -> None:
    failure = RpcFailure(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "x"), "10.1.2.3:50151")
    assert failure.message == "cannot reach 10.1.2.3:50151: is the server running?"
    assert failure.exit_code == errors.EXIT_UNAVAILABLE
    assert failure.code == "UNAVAILABLE"


def test_unexpected_exception_has_no_traceback(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr("cli.client.connect", broken)
    status, out, err = run_cli(monkeypatch, capsys, "user", "ls")
    assert status == errors.EXIT_ERROR
    assert err == "error: unexpected error: RuntimeError: kaput (WIO_DEBUG=1 shows where)\n"
    assert "Traceback" not in out + err


def test_debug_shows_traceback(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr("cli.client.connect", broken)
    monkeypatch.setenv("WIO_DEBUG", "1")
    status, _, err = run_cli(monkeypatch, capsys, "user", "ls")
    assert status == errors.EXIT_ERROR
    assert "Traceback" in err
    assert err.endswith("error: unexpected error: RuntimeError: kaput (WIO_DEBUG=1 shows where)\n")


def test_interrupt_exits_130(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cli.client.connect", interrupted)
    status, _, err = run_cli(monkeypatch, capsys, "whoami")
    assert status == errors.EXIT_INTERRUPTED
    assert "Traceback" not in err


def test_not_logged_in(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(monkeypatch, capsys, "group", "ls")
    assert (status, out, err) == (errors.EXIT_AUTH, "", "error: not logged in: run `wio login ADDRESS`\n")


def test_bad_config_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.parent.mkdir(parents=True)
    env.write_text("[server\n")
    status, _, err = run_cli(monkeypatch, capsys, "whoami")
    assert status == errors.EXIT_CONFIG
    assert err.startswith(f"error: config {env} is not valid TOML")
    assert err.count("\n") == 1


def test_usage_error_exits_2(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "user", "create", "bob")
    assert status == errors.EXIT_USAGE
    assert "--email" in err
    assert "Traceback" not in err


def test_bad_expiry_is_refused_before_connecting(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "apikey", "create", "--expires", "soon")
    assert status == errors.EXIT_USAGE
    assert err.startswith("error: not a date, datetime or duration: 'soon'")


def test_destructive_command_needs_yes_without_terminal(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "group", "rm", "lab")
    assert status == errors.EXIT_USAGE
    assert "--yes" in err


def test_status_codes_cover_google_rpc_codes() -> None:
    # Every status maps to some line and a non-zero code (the fallback included).
    for status in grpc.StatusCode:
        if status is grpc.StatusCode.OK:
            continue
        line, exit_code = errors.describe_status(status.name, "detail", "h:1")
        assert line
        assert exit_code != 0


def test_every_status_has_an_exit_code_and_the_readme_shows_the_same_table() -> None:
    statuses = {status.name for status in grpc.StatusCode} - {"OK"}
    assert set(errors.EXIT_CODES) == statuses
    readme = (ROOT / "README.md").read_text()
    documented: dict[str, int] = {}
    for line in readme.split("## Errors", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            for status in re.findall(r"`([A-Z_]+)`", cells[1]):
                documented[status] = int(cells[0])
    assert documented == errors.EXIT_CODES


def test_error_reason_is_read_from_the_status_details_trailer() -> None:
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2

    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason="WORKSPACE_NOT_FOUND", domain="workspaces.wio"))
    status = status_pb2.Status(code=5, message="no workspace", details=[detail])
    failure = FakeRpcError(grpc.StatusCode.NOT_FOUND, "no workspace")
    failure.trailers = (("grpc-status-details-bin", status.SerializeToString()),)
    assert errors.error_reason(failure) == "WORKSPACE_NOT_FOUND"
    assert errors.error_reason(FakeRpcError(grpc.StatusCode.NOT_FOUND, "no workspace")) == ""
    failure.trailers = (("grpc-status-details-bin", b"\xff not a status"),)
    assert errors.error_reason(failure) == ""
