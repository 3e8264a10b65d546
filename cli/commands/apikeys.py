"""`wio apikey ...`: your own API keys."""

from typing import Annotated

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("API keys: list, create and revoke your keys.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


@app.command("ls")
def list_keys(as_json: JsonOption = False) -> None:
    """List your API keys."""
    from cli.client import all_pages, connect
    from cli.output import apikey_line, print_json, print_lines
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        reply = all_pages(stubs.auth(client).ListApiKeys, auth_pb2.ListApiKeysRequest())
    if as_json:
        print_json(list(reply.api_keys))
    else:
        print_lines(apikey_line(key) for key in reply.api_keys)


@app.command("create")
def create_key(
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="A label to recognise the key by.")
    ] = "",
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            metavar="WHEN",
            help="When it stops working: a duration (30d, 12h, 1d12h) or an ISO date/datetime (UTC).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key; its secret is shown only this once."""
    from cli.client import connect
    from cli.output import format_time, note, print_json
    from cli.parsing import parse_when
    from wio.auth.v1 import auth_pb2

    request = auth_pb2.CreateApiKeyRequest(name=name)
    if expires is not None:
        # Parsed before connecting, so a typo costs no round trip.
        request.expires_at.FromDatetime(parse_when(expires))
    with connect() as client:
        reply = stubs.auth(client).CreateApiKey(request)
    if as_json:
        print_json(reply)
    else:
        key = reply.api_key
        typer.echo(f"created API key {key.id} {key.name or '-'} expires={format_time(key.expires_at)}")
        typer.echo(f"API key: {reply.secret}")
    note("warning: this API key will not be shown again; store it now")


@app.command("rm")
def revoke_key(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (see `wio apikey ls`).")],
) -> None:
    """Revoke an API key: it stops working at once."""
    from cli.client import connect
    from cli.output import note
    from wio.auth.v1 import auth_pb2

    with connect() as client:
        key = stubs.auth(client).RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key_id)).api_key
        own = bool(key.prefix) and client.config.api_key.startswith(key.prefix)
        if own:
            client.forget_token()
    typer.echo(f"revoked API key {key.id} {key.name or '-'}")
    if own:
        note("warning: that was the key this CLI uses; run `wio login` with another key")
