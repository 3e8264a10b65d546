"""`wio workspace ...` (alias `wio ws`), `wio create` and `wio link`: workspaces, the folders whose
permissions wio manages, and links to their objects."""

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cli import stubs
from cli.commands import noun_app

if TYPE_CHECKING:
    from wio.workspaces.v1 import workspaces_pb2

app = noun_app("Workspaces: list, create, show and remove them, and see why someone may use one.")


class WorkspaceType(StrEnum):
    private = "private"
    public = "public"
    unmanaged = "unmanaged"


class Permission(StrEnum):
    read = "read"
    readwrite = "readwrite"
    own = "own"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
WorkspaceRef = Annotated[
    str,
    typer.Argument(
        metavar="WORKSPACE", help="NAME or OWNER/NAME (add /PATH for a path inside).", show_default=False
    ),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires",
        metavar="WHEN",
        help="A duration (30m, 12h, 7d) or an ISO date/datetime (UTC unless it names its offset).",
        show_default=False,
    ),
]


def type_value(kind: WorkspaceType | None) -> "workspaces_pb2.WorkspaceType.ValueType":
    from wio.workspaces.v1 import workspaces_pb2

    if kind is None:
        return workspaces_pb2.WORKSPACE_TYPE_UNSPECIFIED
    return workspaces_pb2.WorkspaceType.Value(f"WORKSPACE_TYPE_{kind.value.upper()}")


def permission_value(permission: Permission) -> "workspaces_pb2.Permission.ValueType":
    from wio.workspaces.v1 import workspaces_pb2

    return workspaces_pb2.Permission.Value(f"PERMISSION_{permission.value.upper()}")


@app.command("ls")
def list_workspaces(
    owner: Annotated[
        str,
        typer.Option("--owner", metavar="USER", help="Only workspaces of this owner.", show_default=False),
    ] = "",
    node: Annotated[
        str,
        typer.Option(
            "--node", metavar="NODE", help="Only workspaces on this node (name or id).", show_default=False
        ),
    ] = "",
    kind: Annotated[
        WorkspaceType | None, typer.Option("--type", help="Only workspaces of this type.", show_default=False)
    ] = None,
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="TEXT", help="Only workspaces whose name contains TEXT.", show_default=False
        ),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """List the workspaces you can see: yours, those shared with you or your groups, and public ones."""
    from cli.client import all_pages, connect
    from cli.output import print_json, print_lines, workspace_line
    from wio.workspaces.v1 import workspaces_pb2

    request = workspaces_pb2.ListWorkspacesRequest(
        owner=owner, node=node, type=type_value(kind), name_contains=name
    )
    with connect() as client:
        reply = all_pages(stubs.workspaces(client).ListWorkspaces, request)
    if as_json:
        print_json(list(reply.workspaces))
    else:
        print_lines(workspace_line(workspace) for workspace in reply.workspaces)


