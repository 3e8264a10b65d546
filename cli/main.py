"""The `wio` command: the Typer app, and the one place failures become a line on stderr and an exit code.

Start time matters (`wio --help` should feel instant), so nothing imported here at module level may load
grpc, protobuf or the generated modules; commands import them when they run.
"""

from __future__ import annotations

import os
import sys

import typer

from cli.commands import (
    AfterDoubleDash,
    PassEverything,
    apikeys,
    auth,
    credentials,
    groups,
    nodes,
    roots,
    shares,
    users,
    workspaces,
)
from cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, CliError, describe_status, status_details, status_name

app = typer.Typer(
    name="wio",
    help="Manage who may see and change which folders of your S3 and MinIO data.",
    no_args_is_help=True,
    # Plain help and errors: rich would double the start time, and tracebacks are handled in run().
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("login")(auth.login)
app.command("whoami")(auth.whoami)
app.add_typer(users.app, name="user")
app.add_typer(groups.app, name="group")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(nodes.app, name="node")
app.add_typer(roots.app, name="root")
app.add_typer(workspaces.app, name="workspace")
app.add_typer(workspaces.app, name="ws", help="Short for `wio workspace`.")
app.add_typer(shares.app, name="shares")
# The seed's short forms.
app.command("create")(workspaces.create_workspace)
app.command("share")(shares.share)
app.command("credentials")(credentials.credentials)
app.command("exec", cls=AfterDoubleDash)(credentials.exec_command)
app.command("mc", cls=PassEverything)(credentials.mc)
app.command("link")(workspaces.create_link)


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
        sys.stderr.write(f"error: {' '.join(message.split())}\n")
        sys.exit(code)
