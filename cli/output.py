"""How things print: listing lines like `[2020-10-17T21:07:18.996866] ...`, detail blocks, JSON.

Works on protobuf messages by duck typing; commands import it when they run, never at start.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import typer

from cli.errors import EXIT_USAGE, CliError
from cli.text import shown

_EPOCH = datetime(1970, 1, 1)


# Times shown ---------------------------------------------------------------------------------------------


def timestamp_to_datetime(ts: Any) -> datetime | None:
    """A google.protobuf.Timestamp as a naive UTC datetime; None when unset."""
    if ts is None or (not ts.seconds and not ts.nanos):
        return None
    return _EPOCH + timedelta(seconds=int(ts.seconds), microseconds=int(ts.nanos) // 1000)


def format_time(ts: Any, unset: str = "never") -> str:
    """UTC, ISO 8601 without a zone suffix, always with microseconds: 2020-10-17T21:07:18.996866."""
    when = timestamp_to_datetime(ts)
    return when.isoformat(timespec="microseconds") if when else unset


def enum_label(message: Any, field: str) -> str:
    """An enum field's value name without its type prefix, lower case: ROLE_ADMIN -> admin."""
    value = getattr(message, field)
    enum_type = message.DESCRIPTOR.fields_by_name[field].enum_type
    described = enum_type.values_by_number.get(value)
    if described is None:
        return str(value)
    name = str(described.name)
    prefix = _enum_prefix(str(enum_type.name))
    return name.removeprefix(prefix).lower()


def _enum_prefix(type_name: str) -> str:
    # Role -> ROLE_, ShareLevel -> SHARE_LEVEL_ (buf's STANDARD rule for enum value prefixes).
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).upper() + "_"


# Listings ----------------------------------------------------------------------------------------------


def listing_line(created: Any, *fields: str) -> str:
    return " ".join([f"[{format_time(created, unset='-')}]", *(f for f in fields if f)])


def user_line(user: Any) -> str:
    return listing_line(
        user.created_at,
        user.username,
        user.email or "-",
        enum_label(user, "role"),
        "(disabled)" if user.disabled else "",
    )


def group_line(group: Any) -> str:
    count = int(group.member_count)
    return listing_line(group.created_at, group.name, f"({count} member{'' if count == 1 else 's'})")


def apikey_line(key: Any) -> str:
    return listing_line(
        key.created_at,
        key.id,
        key.name or "-",
        f"{key.prefix}…",
        f"expires={format_time(key.expires_at)}",
        f"last_used={format_time(key.last_used_at)}",
        "(revoked)" if key.revoked else "",
    )


def detail_block(rows: Sequence[tuple[str, str]]) -> str:
    """`key: value` lines with the values aligned."""
    width = max((len(key) for key, _ in rows), default=0) + 1
    return "\n".join(f"{key + ':':<{width}} {shown(value)}".rstrip() for key, value in rows)


def user_details(user: Any) -> str:
    rows = [
        ("username", user.username),
        ("email", user.email),
        ("name", user.display_name),
        ("role", enum_label(user, "role")),
        ("id", user.id),
        ("created", format_time(user.created_at, unset="-")),
    ]
    if user.disabled:
        rows.append(("disabled", format_time(user.disabled_at, unset="yes")))
    return detail_block(rows)


def group_details(group: Any) -> str:
    rows = [
        ("name", group.name),
        ("description", group.description),
        ("id", group.id),
        ("created by", group.created_by),
        ("created", format_time(group.created_at, unset="-")),
        ("members", ", ".join(group.members) if group.members else "(none)"),
    ]
    return detail_block(rows)


# Emitting ----------------------------------------------------------------------------------------------


def to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    # Every field, even at its default, so scripts can rely on the keys being there.
    result: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return result


def print_json(value: Any) -> None:
    """A message, or a list of them, as JSON on stdout and nothing else."""
    if isinstance(value, list):
        data: Any = [to_dict(item) for item in value]
    else:
        data = to_dict(value)
        # A listing printed whole (cli.client.all_pages) has no next page: the empty token is noise.
        if isinstance(data, dict) and data.get("next_page_token") == "":
            del data["next_page_token"]
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_lines(lines: Iterable[str]) -> None:
    """One line per item: whatever the items hold, each stays one line (cli/text.py)."""
    for line in lines:
        typer.echo(shown(line))


def note(message: str) -> None:
    """Something for the person at the terminal, kept off stdout so pipes and --json stay clean."""
    typer.echo(message, err=True)


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone; `--yes` skips it, and without a terminal it is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question} Pass --yes to confirm (there is no terminal to ask).", EXIT_USAGE)
    typer.confirm(question, abort=True)


# Nodes and roots ---------------------------------------------------------------------------------------


def node_status(node: Any) -> str:
    # A node not yet probed has no status; "unspecified" would read like a bug.
    label = enum_label(node, "status")
    return "unknown" if label == "unspecified" else label