def create_workspace(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The new workspace's name.", show_default=False)
    ],
    public: Annotated[bool, typer.Option("--public", help="Everyone logged in may read it.")] = False,
    kind: Annotated[
        WorkspaceType | None,
        typer.Option(
            "--type",
            help="private (default), public, or unmanaged (maps existing data; give --prefix).",
            show_default=False,
        ),
    ] = None,
    node: Annotated[
        str,
        typer.Option(
            "--node", metavar="NODE", help="Create it on this node (name or id).", show_default=False
        ),
    ] = "",
    root: Annotated[
        str, typer.Option("--root", metavar="ROOT_ID", help="Create it in this root.", show_default=False)
    ] = "",
    prefix: Annotated[
        str,
        typer.Option(
            "--prefix",
            metavar="PREFIX",
            help="Unmanaged only: the existing folder (inside the root) it maps.",
            show_default=False,
        ),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a workspace you own.

    Private and public workspaces get a new folder OWNER/NAME/ in a root of their type; an unmanaged
    one maps an existing folder of an unmanaged root (only the node's operator may do that).
    """
    from cli.client import connect
    from cli.errors import EXIT_USAGE, CliError
    from cli.output import enum_label, print_json, workspace_ref
    from wio.workspaces.v1 import workspaces_pb2

    # Settled before connecting: contradictions are the user's to fix, not the server's.
    if public and kind is not None and kind is not WorkspaceType.public:
        raise CliError(f"--public contradicts --type {kind.value}", EXIT_USAGE)
    if public:
        kind = WorkspaceType.public
    if prefix and kind is None:
        kind = WorkspaceType.unmanaged
    if prefix and kind is not WorkspaceType.unmanaged:
        raise CliError("--prefix is for unmanaged workspaces (existing data) only", EXIT_USAGE)
    if kind is WorkspaceType.unmanaged and not prefix.strip("/ "):
        raise CliError("an unmanaged workspace maps existing data: name its folder with --prefix", EXIT_USAGE)

    request = workspaces_pb2.CreateWorkspaceRequest(
        name=name, type=type_value(kind), node=node, root=root, prefix=prefix
    )
    with connect() as client:
        created = stubs.workspaces(client).CreateWorkspace(request)
    workspace = created.workspace
    if as_json:
        print_json(workspace)
        return
    typer.echo(
        f"created workspace {workspace_ref(workspace)} ({enum_label(workspace, 'type')}) "
        f"on {workspace.node_name}: {workspace.bucket}/{workspace.prefix}"
    )
    if created.marker_pending:
        typer.echo(
            f"marker pending: {workspace.node_name} did not answer, so the empty folder shows in S3 tools "
            "once it does; the workspace is usable now"
        )


app.command("create")(create_workspace)


@app.command("show")
def show_workspace(workspace: WorkspaceRef, as_json: JsonOption = False) -> None:
    """Show a workspace: where it lives, your permission and why, and its shares if you manage them."""
    from cli.client import all_pages, connect
    from cli.output import print_json, workspace_details
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        workspaces = stubs.workspaces(client)
        reply = workspaces.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace=workspace))
        if as_json:
            print_json(reply)
            return
        found = reply.workspace
        ref = f"{found.owner_username}/{found.name}"
        reason = workspaces.CheckPermission(workspaces_pb2.CheckPermissionRequest(workspace=ref)).reason
        # Only what the caller manages comes back in `made`; others see no shares here.
        shares = all_pages(workspaces.ListShares, workspaces_pb2.ListSharesRequest(workspace=ref)).made
    typer.echo(workspace_details(found, reply.path, reason, list(shares)))


@app.command("rm")
def delete_workspace(
    workspace: WorkspaceRef,
    force: Annotated[
        bool, typer.Option("--force", help="Also when it holds objects: they are deleted with it.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a workspace you own.

    A private or public one that holds objects is refused unless --force, which deletes its objects.
    An unmanaged workspace's data is never touched.
    """
    from cli.client import connect
    from cli.errors import EXIT_USAGE, CliError
    from cli.output import confirm, enum_label, workspace_ref
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        workspaces = stubs.workspaces(client)
        # Looked up first, so the question names the workspace that would go, and what happens to its data.
        reply = workspaces.GetWorkspace(workspaces_pb2.GetWorkspaceRequest(workspace=workspace))
        found = reply.workspace
        ref, unmanaged = workspace_ref(found), found.type == workspaces_pb2.WORKSPACE_TYPE_UNMANAGED
        if reply.path:
            raise CliError(
                f"{workspace!r} is a path inside {ref}: name the workspace itself to remove it", EXIT_USAGE
            )
        what = "its data stays as it is" if unmanaged else "with every object in it" if force else ""
        confirm(f"Remove workspace {ref} ({enum_label(found, 'type')}{', ' + what if what else ''})?", yes)
        deleted = workspaces.DeleteWorkspace(
            workspaces_pb2.DeleteWorkspaceRequest(workspace=workspace, force=force)
        )
    if unmanaged:
        typer.echo(f"removed workspace {ref} (its data was not touched)")
    elif deleted.objects_pending:
        typer.echo(
            f"removed workspace {ref} (deleting: {found.node_name} did not answer; its objects are removed "
            "as soon as it does, and its name is free again after that)"
        )
    else:
        count = int(deleted.objects_deleted)
        typer.echo(f"removed workspace {ref} ({count} object{'' if count == 1 else 's'} deleted)")


@app.command("why")
def explain_permission(
    workspace: WorkspaceRef,
    user: Annotated[
        str,
        typer.Option(
            "--user",
            metavar="USERNAME",
            help="Whose permission (default: yours); others' for owners, 'own' sharees and admins.",
            show_default=False,
        ),
    ] = "",
    permission: Annotated[
        Permission, typer.Option("--permission", help="The permission asked about.")
    ] = Permission.read,
    as_json: JsonOption = False,
) -> None:
    """Explain whether someone has a permission on a workspace, and every share or rule behind it.

    Lines starting with + count now; - marks one that does not (e.g. an expired share).
    """
    from cli.client import connect
    from cli.output import explanation, print_json
    from wio.workspaces.v1 import workspaces_pb2

    request = workspaces_pb2.ExplainPermissionRequest(
        workspace=workspace, username=user, wanted=permission_value(permission)
    )
    with connect() as client:
        reply = stubs.workspaces(client).ExplainPermission(request)
    if as_json:
        print_json(reply)
    else:
        typer.echo(explanation(reply))


def create_link(
    target: Annotated[
        str,
        typer.Argument(
            metavar="WORKSPACE/PATH", help="The object, e.g. alice/data/report.pdf.", show_default=False
        ),
    ],
    expires: ExpiresOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a link that downloads one object, for anyone who has it, until it expires (default one
    hour, at most seven days) or is revoked (`wio links rm`). Each use is checked again: the link stops
    when you can no longer read the object."""
    import math
    from datetime import UTC, datetime

    from cli.client import connect
    from cli.output import format_time, note, print_json
    from cli.parsing import parse_when
    from wio.workspaces.v1 import workspaces_pb2

    request = workspaces_pb2.CreateLinkRequest(object=target)
    if expires is not None:
        now = datetime.now(UTC)
        request.expires_in_seconds = math.ceil((parse_when(expires, now) - now).total_seconds())
    with connect() as client:
        reply = stubs.workspaces(client).CreateLink(request)
    if as_json:
        print_json(reply)
        return
    typer.echo(reply.url)
    note(
        f"link {reply.link.id} works until {format_time(reply.expires_at)} (UTC) unless revoked"
        " (`wio links rm`); it is shown only this once"
    )
