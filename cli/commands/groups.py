"""`wio group ...`: groups of users, to share workspaces with many people at once."""

from typing import Annotated

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("Groups: create them and manage their members.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
GroupName = Annotated[str, typer.Argument(metavar="NAME", help="The group's name.", show_default=False)]
Group = Annotated[str, typer.Argument(metavar="GROUP", help="The group's name.", show_default=False)]
Username = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's username.", show_default=False)]


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


@app.command("ls")
def list_groups(
    mine: Annotated[bool, typer.Option("--mine", help="Only groups you belong to or created.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List groups."""
    from cli.client import all_pages, connect
    from cli.output import group_line, print_json, print_lines
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        reply = all_pages(stubs.auth(client).ListGroups, auth_pb2.ListGroupsRequest(mine=mine))
    if as_json:
        print_json(list(reply.groups))
    else:
        print_lines(group_line(group) for group in reply.groups)


@app.command("show")
def show_group(name: GroupName, as_json: JsonOption = False) -> None:
    """Show a group and its members."""
    from cli.client import connect
    from cli.output import group_details, print_json
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        group = stubs.auth(client).GetGroup(auth_pb2.GetGroupRequest(name=name)).group
    if as_json:
        print_json(group)
    else:
        typer.echo(group_details(group))


@app.command("create")
def create_group(
    name: GroupName,
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="What the group is for.")
    ] = "",
) -> None:
    """Create a group; you manage its members."""
    from cli.client import connect
    from wio.auth.v1 import auth_pb2

    request = auth_pb2.CreateGroupRequest(name=name, description=description)
    with connect() as client:
        group = stubs.auth(client).CreateGroup(request).group
    typer.echo(f"created group {group.name}")


@app.command("rm")
def delete_group(
    name: GroupName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a group (its creator or an admin); shares made to it end."""
    from cli.client import connect
    from cli.output import confirm
    from wio.auth.v1 import auth_pb2

    confirm(f"Delete group {name}?", yes)
    with connect() as client:
        stubs.auth(client).DeleteGroup(auth_pb2.DeleteGroupRequest(name=name))
    typer.echo(f"deleted group {name}")


@app.command("add")
def add_member(group: Group, username: Username) -> None:
    """Add a user to a group (its creator or an admin)."""
    from cli.client import connect
    from wio.auth.v1 import auth_pb2

    request = auth_pb2.AddGroupMemberRequest(group=group, username=username)
    with connect() as client:
        updated = stubs.auth(client).AddGroupMember(request).group
    typer.echo(f"added {username} to {updated.name} ({_members(updated.member_count)})")


@app.command("remove")
def remove_member(group: Group, username: Username) -> None:
    """Remove a user from a group (its creator or an admin)."""
    from cli.client import connect
    from wio.auth.v1 import auth_pb2

    request = auth_pb2.RemoveGroupMemberRequest(group=group, username=username)
    with connect() as client:
        updated = stubs.auth(client).RemoveGroupMember(request).group
    typer.echo(f"removed {username} from {updated.name} ({_members(updated.member_count)})")
