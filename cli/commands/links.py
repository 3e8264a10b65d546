"""`wio links ...`: the links you made with `wio link` (list them, revoke one)."""

from typing import Annotated, Any

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("Links: list the ones you made with `wio link` and revoke them.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def link_state(link: Any, now: float) -> str:
    if link.HasField("revoked_at"):
        return "revoked"
    return "expired" if link.expires_at.seconds <= now else "active"


@app.command("ls")
def list_links(as_json: JsonOption = False) -> None:
    """List your links, newest first: `[created] ID OBJECT STATE expires=WHEN`."""
    import time

    from cli.client import all_pages, connect
    from cli.output import format_time, listing_line, print_json, print_lines
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        reply = all_pages(stubs.workspaces(client).ListLinks, workspaces_pb2.ListLinksRequest())
    if as_json:
        print_json(list(reply.links))
        return
    now = time.time()
    print_lines(
        listing_line(
            link.created_at,
            link.id,
            link.object,
            link_state(link, now),
            f"expires={format_time(link.expires_at)}",
        )
        for link in reply.links
    )


@app.command("rm")
def revoke_link(
    link_id: Annotated[str, typer.Argument(metavar="ID", help="The link's id (see `wio links ls`).")],
) -> None:
    """Revoke a link: it stops working at once (its creator, the workspace's owner or an admin)."""
    from cli.client import connect
    from wio.workspaces.v1 import workspaces_pb2

    with connect() as client:
        link = stubs.workspaces(client).RevokeLink(workspaces_pb2.RevokeLinkRequest(id=link_id)).link
    typer.echo(f"revoked link {link.id} {link.object}")
