"""cli/main.py and cli/lazy.py: what `wio` loads to start, and that it stays small."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli_support import ROOT

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
