"""`wio login` and `wio whoami`: top-level verbs, registered on the main app."""

import sys
from typing import Annotated

import typer

from cli import stubs

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def login(
    address: Annotated[
        str, typer.Argument(metavar="ADDRESS", help="The identity service, host:port.", show_default=False)
    ],
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            envvar="WIO_API_KEY",
            help="Your API key; asked for (hidden) when not given, or read from stdin when piped.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Log in to a server with an API key.

    Checks the key, then stores the address, the key and the other services' addresses in the config.
    """
    from cli.client import Client, with_login
    from cli.config import check_transport, load_config, save_login
    from cli.errors import CliError
    from cli.output import enum_label, note
    from wio.auth.v1 import auth_pb2

    address = address.strip()
    stored = load_config()
    # Refuse an unprotected connection before asking for a secret that would travel over it.
    check_transport(address, stored.tls)
    if api_key:
        key = api_key.strip()
    elif sys.stdin.isatty():
        key = typer.prompt("API key", hide_input=True).strip()
    else:
        # Piped in (`wio login ADDRESS < keyfile`): read it quietly, there is nobody to prompt.
        key = sys.stdin.readline().strip()
    if not key:
        raise CliError("an API key is required")
    config = with_login(stored, address, key)
    with Client(config) as client:
        user = stubs.auth(client).WhoAmI(auth_pb2.WhoAmIRequest()).user
        directory = client.directory()
    save_login(config.path, address, directory, key)
    note(f"saved to {config.path}")
    typer.echo(f"logged in as {user.username} ({enum_label(user, 'role')}) at {address}")


def whoami(as_json: JsonOption = False) -> None:
    """Show who the configured API key belongs to."""
    from cli.client import connect
    from cli.output import enum_label, print_json
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        user = stubs.auth(client).WhoAmI(auth_pb2.WhoAmIRequest()).user
    if as_json:
        print_json(user)
        return
    email = f" <{user.email}>" if user.email else ""
    typer.echo(f"{user.username}{email} ({enum_label(user, 'role')}) at {client.config.address}")
