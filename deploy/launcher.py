"""`wio-dev`: start, stop and inspect the local wio stack.

Only argparse at import time: the stack's modules (and boto3, grpc) load when a command needs them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import urllib.parse

STATE_HELP = "state folder (default: $WIO_DEV_STATE, else ./.wio-dev)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wio-dev",
        description="Run the local wio stack: PostgreSQL, NATS JetStream, SeaweedFS S3/STS and the services.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start whatever is not running yet")
    up.add_argument("--foreground", action="store_true", help="wait; Ctrl-C stops what it started")
    up.add_argument("--second-node", action="store_true", help="also run a second SeaweedFS node")
    up.add_argument("--infra-only", action="store_true", help="only PostgreSQL, NATS and SeaweedFS")
    down = sub.add_parser("down", help="stop exactly what `up` started")
    status = sub.add_parser("status", help="show each component, its address and whether it answers")
    admin_key = sub.add_parser("admin-key", help="make a fresh API key for the first admin and print it")
    for command in (up, down, status, admin_key):
        command.add_argument("--state", metavar="DIR", help=STATE_HELP)
    return parser


def missing_server_packages(distribution: str = "wio") -> list[str]:
    """The packages of the `server` extra that are not installed (the services and the stack need them
    all); [] when wio itself is not installed, since then there is no extra to compare with."""
    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        if not re.search(r"""extra\s*==\s*["']server["']""", requirement):
            continue
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def install_hint(distribution: str = "wio") -> str:
    """The command that adds the server extra to this environment, from where wio came: a checkout
    (editable) or a wheel file installs from there again, anything else from the package index."""
    requirement = "'wio[server]'"
    try:
        origin = json.loads(
            importlib.metadata.distribution(distribution).read_text("direct_url.json") or "{}"
        )
    except (importlib.metadata.PackageNotFoundError, ValueError):
        origin = {}
    url = origin.get("url", "") if isinstance(origin, dict) else ""
    if url.startswith("file://"):
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        editable = bool(origin.get("dir_info", {}).get("editable"))
        requirement = f"{'-e ' if editable else ''}'{path}[server]'"
    # This interpreter's pip, so the extra lands where wio-dev runs.
    return f"{sys.executable} -m pip install {requirement}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = missing_server_packages()
    if missing:
        print(
            f"wio-dev runs the services and the local stack, which need the server extra "
            f"({', '.join(missing)} missing). Install it with:\n  {install_hint()}",
            file=sys.stderr,
        )
        return 1
    from deploy import stack
    from deploy.errors import LaunchError
    from deploy.state import state_dir_from

    state_dir = state_dir_from(args.state)
    try:
        if args.command == "up":
            return stack.up(
                state_dir,
                second_node=args.second_node,
                foreground=args.foreground,
                infra_only=args.infra_only,
            )
        if args.command == "down":
            return stack.down(state_dir)
        if args.command == "status":
            return stack.status(state_dir)
        return stack.admin_key(state_dir)
    except LaunchError as exc:
        print(f"wio-dev: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wio-dev: interrupted", file=sys.stderr)
        return 130
    finally:
        # After a closed pipe, Python's own flush at exit would complain once more.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
