"""`wio root ...`: buckets (and prefixes in them) on a node where wio manages workspaces."""

from enum import StrEnum
from typing import Annotated

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("Roots: the buckets and prefixes on a node where workspaces live.")


class RootType(StrEnum):
    private = "private"
    public = "public"
    unmanaged = "unmanaged"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
RootId = Annotated[
    str, typer.Argument(metavar="ROOT_ID", help="The root's id (see `wio root ls`).", show_default=False)
]


@app.command("ls")
def list_roots(
    node: Annotated[
        str | None,
        typer.Option(
            "--node", metavar="NODE", help="Only roots on this node (name or id).", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List roots."""
    from cli.client import all_pages, connect
    from cli.output import print_json, print_lines, root_line
    from wio.nodes.v1 import nodes_pb2

    with connect() as client:
        reply = all_pages(stubs.nodes(client).ListRoots, nodes_pb2.ListRootsRequest(node=node or ""))
    if as_json:
        print_json(list(reply.roots))
    else:
        print_lines(root_line(root) for root in reply.roots)


@app.command("create")
def create_root(
    node: Annotated[str, typer.Argument(metavar="NODE", help="The node's name or id.", show_default=False)],
    bucket: Annotated[str, typer.Argument(metavar="BUCKET", help="The bucket.", show_default=False)],
    prefix: Annotated[
        str, typer.Option("--prefix", metavar="PREFIX", help="A base prefix inside the bucket.")
    ] = "",
    root_type: Annotated[
        RootType,
        typer.Option(
            "--type",
            help="private and public hold workspaces at PREFIX/OWNER/NAME/; unmanaged maps existing data.",
        ),
    ] = RootType.private,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="USER_OR_group:NAME",
            help="Who may create workspaces here (repeat it); everyone logged in when not given.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a root on a node (its operator or an admin); a managed root's missing bucket is created."""
    from cli.client import connect
    from cli.output import enum_label, print_json, root_location
    from wio.nodes.v1 import nodes_pb2

    request = nodes_pb2.CreateRootRequest(
        node=node,
        bucket=bucket,
        base_prefix=prefix,
        type=nodes_pb2.RootType.Value(f"ROOT_TYPE_{root_type.value.upper()}"),
        allowed_creators=allow or [],
    )
    with connect() as client:
        reply = stubs.nodes(client).CreateRoot(request)
    if as_json:
        print_json(reply)
        return
    root = reply.root
    line = f"created root {root.id} on {root.node_name}: {root_location(root)} ({enum_label(root, 'type')})"
    typer.echo(f"{line} (bucket created)" if reply.bucket_created else line)


@app.command("rm")
def delete_root(
    root_id: RootId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a root (the node's operator or an admin); refused while it holds workspaces.

    The bucket and its objects stay as they are.
    """
    from cli.client import connect
    from cli.output import confirm
    from wio.nodes.v1 import nodes_pb2

    confirm(f"Remove root {root_id}?", yes)
    with connect() as client:
        stubs.nodes(client).DeleteRoot(nodes_pb2.DeleteRootRequest(root=root_id))
    typer.echo(f"removed root {root_id}")


@app.command("import")
def import_root(
    root_id: RootId,
    as_json: JsonOption = False,
) -> None:
    """Map each top-level folder of an unmanaged root to a workspace of yours (the node's operator).

    Folders already mapped are left alone; a folder whose name is not a valid workspace name gets a
    derived one. The data is only listed, never written.
    """
    import sys

    from cli.client import connect
    from cli.output import note, print_json, print_lines, workspace_line
    from cli.text import shown
    from wio.workspaces.v1 import workspaces_pb2

    # Only for someone watching: a script's stderr should hold nothing but a failure.
    if not as_json and sys.stderr.isatty():
        note(f"listing the folders of root {root_id} ...")
    with connect() as client:
        # Listing a large bucket can take a while: a longer deadline than an ordinary call.
        reply = stubs.workspaces(client).ImportRoot(
            workspaces_pb2.ImportRootRequest(root=root_id), timeout=600.0
        )
    if as_json:
        print_json(reply)
        return
    print_lines(workspace_line(workspace) for workspace in reply.created)
    for skipped in reply.skipped:
        note(shown(f"warning: skipped {skipped.prefix}: {skipped.reason}"))
    created = len(reply.created)
    typer.echo(
        f"imported {created} folder{'' if created == 1 else 's'}; "
        f"{reply.already_mapped} already mapped, {len(reply.skipped)} skipped"
    )
