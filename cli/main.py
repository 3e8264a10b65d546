"""The `wio` command: the Typer app, and the one place failures become a line on stderr and an exit code.

Start time matters (`wio --help` should feel instant): this module imports typer and the small cli.lazy,
errors modules only; a command's module (and grpc, protobuf, the generated modules) loads when that command
runs (cli/lazy.py).
"""

from __future__ import annotations

import contextlib
import os
import sys

import typer

from cli.commands import AfterDoubleDash, PassEverything
from cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, CliError, describe_status, status_details, status_name
from cli.lazy import Entry, LazyGroup
from cli.text import shown

_COMMANDS = "cli.commands."


class WioGroup(LazyGroup):
    # In the order `wio --help` lists them. Each module is imported only when its command runs.
    entries = {
        "login": Entry(_COMMANDS + "auth", "login", "Log in to a server with an API key."),
        "whoami": Entry(_COMMANDS + "auth", "whoami", "Show who the configured API key belongs to."),
        # The seed's short forms.
        "create": Entry(_COMMANDS + "workspaces", "create_workspace", "Create a workspace you own."),
        "share": Entry(
            _COMMANDS + "shares", "share", "Share a workspace you own with a user or a group (group:NAME)."
        ),
        "credentials": Entry(
            _COMMANDS + "credentials",
            "credentials",
            "Print short-lived S3 credentials that allow exactly what you may do in the workspaces named.",
        ),
        "exec": Entry(
            _COMMANDS + "credentials",
            "exec_command",
            "Run a command with AWS_* variables holding credentials for the workspaces named.",
            command_class=AfterDoubleDash,
        ),
        "mc": Entry(
            _COMMANDS + "credentials",
            "mc",
            "Run the MinIO client with workspace references turned into its paths.",
            command_class=PassEverything,
        ),
        "link": Entry(
            _COMMANDS + "workspaces",
            "create_link",
            "Print a link that downloads one object, for anyone who has it, until it expires (default one"
            " hour, at most seven days) or is revoked (`wio links rm`).",
        ),
        "search": Entry(
            _COMMANDS + "search", "search", "Search the objects of every workspace you can read."
        ),
        "du": Entry(_COMMANDS + "search", "du", "Objects and bytes in the workspaces you can read."),
        # One sub-app per noun.
        "user": Entry(_COMMANDS + "users", "app", "Users: list, show, create and disable accounts."),
        "group": Entry(_COMMANDS + "groups", "app", "Groups: create them and manage their members."),
        "apikey": Entry(_COMMANDS + "apikeys", "app", "API keys: list, create and revoke your keys."),
        "node": Entry(
            _COMMANDS + "nodes",
            "app",
            "Storage nodes: register S3 endpoints, check them, change and remove them.",
        ),
        "root": Entry(
            _COMMANDS + "roots", "app", "Roots: the buckets and prefixes on a node where workspaces live."
        ),
        "workspace": Entry(
            _COMMANDS + "workspaces",
            "app",
            "Workspaces: list, create, show and remove them, and see why someone may use one.",
        ),
        "ws": Entry(_COMMANDS + "workspaces", "app", "Short for `wio workspace`.", replaces_help=True),
        "shares": Entry(
            _COMMANDS + "shares", "app", "Shares: list the ones you made or received, change and revoke them."
        ),
        "links": Entry(
            _COMMANDS + "links", "app", "Links: list the ones you made with `wio link` and revoke them."
        ),
        "index": Entry(
            _COMMANDS + "index",
            "app",
            "The search index: crawl a workspace (wio index WS) or a root (wio index --root ROOT), verify a"
            " root, show when each workspace was indexed.",
        ),
        "events": Entry(
            _COMMANDS + "events", "app", "Events: watch what the services announce, as it happens (admins)."
        ),
    }


app = typer.Typer(
    name="wio",
    cls=WioGroup,
    help="Manage who may see and change which folders of your S3 and MinIO data.",
    no_args_is_help=True,
    # Plain help and errors: rich would double the start time, and tracebacks are handled in run().
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Every command is a subcommand (WioGroup.entries)."""


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line shown for a failure, and the exit code."""
    if isinstance(exc, CliError):
        return exc.message, exc.exit_code
    grpc = sys.modules.get("grpc")  # an RpcError exists only if grpc was loaded
    if grpc is not None and isinstance(exc, grpc.RpcError):
        return describe_status(status_name(exc), status_details(exc), None)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", EXIT_ERROR
    return f"unexpected error: {type(exc).__name__}: {exc} (WIO_DEBUG=1 shows where)", EXIT_ERROR


def debug_enabled() -> bool:
    return os.environ.get("WIO_DEBUG", "") not in ("", "0")


def run() -> None:
    """Entry point: no traceback reaches the user unless WIO_DEBUG=1 asks for it."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        # Typer already turns one inside a command into exit 130; this covers the rest.
        sys.stderr.write("\ninterrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if debug_enabled():
            import traceback

            traceback.print_exc()
        message, code = describe(exc)
        sys.stderr.write(f"error: {shown(' '.join(message.split()))}\n")
        sys.exit(code)


def main() -> None:
    """The `wio` console script: run(), then end the process at once.

    Once a command is done, Python's orderly shutdown (tearing down the grpc and protobuf modules) costs
    about a fifth of a short command's time and does nothing the operating system would not: channels are
    closed and files written by then. So the streams are flushed and the process exits with run()'s
    status without it. In-process callers (tests) use run(), which raises SystemExit as usual.
    """
    try:
        run()
        status = 0
    except SystemExit as exc:
        status = exit_status(exc.code)
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`wio ... | head`): what could be written was.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def exit_status(code: object) -> int:
    """SystemExit's code as a process status: None is 0, a message is printed and gives 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return EXIT_ERROR
