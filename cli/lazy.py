"""Typer without its start-up costs: commands are loaded when named, and parameter values are converted
without pydantic.

typer 0.29 builds the click command of every registered command before it parses anything, and converts
each parameter value through a pydantic TypeAdapter built on first use (importing pydantic costs more
than the rest of a `wio` call). So:

- LazyGroup knows its subcommands by name, module and one-line help (for `wio --help`); it imports and
  builds only the one that is run.
- NativeGroup (every group of the CLI) gives every parameter of the types the CLI uses (str, int, bool,
  Enum choices and lists of them) a converter in plain Python, in typer's own RuntimeParam slot, before
  typer would build its adapter. A parameter of any other type, or with constraints (min, max, a
  parser), keeps typer's own path. Parameters get them when their command is about to parse, so only the
  command that runs pays.

This reaches into typer's private layer (typer._coercion, typer.core._TyperParameter), which is why typer
is pinned exactly; tests/test_cli_main.py fails when a typer change breaks it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from enum import Enum
from typing import Any, ClassVar, get_args, get_origin

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import BadParameter, UsageError
from typer._click.utils import make_default_short_help
from typer._coercion import RuntimeParam, TypeDescriptor
from typer._param_types import coerce_cli_choice
from typer.core import TyperCommand, TyperGroup, _TyperParameter

Converter = Callable[[Any, Context | None], Any]

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


# Parameter values --------------------------------------------------------------------------------------


def _to_str(value: Any, _ctx: Context | None) -> str:
    return value if isinstance(value, str) else str(value)


def _to_int(value: Any, _ctx: Context | None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number.") from None


def _to_bool(value: Any, _ctx: Context | None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false.")


def _choice(enum: type[Enum], case_sensitive: bool) -> Converter:
    choices = list(enum)

    def convert(value: Any, ctx: Context | None) -> Any:
        return coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)

    return convert


@dataclass(frozen=True)
class NativeParam(RuntimeParam):
    """A converter in plain Python for one parameter; `many` for a list (repeated option or arguments)."""

    convert: Converter
    many: bool

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        try:
            if self.many:
                items = value if isinstance(value, (list, tuple)) else [value]
                return [self.convert(item, ctx) for item in items]
            return self.convert(value, ctx)
        except ValueError as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None


def native_param(descriptor: TypeDescriptor) -> NativeParam | None:
    """A plain converter for the parameter, or None to leave it to typer."""
    info = descriptor.parameter_info
    if (
        descriptor.file_annotation is not None
        or info.parser is not None
        or info.min is not None
        or info.max is not None
        or info.clamp
    ):
        return None
    annotation: Any = descriptor.annotation
    many = False
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
        many = True
    convert: Converter | None = None
    if annotation is str:
        convert = _to_str
    elif annotation is bool:
        convert = _to_bool
    elif annotation is int:
        convert = _to_int
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        convert = _choice(annotation, info.case_sensitive)
    if convert is None:
        return None
    return NativeParam(parameter_info=info, annotation=descriptor.annotation, convert=convert, many=many)


def native_coercion(command: Command, ctx: Context) -> None:
    """Give `command`'s parameters, its help option included, plain converters. `ctx` is the command's
    own context or its parent's: the help option's names are the root's, inherited by every command."""
    for param in command.get_params(ctx):
        if isinstance(param, _TyperParameter) and param._runtime_param is None:
            param._runtime_param = native_param(param.type_descriptor)


class NativeGroup(TyperGroup):
    """A TyperGroup whose own parameters, and those of the subcommand it runs, get plain converters."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        native_coercion(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            native_coercion(command, ctx)
        return name, command, rest


# Commands ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A subcommand by address: `attribute` of `module` is a Typer app (a noun) or a command function.
    `help` is its line in the parent's help; tests check it against the command's own."""

    module: str
    attribute: str
    help: str
    command_class: type[TyperCommand] | None = None
    # The help of an alias (`ws`) replaces the app's own in `wio ws --help` too.
    replaces_help: bool = False

    def load(self, name: str) -> Command:
        target = getattr(importlib.import_module(self.module), self.attribute)
        command: Command
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)
            if self.replaces_help:
                command.help = self.help
        else:
            single = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
            single.command(name, cls=self.command_class)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


class LazyGroup(NativeGroup):
    """A TyperGroup whose subcommands are `entries`, each imported and built the first time it is named."""

    entries: ClassVar[Mapping[str, Entry]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return [*self.commands, *(name for name in self.entries if name not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        entry = self.entries.get(cmd_name)
        if cmd_name not in self.commands and entry is not None:
            self.commands[cmd_name] = entry.load(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # typer suggests only among the commands it has built; here that is every name.
            if args and "Did you mean" not in exc.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(match) for match in matches)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The subcommand list from the entries' help lines, without importing any of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = self.entries.get(name)
            if entry is not None and name not in self.commands:
                rows.append((name, make_default_short_help(entry.help, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
