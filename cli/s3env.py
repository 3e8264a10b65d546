"""Brokered credential sets as the tools that use them expect: shell exports, AWS_* variables, an rclone
section, AWS credential_process JSON, and mc aliases with workspace references rewritten to paths.

Works on IssueCredentials' CredentialSet messages, and imports nothing heavy until it reads one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from cli.errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

    from wio.workspaces.v1.workspaces_pb2 import CredentialScope, CredentialSet, Permission

# mc's own options that take a value: the value is neither the subcommand nor a path.
MC_VALUE_FLAGS = frozenset({"--config-dir", "-C"})
_ALIAS_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def expiry_iso(ts: Timestamp) -> str:
    """A Timestamp as ISO 8601 UTC with a Z, to the second (what AWS SDKs read for Expiration)."""
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(ts.seconds))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def permission_name(value: Permission.ValueType) -> str:
    # Loaded already: the value came from one of its messages.
    from wio.workspaces.v1 import workspaces_pb2

    names = {
        workspaces_pb2.PERMISSION_READ: "read",
        workspaces_pb2.PERMISSION_READWRITE: "readwrite",
        workspaces_pb2.PERMISSION_OWN: "own",
    }
    return names.get(value, "none")


def scope_text(scope: CredentialScope, where: str = "s3://") -> str:
    """`alice/data/: readwrite, s3://bucket/ws/alice/data/`"""
    return f"{scope.workspace}/: {permission_name(scope.permission)}, {where}{scope.bucket}/{scope.prefix}"


def only_set(sets: Sequence[CredentialSet], target: str) -> CredentialSet:
    """The one set a single-set format or command needs; a clear refusal when the request needs several
    (several nodes, or one node whose session-policy size limit splits the workspaces)."""
    if not sets:
        raise CliError("the server issued no credentials")
    if len(sets) == 1:
        return sets[0]
    names = [s.node_name or s.node_id for s in sets]
    if len(set(names)) == 1:
        why = f"all on node {names[0]}, whose session-policy size limit splits them"
    else:
        why = "on nodes " + ", ".join(dict.fromkeys(names))
    raise CliError(
        f"these workspaces need {len(sets)} credential sets ({why}), and {target} holds only one: "
        "ask for fewer workspaces at a time, or use `wio credentials --format json` (or `wio mc`)",
        EXIT_USAGE,
    )


def aws_environment(cred: CredentialSet, *, service_endpoint: bool = False) -> dict[str, str]:
    """The AWS_* variables for one set; AWS_ENDPOINT_URL_S3 too when asked (commands run by `wio exec`:
    it beats an endpoint an AWS profile may name for S3)."""
    env = {
        "AWS_ACCESS_KEY_ID": cred.access_key,
        "AWS_SECRET_ACCESS_KEY": cred.secret_key,
        "AWS_SESSION_TOKEN": cred.session_token,
    }
    if cred.endpoint:
        env["AWS_ENDPOINT_URL"] = cred.endpoint
        if service_endpoint:
            env["AWS_ENDPOINT_URL_S3"] = cred.endpoint
    if cred.region:
        env["AWS_REGION"] = cred.region
        env["AWS_DEFAULT_REGION"] = cred.region
    return env


def exec_environment(cred: CredentialSet, base: Mapping[str, str]) -> dict[str, str]:
    """`base` with one set's variables; a profile in `base` would point SDKs elsewhere, so it goes."""
    env = {k: v for k, v in base.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    env.update(aws_environment(cred, service_endpoint=True))
    return env


def header_lines(cred: CredentialSet, where: str = "s3://") -> list[str]:
    lines = [f"# wio credentials for node {cred.node_name}, valid until {expiry_iso(cred.expires_at)}"]
    lines += [f"# {scope_text(scope, where)}" for scope in cred.scopes]
    return lines


def env_text(cred: CredentialSet) -> str:
    exports = [f"export {k}={shlex.quote(v)}" for k, v in aws_environment(cred).items()]
    return "\n".join([*header_lines(cred), *exports])


def rclone_remote(cred: CredentialSet) -> str:
    return alias_base(cred.node_name or cred.node_id)


def rclone_text(cred: CredentialSet) -> str:
    remote = rclone_remote(cred)
    rows = [
        ("type", "s3"),
        ("provider", "Other"),
        ("access_key_id", cred.access_key),
        ("secret_access_key", cred.secret_key),
        ("session_token", cred.session_token),
        ("endpoint", cred.endpoint),
        ("region", cred.region),
        # The credentials may not create buckets: without this an upload to a new key first tries
        # CreateBucket and is refused.
        ("no_check_bucket", "true"),
    ]
    body = [f"{key} = {value}" for key, value in rows if value]
    # The scopes are shown as rclone paths, ready to paste after `rclone ls`.
    return "\n".join([*header_lines(cred, f"{remote}:"), f"[{remote}]", *body])


def aws_process_text(cred: CredentialSet) -> str:
    """The JSON an AWS SDK's credential_process reads; the SDK runs the command again near Expiration."""
    document = {
        "Version": 1,
        "AccessKeyId": cred.access_key,
        "SecretAccessKey": cred.secret_key,
        "SessionToken": cred.session_token,
        "Expiration": expiry_iso(cred.expires_at),
    }
    return json.dumps(document, indent=2)


# mc ----------------------------------------------------------------------------------------------------


def alias_base(node: str) -> str:
    return "wio-" + (_ALIAS_UNSAFE.sub("-", node).strip("-") or "node")


def mc_aliases(sets: Sequence[CredentialSet]) -> list[str]:
    """One alias per set: `wio-<node>`, then `wio-<node>-2`, ... when a node's workspaces need several."""
    seen: dict[str, int] = {}
    aliases = []
    for cred in sets:
        base = alias_base(cred.node_name or cred.node_id)
        seen[base] = seen.get(base, 0) + 1
        aliases.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return aliases


def mc_host(cred: CredentialSet) -> str:
    """MC_HOST_<alias>'s value: the endpoint with the key, secret and token as its user info."""
    parts = urlsplit(cred.endpoint)
    user = ":".join(quote(part, safe="") for part in (cred.access_key, cred.secret_key, cred.session_token))
    return f"{parts.scheme or 'https'}://{user}@{parts.netloc}{parts.path.rstrip('/')}"


def mc_candidates(args: Sequence[str], exists: Callable[[str], bool] = os.path.exists) -> list[int]:
    """Where in mc's arguments a workspace reference may stand: positionals after the subcommand that
    are not flags, flag values, URLs or local paths that exist (a local path wins over a workspace)."""
    found: list[int] = []
    subcommand_seen = False
    skip_next = False
    for index, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if arg.startswith("-"):
            skip_next = not subcommand_seen and arg in MC_VALUE_FLAGS
            continue
        if not subcommand_seen:
            subcommand_seen = True
            continue
        if "://" in arg or exists(arg):
            continue
        found.append(index)
    return found


def mc_path(alias: str, bucket: str, prefix: str, path: str, original: str) -> str:
    """`<alias>/<bucket>/<prefix><path>`, keeping a trailing '/' the user typed (mc's cp reads it)."""
    rewritten = f"{alias}/{bucket}/{prefix}{path}"
    if original.endswith("/") and not rewritten.endswith("/"):
        rewritten += "/"
    return rewritten


def set_for_workspace(sets: Sequence[CredentialSet], ref: str) -> int | None:
    """The index of the first set whose scopes name workspace `ref` (owner/name)."""
    for index, cred in enumerate(sets):
        if any(scope.workspace == ref for scope in cred.scopes):
            return index
    return None
