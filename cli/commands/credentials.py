"""`wio credentials`, `wio exec` and `wio mc`: short-lived S3 credentials scoped to the workspaces named,
printed for other tools, or handed straight to a command."""

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cli import stubs
from cli.commands import PASSED_ON

if TYPE_CHECKING:
    from wio.workspaces.v1 import workspaces_pb2


class Format(StrEnum):
    env = "env"
    json = "json"
    rclone = "rclone"
    aws_process = "aws-process"


Workspaces = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="WORKSPACE",
        help="Workspaces (NAME or OWNER/NAME) the credentials cover.",
        show_default=False,
    ),
]
NodeOption = Annotated[
    str,
    typer.Option(
        "--node",
        metavar="NODE",
        help="Cover every workspace you can use on this node (name or id).",
        show_default=False,
    ),
]


def issue(workspaces: list[str], node: str) -> "list[workspaces_pb2.CredentialSet]":
    """The credential sets for `workspaces` and/or everything on `node`, one or more per node."""
    from cli.client import connect
    from wio.workspaces.v1 import workspaces_pb2

    request = workspaces_pb2.IssueCredentialsRequest(workspaces=workspaces, node=node)
    with connect() as client:
        return list(stubs.workspaces(client).IssueCredentials(request).sets)


def _require_scope(workspaces: list[str], node: str) -> None:
    from cli.errors import EXIT_USAGE, CliError

    if not workspaces and not node:
        raise CliError("name at least one workspace, or a node with --node", EXIT_USAGE)


def credentials(
    workspaces: Workspaces = None,
    node: NodeOption = "",
    output: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="env: shell exports; json: every set; rclone: a config section; "
            "aws-process: for credential_process in an AWS profile.",
        ),
    ] = Format.env,
) -> None:
    """Print short-lived S3 credentials that allow exactly what you may do in the workspaces named.

    Every format but json holds one credential set; a request that needs several (workspaces on
    several nodes, or more than a node's session-policy size limit fits) is refused for them.

    For an AWS profile that renews itself, put this in ~/.aws/config:

    \b
        [profile lab]
        credential_process = wio credentials alice/data --format aws-process
        endpoint_url = http://storage.example.org:9000
    """
    from cli.output import print_json
    from cli.s3env import aws_process_text, env_text, only_set, rclone_text

    _require_scope(workspaces or [], node)
    sets = issue(workspaces or [], node)
    if output is Format.json:
        from wio.workspaces.v1 import workspaces_pb2

        print_json(workspaces_pb2.IssueCredentialsResponse(sets=sets))
        return
    render = {Format.env: env_text, Format.rclone: rclone_text, Format.aws_process: aws_process_text}[output]
    typer.echo(render(only_set(sets, f"--format {output.value}")))


def exec_command(
    ctx: typer.Context,
    workspaces: Workspaces = None,
    node: NodeOption = "",
) -> None:
    """Run a command with AWS_* variables holding credentials for the workspaces named.

    \b
        wio exec alice/data -- aws s3 ls s3://bucket/ws/alice/data/

    Everything after -- is the command, run as given; wio exits with its exit code. The variables
    hold one credential set, so a request that needs several is refused.
    """
    import os
    import shutil
    import sys

    from cli.errors import EXIT_COMMAND_NOT_FOUND, EXIT_USAGE, CliError
    from cli.s3env import exec_environment, only_set

    command = ctx.meta.get(PASSED_ON)
    if not command:
        raise CliError(
            "no command to run: put it after --, e.g. `wio exec WORKSPACE -- aws s3 ls`", EXIT_USAGE
        )
    _require_scope(workspaces or [], node)
    program = shutil.which(command[0])
    if program is None:
        raise CliError(f"command not found: {command[0]}", EXIT_COMMAND_NOT_FOUND)
    cred = only_set(issue(workspaces or [], node), "`wio exec`")
    env = exec_environment(cred, os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replacing this process hands the command our terminal, signals and exit status as they are.
    os.execve(program, command, env)  # noqa: S606 - the user's own command, as they typed it


def mc(ctx: typer.Context) -> None:
    """Run the MinIO client with workspace references turned into its paths.

    \b
        wio mc ls alice/data/
        wio mc cp results.csv data/2024/

    An argument after mc's subcommand that names a workspace you can see (NAME, NAME/PATH, OWNER/NAME
    or OWNER/NAME/PATH) becomes ALIAS/BUCKET/PREFIX/PATH, and mc gets credentials for all of them in
    MC_HOST_ALIAS variables (aliases wio-NODE). Flags, and local paths that exist, stay as they are;
    write ./NAME for a local path that does not exist yet but shares a workspace's name.
    """
    import os
    import shutil
    import sys

    from cli.client import connect
    from cli.errors import CliError, RpcFailure
    from cli.s3env import mc_aliases, mc_candidates, mc_host, mc_path, set_for_workspace
    from wio.workspaces.v1 import workspaces_pb2

    args: list[str] = list(ctx.meta.get(PASSED_ON) or [])
    program = shutil.which("mc")
    if program is None:
        raise CliError(
            "mc is not installed (or not on PATH): get the MinIO client from "
            "https://min.io/docs/minio/linux/reference/minio-mc.html"
        )
    env = dict(os.environ)
    with connect() as client:
        workspaces = stubs.workspaces(client)
        found: dict[int, workspaces_pb2.GetWorkspaceResponse] = {}
        for index in mc_candidates(args):
            try:
                found[index] = workspaces.GetWorkspace(
                    workspaces_pb2.GetWorkspaceRequest(workspace=args[index])
                )
            except RpcFailure as exc:
                # Not a workspace the caller can see: an argument for mc as it is.
                if exc.code == "NOT_FOUND" or (
                    exc.code == "INVALID_ARGUMENT" and exc.reason != "WORKSPACE_AMBIGUOUS"
                ):
                    continue
                raise
        if found:
            refs = list(
                dict.fromkeys(f"{r.workspace.owner_username}/{r.workspace.name}" for r in found.values())
            )
            request = workspaces_pb2.IssueCredentialsRequest(workspaces=refs)
            sets = list(workspaces.IssueCredentials(request).sets)
            aliases = mc_aliases(sets)
            for alias, cred in zip(aliases, sets, strict=True):
                env[f"MC_HOST_{alias}"] = mc_host(cred)
            for index, resolved in found.items():
                ws = resolved.workspace
                at = set_for_workspace(sets, f"{ws.owner_username}/{ws.name}")
                if at is None:
                    raise CliError(
                        f"the server issued no credentials covering {ws.owner_username}/{ws.name}/"
                    )
                args[index] = mc_path(aliases[at], ws.bucket, ws.prefix, resolved.path, args[index])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, ["mc", *args], env)  # noqa: S606 - mc with the user's arguments
