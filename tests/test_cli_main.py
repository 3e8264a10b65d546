"""cli/main.py and cli/lazy.py: what `wio` loads to start, and that it stays small."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer._click.utils import make_default_short_help
from typer.core import _TyperParameter
from typer.main import get_command

from cli import errors, main
from cli.lazy import NativeParam
from tests.cli_support import ROOT, Capture

pytestmark = pytest.mark.unit


def test_help_does_not_import_grpc() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['wio', '--help']\n"
        "from cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = ('grpc', 'google.protobuf', 'wio', 'tomli_w', 'rich', 'cli.client', 'cli.output')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in result.stdout
    assert result.stderr.strip() == "[]"


@pytest.mark.parametrize(
    "args", [["ws", "--help"], ["mc", "--help"], ["exec", "--help"], ["credentials", "-h"]]
)
def test_new_commands_help_does_not_import_grpc(args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['wio', *{args!r}]\n"
        "from cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = ('grpc', 'google.protobuf', 'wio', 'cli.client', 'cli.output', 'cli.s3env')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith(f"Usage: wio {args[0]}")
    assert result.stderr.strip() == "[]"


def run_in_process(args: list[str], show: str) -> subprocess.CompletedProcess[str]:
    """`wio ARGS` in a fresh interpreter, which then prints `show` (an expression) on stderr."""
    code = (
        "import sys\n"
        f"sys.argv = ['wio', *{args!r}]\n"
        "from cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print({show}, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env["WIO_CONFIG"] = "/nonexistent/wio/config.toml"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_help_lists_commands_without_importing_them() -> None:
    result = run_in_process(["--help"], "sorted(m for m in sys.modules if m.startswith('cli.commands.'))")
    assert "  whoami       Show who the configured API key belongs to." in result.stdout
    assert result.stderr.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["whoami", "--json"],
        ["ws", "ls", "--type", "private", "--name", "x"],
        ["node", "update", "n", "--max-credential-seconds", "60", "--region", "r"],
        ["credentials", "a", "b", "--format", "rclone"],
        ["root", "create", "n", "b", "--allow", "alice", "--allow", "group:lab", "--type", "public"],
        ["share", "ws", "bob", "-p", "own"],
    ],
)
def test_commands_parse_their_arguments_without_pydantic(args: list[str]) -> None:
    # Not logged in, so each stops right after parsing: pydantic would have loaded by then.
    result = run_in_process(args, "'pydantic' in sys.modules")
    assert result.stderr.splitlines()[-1] == "False", result.stderr
    assert "not logged in" in result.stderr


def test_bad_values_are_refused_by_the_plain_converters(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for args, message in [
        (["node", "update", "n", "--max-credential-seconds", "soon"], "'soon' is not a whole number."),
        (["credentials", "a", "-f", "yaml"], "'yaml' is not one of 'env', 'json', 'rclone', 'aws-process'."),
        (["ws", "ls", "--type", "shared"], "'shared' is not one of 'private', 'public', 'unmanaged'."),
    ]:
        monkeypatch.setattr(sys, "argv", ["wio", *args])
        with pytest.raises(SystemExit) as exit_info:
            main.run()
        assert exit_info.value.code == errors.EXIT_USAGE
        assert message in capsys.readouterr().err


def every_command(group: Any, ctx: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Each command below `group`, given its converters the way its group does before it parses."""
    for name in group.list_commands(ctx):
        _, command, _ = group.resolve_command(ctx, [name])
        sub_ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        yield f"{path} {name}".strip(), command, sub_ctx
        if hasattr(command, "commands"):
            yield from every_command(command, sub_ctx, f"{path} {name}")


def test_every_parameter_gets_a_plain_converter() -> None:
    root: Any = get_command(main.app)
    ctx = root.make_context("wio", [], resilient_parsing=True)
    seen = 0
    for path, command, command_ctx in every_command(root, ctx):
        for param in command.get_params(command_ctx):
            if isinstance(param, _TyperParameter):
                assert isinstance(param._runtime_param, NativeParam), f"wio {path} {param.name}"
                seen += 1
    assert seen > 100


def test_lazy_help_lines_are_the_commands_own() -> None:
    root: Any = get_command(main.app)
    ctx = root.make_context("wio", [], resilient_parsing=True)
    assert list(main.WioGroup.entries) == root.list_commands(ctx)
    for name, entry in main.WioGroup.entries.items():
        command = entry.load(name)
        for limit in (45, 60, 200):
            assert make_default_short_help(entry.help, limit) == command.get_short_help_str(limit), name


def test_a_typo_is_answered_with_the_nearest_commands(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["wio", "shars"])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    assert exit_info.value.code == errors.EXIT_USAGE
    assert "No such command 'shars'. Did you mean 'shares', 'share'?" in capsys.readouterr().err


def test_console_script_exits_with_the_status_and_flushed_output(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env["WIO_CONFIG"] = str(tmp_path / "config.toml")
    wio = str(Path(sys.executable).with_name("wio"))
    shown = subprocess.run([wio, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert (shown.returncode, shown.stdout.splitlines()[0]) == (0, "Usage: wio [OPTIONS] COMMAND [ARGS]...")
    refused = subprocess.run([wio, "whoami"], env=env, capture_output=True, text=True, timeout=60)
    assert (refused.returncode, refused.stderr) == (
        errors.EXIT_AUTH,
        "error: not logged in: run `wio login ADDRESS`\n",
    )


def test_exit_status_of_system_exit_codes(capsys: Capture) -> None:
    assert main.exit_status(None) == 0
    assert main.exit_status(7) == 7
    assert main.exit_status("bad") == errors.EXIT_ERROR
    assert capsys.readouterr().err == "bad\n"
