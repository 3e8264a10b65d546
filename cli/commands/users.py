"""`wio user ...`: accounts (listing, creating and disabling them is for admins)."""

from typing import Annotated

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("Users: list, show, create and disable accounts.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
Username = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's username.", show_default=False)]


@app.command("ls")
def list_users(
    include_disabled: Annotated[bool, typer.Option("--all", help="Include disabled users.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List users (admins only)."""
    from cli.client import all_pages, connect
    from cli.output import print_json, print_lines, user_line
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        reply = all_pages(
            stubs.auth(client).ListUsers, auth_pb2.ListUsersRequest(include_disabled=include_disabled)
        )
    if as_json:
        print_json(list(reply.users))
    else:
        print_lines(user_line(user) for user in reply.users)


@app.command("show")
def show_user(username: Username, as_json: JsonOption = False) -> None:
    """Show one user (admins see anyone, others themselves)."""
    from cli.client import connect
    from cli.output import print_json, user_details
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        user = stubs.auth(client).GetUser(auth_pb2.GetUserRequest(username=username)).user
    if as_json:
        print_json(user)
    else:
        typer.echo(user_details(user))


@app.command("create")
def create_user(
    username: Username,
    email: Annotated[
        str, typer.Option("--email", metavar="EMAIL", help="The user's email address.", show_default=False)
    ],
    display_name: Annotated[
        str, typer.Option("--name", metavar="DISPLAY", help="Display name.", show_default=False)
    ] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user and their first API key (shown once)."""
    from cli.client import connect
    from cli.output import enum_label, note, print_json
    from wio.auth.v1 import auth_pb2

    request = auth_pb2.CreateUserRequest(
        username=username,
        email=email,
        display_name=display_name,
        role=auth_pb2.ROLE_ADMIN if admin else auth_pb2.ROLE_USER,
    )
    with connect() as client:
        reply = stubs.auth(client).CreateUser(request)
    if as_json:
        print_json(reply)
    else:
        user = reply.user
        typer.echo(f"created user {user.username} ({enum_label(user, 'role')})")
        typer.echo(f"API key: {reply.api_key_secret}")
    note("warning: this API key will not be shown again; hand it to the user now")


@app.command("disable")
def disable_user(
    username: Username,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Disable a user; their keys stop working at once."""
    from cli.client import connect
    from cli.output import confirm
    from wio.auth.v1 import auth_pb2

    confirm(f"Disable user {username}? Their keys stop working at once.", yes)
    with connect() as client:
        user = stubs.auth(client).DisableUser(auth_pb2.DisableUserRequest(username=username)).user
    typer.echo(f"disabled user {user.username}")
