"""`wio node ...`: storage nodes (S3 endpoints) that wio manages workspaces on."""

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from cli import stubs
from cli.commands import noun_app

app = noun_app("Storage nodes: register S3 endpoints, check them, change and remove them.")


class Kind(StrEnum):
    minio = "minio"
    aws = "aws"
    seaweedfs = "seaweedfs"
    ceph = "ceph"
    generic = "generic"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
NodeName = Annotated[str, typer.Argument(metavar="NAME", help="A name for the node.", show_default=False)]
NodeRef = Annotated[str, typer.Argument(metavar="NODE", help="The node's name or id.", show_default=False)]
EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint", metavar="URL", help="The S3 endpoint, e.g. http://host:9000.", show_default=False
    ),
]
AccessKeyOption = Annotated[
    str, typer.Option("--access-key", metavar="KEY", help="Access key id wio uses.", show_default=False)
]
SecretKeyOption = Annotated[
    str | None,
    typer.Option(
        "--secret-key",
        metavar="SECRET",
        help="Secret key; asked for (hidden) when not given, or read from stdin when piped.",
        show_default=False,
    ),
]
RegionOption = Annotated[str, typer.Option("--region", metavar="REGION", help="The S3 region.")]
StsEndpointOption = Annotated[
    str,
    typer.Option("--sts-endpoint", metavar="URL", help="STS endpoint, when not the S3 endpoint."),
]
RoleArnOption = Annotated[
    str, typer.Option("--role-arn", metavar="ARN", help="Role assumed for users' short-lived credentials.")
]
MaxSecondsOption = Annotated[
    int,
    typer.Option(
        "--max-credential-seconds",
        metavar="N",
        help="Longest credential lifetime the node grants (0: the kind's default).",
    ),
]
PolicyLimitOption = Annotated[
    int,
    typer.Option(
        "--policy-size-limit", metavar="N", help="Largest session policy in bytes (0: the kind's default)."
    ),
]


def _read_secret(prompt: str) -> str:
    """A secret from a hidden prompt, or from stdin when piped; never echoed."""
    from cli.errors import CliError

    if sys.stdin.isatty():
        secret = str(typer.prompt(prompt, hide_input=True)).strip()
    else:
        # Piped in (`wio node create ... < secret-file`): nobody to ask.
        secret = sys.stdin.readline().strip()
    if not secret:
        raise CliError("a secret key is required")
    return secret


@app.command("ls")
def list_nodes(as_json: JsonOption = False) -> None:
    """List storage nodes."""
    from cli.client import all_pages, connect
    from cli.output import node_line, print_json, print_lines
    from wio.nodes.v1 import nodes_pb2

    with connect() as client:
        reply = all_pages(stubs.nodes(client).ListNodes, nodes_pb2.ListNodesRequest())
    if as_json:
        print_json(list(reply.nodes))
    else:
        print_lines(node_line(node) for node in reply.nodes)