def milliseconds(value: float) -> str:
    return f"{value:.1f} ms"


def node_line(node: Any) -> str:
    return listing_line(node.created_at, node.id, node.endpoint, node.name, node_status(node))


def node_details(node: Any) -> str:
    rows = [
        ("id", node.id),
        ("name", node.name),
        ("endpoint", node.endpoint),
        ("region", node.region),
        ("kind", enum_label(node, "kind")),
        ("operator", node.operator_username or node.operator_id),
        ("status", node_status(node)),
        ("status detail", node.status_detail),
        ("last seen", format_time(node.last_seen_at)),
        ("latency", milliseconds(node.latency_ms)),
        ("sts endpoint", node.sts_endpoint or "(same as endpoint)"),
        ("role arn", node.role_arn),
        ("access key", node.access_key),
        ("max credential seconds", str(node.max_credential_seconds)),
        ("policy size limit", str(node.policy_size_limit)),
        ("created", format_time(node.created_at, unset="-")),
    ]
    return detail_block(rows)


def check_failed(check: Any) -> bool:
    return bool(check.detail) or not check.sts_ok


def check_summary(node: Any, check: Any) -> str:
    """`online, 12.3 ms; STS ok`: the short form printed after create and update."""
    sts = "STS ok" if check.sts_ok else "STS failed"
    return f"{node_status(node)}, {milliseconds(check.latency_ms)}; {sts}"


def check_details(check: Any) -> str:
    def yes_no(value: bool) -> str:
        return "yes" if value else "no"

    rows = [
        ("reachable", yes_no(check.reachable)),
        ("credentials", "ok" if check.credentials_ok else "refused"),
        ("STS", "ok" if check.sts_ok else "failed"),
        ("latency", milliseconds(check.latency_ms)),
        ("detail", check.detail or "-"),
    ]
    return detail_block(rows)


def root_location(root: Any) -> str:
    # base_prefix is empty or ends in '/', so this reads bucket/ or bucket/prefix/.
    return f"{root.bucket}/{root.base_prefix}"


def root_line(root: Any) -> str:
    line = listing_line(
        root.created_at, root.id, root.node_name, root_location(root), f"({enum_label(root, 'type')})"
    )
    if root.allowed_creators:
        line += f" creators: {', '.join(root.allowed_creators)}"
    return line


# Workspaces and shares ---------------------------------------------------------------------------------


def permission_label(message: Any, field: str = "permission") -> str:
    # No permission at all reads better as "none" than as the enum's "unspecified".
    label = enum_label(message, field)
    return "none" if label == "unspecified" else label


def workspace_ref(workspace: Any) -> str:
    return f"{workspace.owner_username}/{workspace.name}/"


def workspace_line(workspace: Any) -> str:
    """`[created] owner/name/ (type)`, as the seed lists workspaces."""
    return listing_line(workspace.created_at, workspace_ref(workspace), f"({enum_label(workspace, 'type')})")


def workspace_details(workspace: Any, path: str = "", reason: str = "", shares: Sequence[Any] = ()) -> str:
    rows = [
        ("workspace", workspace_ref(workspace)),
        ("owner", workspace.owner_username),
        ("type", enum_label(workspace, "type")),
        ("node", workspace.node_name or workspace.node_id),
        ("location", f"{workspace.bucket}/{workspace.prefix}"),
        ("root", workspace.root_id),
        ("id", workspace.id),
        ("created", format_time(workspace.created_at, unset="-")),
        ("your permission", permission_label(workspace)),
    ]
    if reason:
        rows.append(("because", reason))
    if path:
        rows.append(("path", path))
    if shares:
        rows.append(("shares", "; ".join(share_summary(share) for share in shares)))
    return detail_block(rows)


def share_expiry(share: Any) -> str:
    return format_time(share.expires_at)


def share_summary(share: Any) -> str:
    """`bob read` or `group:lab readwrite until 2030-01-31T00:00:00.000000`."""
    text = f"{share.sharee} {permission_label(share)}"
    return f"{text} until {share_expiry(share)}" if timestamp_to_datetime(share.expires_at) else text


def share_line(share: Any) -> str:
    return listing_line(
        share.created_at,
        share.id,
        f"{share.workspace}/",
        share.sharee,
        f"({permission_label(share)})",
        f"expires={share_expiry(share)}",
    )


def factor_line(factor: Any) -> str:
    """One thing behind a permission: `+ readwrite  shared with their group lab`; `-` when it does not
    count now (an expired share)."""
    mark = "+" if factor.active else "-"
    suffix = "" if factor.active else " (does not count now)"
    return f"  {mark} {permission_label(factor):<9}  {factor.reason}{suffix}"


def explanation(reply: Any) -> str:
    lines = [reply.summary or f"{reply.username}: {permission_label(reply)}"]
    if reply.factors:
        lines += [factor_line(factor) for factor in reply.factors]
    else:
        lines.append("  (nothing gives them any permission on it)")
    return "\n".join(lines)
