"""`wio share` and `wio shares ...`: grants of read, readwrite or own on a workspace to a user or a group."""

from typing import Annotated

import typer

from cli import stubs
from cli.commands import noun_app
from cli.commands.workspaces import (
    ExpiresOption,
    JsonOption,
    Permission,
    WorkspaceRef,
    permission_value,
)

app = noun_app("Shares: list the ones you made or received, change and revoke them.")

ShareId = Annotated[
    str, typer.Argument(metavar="SHARE_ID", help="The share's id (see `wio shares ls`).", show_default=False)
]


def share(
    workspace: WorkspaceRef,
    sharee: Annotated[
        str, typer.Argument(metavar="SHAREE", help="A username, or group:NAME.", show_default=False)
    ],
    permission: Annotated[
        Permission, typer.Option("--permission", "-p", help="What they may do.")
    ] = Permission.read,
    expires: ExpiresOption = None,
    as_json: JsonOption = False,
) -> None:
    """Share a workspace you own with a user or a group (group:NAME)."""
    from cli.client import connect
    from cli.output import print_json, share_line
    from cli.parsing import parse_when
    from wio.workspaces.v1 import workspaces_pb2

    request = workspaces_pb2.CreateShareRequest(
        workspace=workspace, sharee=sharee, permission=permission_value(permission)
    )
    if expires is not None:
        # Parsed before connecting, so a typo costs no round trip.
        request.expires_at.FromDatetime(parse_when(expires))
    with connect() as client:
        created = stubs.workspaces(client).CreateShare(request).share
    if as_json:
        print_json(created)
    else:
        typer.echo(share_line(created))


@app.command("ls")
def list_shares(
    workspace: Annotated[
        str | None,
        typer.Argument(metavar="WORKSPACE", help="Only shares of this workspace.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List shares you made or manage, then those made to you or your groups."""
    from cli.client import all_pages, connect
    from cli.output import print_json, share_line
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        reply = all_pages(
            stubs.workspaces(client).ListShares, workspaces_pb2.ListSharesRequest(workspace=workspace or "")
        )
    if as_json:
        print_json(reply)
        return
    # A share can be in both lists (an owner in a group the workspace is shared with): shown once.
    shown: set[str] = set()
    for item in [*reply.made, *reply.with_me]:
        if item.id not in shown:
            shown.add(item.id)
            typer.echo(share_line(item))


@app.command("update")
def update_share(
    share_id: ShareId,
    permission: Annotated[
        Permission | None, typer.Option("--permission", "-p", help="The new permission.", show_default=False)
    ] = None,
    expires: ExpiresOption = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Make it last until revoked.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Change a share's permission or expiry; only the options given change."""
    from google.protobuf.field_mask_pb2 import FieldMask

    from cli.client import connect
    from cli.errors import EXIT_USAGE, CliError
    from cli.output import print_json, share_line
    from cli.parsing import parse_when
    from wio.workspaces.v1 import workspaces_pb2

    if expires is not None and no_expiry:
        raise CliError("give --expires or --no-expiry, not both", EXIT_USAGE)
    request = workspaces_pb2.UpdateShareRequest(id=share_id)
    paths = []
    if permission is not None:
        request.permission = permission_value(permission)
        paths.append("permission")
    if expires is not None:
        request.expires_at.FromDatetime(parse_when(expires))
        paths.append("expires_at")
    if no_expiry:
        # expires_at in the mask but unset: the share no longer expires.
        paths.append("expires_at")
    if not paths:
        raise CliError("nothing to update: give --permission, --expires or --no-expiry", EXIT_USAGE)
    request.update_mask.CopyFrom(FieldMask(paths=paths))
    with connect() as client:
        updated = stubs.workspaces(client).UpdateShare(request).share
    if as_json:
        print_json(updated)
    else:
        typer.echo(share_line(updated))


@app.command("rm")
def revoke_share(share_id: ShareId) -> None:
    """Revoke a share: no new credentials carry it from now on."""
    from cli.client import connect
    from cli.output import note
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        stubs.workspaces(client).RevokeShare(workspaces_pb2.RevokeShareRequest(id=share_id))
    typer.echo(f"revoked share {share_id}")
    # S3 cannot take back temporary credentials; they run out on their own.
    note("credentials issued before stay valid until they expire")
