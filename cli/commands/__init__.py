"""One module per noun, each with its own Typer app.

A module loads when one of its commands runs (cli/main.py names them; `wio --help` loads none), and
imports only typer and cli.stubs at module level: grpc, the generated modules and cli.client/cli.output
are imported inside the command functions, so a usage error costs none of them. They also leave out
`from __future__ import annotations`, since Typer would then evaluate every annotation string.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from cli.lazy import NativeGroup


def noun_app(help_text: str) -> typer.Typer:
    # Plain help (no rich): loading rich would cost more than the whole start budget. NativeGroup keeps
    # pydantic out of parsing (cli/lazy.py).
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None, cls=NativeGroup)


# Where the untouched arguments of `wio exec` and `wio mc` wait for the command.
PASSED_ON = "wio.passed_on"


class AfterDoubleDash(TyperCommand):
    """Everything after the first `--` is another program's command line: it is kept aside untouched
    (ctx.meta[PASSED_ON], None when there was no `--`) and only what comes before is parsed."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[PASSED_ON] = args[at + 1 :]
            args = args[:at]
        else:
            ctx.meta[PASSED_ON] = None
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "-- COMMAND [ARG]..."]


class PassEverything(TyperCommand):
    """Every argument belongs to another program (flags included) and is kept in ctx.meta[PASSED_ON];
    only no arguments or a lone --help shows this command's own help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args in (["-h"], ["--help"]):
            return super().parse_args(ctx, ["--help"])
        ctx.meta[PASSED_ON] = list(args)
        return super().parse_args(ctx, [])

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["[ARG]..."]