@app.command("create")
@app.command("add", hidden=True)
def create_node(
    name: NodeName,
    endpoint: EndpointOption,
    access_key: AccessKeyOption,
    secret_key: SecretKeyOption = None,
    region: RegionOption = "",
    kind: Annotated[Kind, typer.Option("--kind", help="What serves the endpoint.")] = Kind.minio,
    sts_endpoint: StsEndpointOption = "",
    role_arn: RoleArnOption = "",
    max_credential_seconds: MaxSecondsOption = 0,
    policy_size_limit: PolicyLimitOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Register a node; you become its operator.

    The server connects and checks the credentials and STS first; nothing is stored when that fails.
    Prints the node's storage-event hook token once (`wio node hook-token` makes a new one).
    """
    from cli.client import connect
    from cli.errors import CliError
    from cli.output import check_summary, print_json
    from wio.nodes.v1 import nodes_pb2

    secret = secret_key.strip() if secret_key is not None else _read_secret("Secret key")
    if not secret:
        raise CliError("a secret key is required")
    request = nodes_pb2.RegisterNodeRequest(
        name=name,
        endpoint=endpoint,
        region=region,
        kind=nodes_pb2.NodeKind.Value(f"NODE_KIND_{kind.value.upper()}"),
        access_key=access_key,
        secret_key=secret,
        sts_endpoint=sts_endpoint,
        role_arn=role_arn,
        max_credential_seconds=max_credential_seconds,
        policy_size_limit=policy_size_limit,
    )
    with connect() as client:
        reply = stubs.nodes(client).RegisterNode(request)
    if as_json:
        print_json(reply)
    else:
        typer.echo(f"registered node {reply.node.name} ({check_summary(reply.node, reply.check)})")
        _print_hook_token(reply.hook_token)
        for notice in reply.notices:
            typer.echo(f"note: {notice}", err=True)


def _print_hook_token(token: str) -> None:
    if not token:
        return  # a nodes service from before hook tokens
    typer.echo(f"hook token: {token}")
    typer.echo(
        "(shown only this once: give it to the node's storage-event webhook as its bearer token;"
        " `wio node hook-token NODE` replaces it)"
    )


@app.command("hook-token")
def rotate_hook_token(node: NodeRef, as_json: JsonOption = False) -> None:
    """Make a new storage-event hook token for a node (its operator or an admin) and print it once.

    The old token is refused from now on: update the node's webhook (bearer token) with the new one.
    """
    from cli.client import connect
    from cli.output import print_json
    from wio.nodes.v1 import nodes_pb2

    with connect() as client:
        reply = stubs.nodes(client).RotateHookToken(nodes_pb2.RotateHookTokenRequest(node=node))
    if as_json:
        print_json(reply)
    else:
        typer.echo(f"new hook token for node {node} ({reply.node_id}); the old one no longer works")
        _print_hook_token(reply.hook_token)


@app.command("show")
def show_node(node: NodeRef, as_json: JsonOption = False) -> None:
    """Show a node's settings and health (its operator or an admin)."""
    from cli.client import connect
    from cli.output import node_details, print_json
    from wio.nodes.v1 import nodes_pb2

    with connect() as client:
        found = stubs.nodes(client).GetNode(nodes_pb2.GetNodeRequest(node=node)).node
    if as_json:
        print_json(found)
    else:
        typer.echo(node_details(found))


def capabilities_line(capabilities: Any) -> str:
    """What the node does with session policies, as its last probe found."""
    if not capabilities.case_probed:
        case = "not probed yet, taken as ignoring case"
    elif capabilities.object_case_ignored:
        case = "ignores case (a grant on proj/ also reaches Proj/)"
    else:
        case = "honours case"
    escapes = "honoured" if capabilities.escapes_honoured else "not honoured"
    return (
        f"object matching: {case}; policy size limit {capabilities.policy_size_limit}; "
        f"escapes {escapes}; shortest session {capabilities.min_credential_seconds} s"
    )


@app.command("check")
def check_node(node: NodeRef, as_json: JsonOption = False) -> None:
    """Connect to a node now and record the result; exits non-zero when the check fails."""
    from cli.client import connect
    from cli.errors import CliError
    from cli.output import check_details, check_failed, print_json
    from wio.nodes.v1 import nodes_pb2

    with connect() as client:
        reply = stubs.nodes(client).CheckNode(nodes_pb2.CheckNodeRequest(node=node))
    if as_json:
        print_json(reply)
    else:
        typer.echo(check_details(reply.check))
        typer.echo(capabilities_line(reply.node.capabilities))
    if check_failed(reply.check):
        raise CliError(f"node {reply.node.name} failed its check")


@app.command("update")
def update_node(
    node: NodeRef,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="A new name.", show_default=False)
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", metavar="URL", help="The S3 endpoint.", show_default=False)
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", metavar="REGION", help="The S3 region.", show_default=False)
    ] = None,
    access_key: Annotated[
        str | None,
        typer.Option("--access-key", metavar="KEY", help="Access key id wio uses.", show_default=False),
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option("--secret-key", metavar="SECRET", help="A new secret key.", show_default=False),
    ] = None,
    prompt_secret: Annotated[
        bool,
        typer.Option(
            "--prompt-secret", help="Ask for a new secret key (hidden), or read it from stdin when piped."
        ),
    ] = False,
    sts_endpoint: Annotated[
        str | None,
        typer.Option(
            "--sts-endpoint", metavar="URL", help="STS endpoint ('' for the S3 one).", show_default=False
        ),
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option("--role-arn", metavar="ARN", help="Role assumed for users.", show_default=False),
    ] = None,
    max_credential_seconds: Annotated[
        int | None,
        typer.Option(
            "--max-credential-seconds",
            metavar="N",
            help="Longest credential lifetime (0: the kind's default).",
            show_default=False,
        ),
    ] = None,
    policy_size_limit: Annotated[
        int | None,
        typer.Option(
            "--policy-size-limit",
            metavar="N",
            help="Largest session policy in bytes (0: the kind's default).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a node's settings (its operator or an admin).

    Only the options given change. New connection settings are checked against the node before they
    are stored.
    """
    from cli.client import connect
    from cli.errors import EXIT_USAGE, CliError
    from cli.output import check_summary, print_json

    if secret_key is not None and prompt_secret:
        raise CliError("give --secret-key or --prompt-secret, not both", EXIT_USAGE)
    given: dict[str, Any] = {
        "name": name,
        "endpoint": endpoint,
        "region": region,
        "access_key": access_key,
        "secret_key": secret_key,
        "sts_endpoint": sts_endpoint,
        "role_arn": role_arn,
        "max_credential_seconds": max_credential_seconds,
        "policy_size_limit": policy_size_limit,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    if not changes and not prompt_secret:
        # Checked before connecting or prompting: an empty mask would only be refused by the server.
        raise CliError(
            "nothing to update: give at least one option such as --endpoint (see `wio node update --help`)",
            EXIT_USAGE,
        )
    if prompt_secret:
        changes["secret_key"] = _read_secret("New secret key")

    from google.protobuf.field_mask_pb2 import FieldMask

    from wio.nodes.v1 import nodes_pb2

    request = nodes_pb2.UpdateNodeRequest(
        node=node,
        changes=nodes_pb2.RegisterNodeRequest(**changes),
        update_mask=FieldMask(paths=sorted(changes)),
    )
    with connect() as client:
        reply = stubs.nodes(client).UpdateNode(request)
    if as_json:
        print_json(reply)
    elif reply.HasField("check"):
        typer.echo(f"updated node {reply.node.name} ({check_summary(reply.node, reply.check)})")
    else:
        # No connection setting changed, so the server had no reason to check the node again.
        typer.echo(f"updated node {reply.node.name}")


@app.command("rm")
def delete_node(
    node: NodeRef,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a node (its operator or an admin); refused while it has roots. Its data is not touched."""
    from cli.client import connect
    from cli.output import confirm
    from wio.nodes.v1 import nodes_pb2

    confirm(f"Remove node {node}?", yes)
    with connect() as client:
        stubs.nodes(client).DeleteNode(nodes_pb2.DeleteNodeRequest(node=node))
    typer.echo(f"removed node {node}")
