"""cli/commands/: arguments refused before anything is sent, and the commands that hand their arguments to
another program."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import errors, main
from tests.cli_support import Capture, run_cli

pytestmark = pytest.mark.unit
pytest_plugins = ["tests.cli_fixtures"]  # env, fake_auth


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("share", "ws", "bob", "--expires", "soon"), "not a date, datetime or duration: 'soon'"),
        (("share", "ws", "bob", "--expires", "2001-01-01"), "'2001-01-01' is not in the future"),
        (("share", "ws", "bob", "--expires", "0d"), "duration must be positive"),
        (("link", "ws/file", "--expires", "ten minutes"), "not a date, datetime or duration"),
        (("shares", "update", "s1"), "nothing to update"),
        (("shares", "update", "s1", "--expires", "1d", "--no-expiry"), "not both"),
        (("create", "x", "--public", "--type", "private"), "--public contradicts --type private"),
        (("create", "x", "--prefix", "p", "--type", "public"), "--prefix is for unmanaged"),
        (("workspace", "create", "x", "--type", "unmanaged"), "name its folder with --prefix"),
        (("exec", "ws"), "no command to run"),
        (("exec", "ws", "--"), "no command to run"),
        (("exec", "--", "true"), "name at least one workspace"),
        (("credentials",), "name at least one workspace"),
        (("credentials", "--format", "aws-process"), "name at least one workspace"),
    ],
)
def test_bad_arguments_are_usage_errors(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, args: tuple[str, ...], message: str
) -> None:
    # No config at all: reaching the network would fail differently ("not logged in").
    status, out, err = run_cli(monkeypatch, capsys, *args)
    assert (status, out) == (errors.EXIT_USAGE, "")
    assert err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1


def test_mc_missing_is_said_plainly(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    status, out, err = run_cli(monkeypatch, capsys, "mc", "ls", "ws/")
    assert (status, out) == (errors.EXIT_ERROR, "")
    assert err.startswith("error: mc is not installed (or not on PATH)")
    assert len(err.splitlines()) == 1


def test_exec_with_unknown_command_says_so(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "exec", "ws", "--", "no-such-command-for-wio", "-x")
    assert status == 127
    assert err == "error: command not found: no-such-command-for-wio\n"


@pytest.mark.parametrize("args", [("mc",), ("mc", "--help"), ("exec", "--help"), ("ws", "--help")])
def test_pass_through_commands_show_their_own_help(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, args: tuple[str, ...]
) -> None:
    status, out, _ = run_cli(monkeypatch, capsys, *args)
    assert status == 0
    assert out.startswith(f"Usage: wio {args[0]}")


def test_after_double_dash_keeps_the_command_untouched() -> None:
    from typer.main import get_command

    from cli.commands import PASSED_ON

    group = get_command(main.app)
    command = group.get_command(group.make_context("wio", ["exec"]), "exec")  # type: ignore[attr-defined]
    context = command.make_context("exec", ["a", "b", "--node", "n", "--", "ls", "--", "-l"])
    assert context.params["workspaces"] == ["a", "b"] and context.params["node"] == "n"
    assert context.meta[PASSED_ON] == ["ls", "--", "-l"]
