"""Workspace names, where managed workspaces live, and how references are read."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from services.common.errors import DomainError, Reason

WORKSPACE_NAME_RE = re.compile(r"^[a-z0-9_-][a-z0-9._-]{0,62}$")


def check_workspace_name(name: str) -> str:
    if not WORKSPACE_NAME_RE.fullmatch(name):
        raise DomainError(
            Reason.INVALID_WORKSPACE_NAME,
            f"{name!r} is not a valid workspace name: use 1-63 of a-z, 0-9, '.', '_', '-', "
            "not starting with '.'",
            field="name",
        )
    return name


def managed_prefix(base_prefix: str, owner: str, name: str) -> str:
    """Private and public workspaces live at <base>/<owner>/<name>/."""
    return f"{base_prefix}{owner}/{name}/"


def derive_name(folder: str) -> str:
    """A valid workspace name for an existing folder whose own name breaks the rules."""
    ascii_name = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode().lower()
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", ascii_name).strip("-.")
    return (cleaned or "folder")[:63].rstrip("-.") or "folder"


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, ... : the first one not in `taken`, within 63 characters."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: 63 - len(suffix)] + suffix
    return candidate


def prefixes_nest(a: str, b: str, case_ignored: bool = False) -> bool:
    if case_ignored:
        a, b = a.lower(), b.lower()
    return a.startswith(b) or b.startswith(a)


def case_siblings(prefixes: Sequence[str]) -> dict[str, list[str]]:
    """Each prefix that equals another ignoring case, with those others."""
    by_lower: dict[str, list[str]] = {}
    for prefix in prefixes:
        by_lower.setdefault(prefix.lower(), []).append(prefix)
    return {p: [o for o in group if o != p] for group in by_lower.values() if len(group) > 1 for p in group}


@dataclass(frozen=True)
class Reference:
    """One reading of a reference: an owner (only that user's workspace) or none (the caller's own
    workspace first, then a unique visible one), the workspace name and an inner path."""

    owner: str | None
    name: str
    path: str


def _parts(reference: str) -> list[str]:
    text = reference.strip().lstrip("/")
    if not text:
        raise DomainError(Reason.INVALID_ARGUMENT, "name a workspace", field="workspace")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise DomainError(
            Reason.INVALID_ARGUMENT, "a workspace reference holds no control characters", field="workspace"
        )
    return text.split("/")


def owner_candidate(reference: str) -> str | None:
    """The first segment of `a/b...`, which names an owner exactly when it is an existing username."""
    parts = _parts(reference)
    return parts[0] if len(parts) >= 2 and parts[1] else None


def readings(reference: str) -> list[Reference]:
    """Both ways `a/b/rest` could be read (owner/name/rest, and name/b/rest): what resolving may look up."""
    parts = _parts(reference)
    found = [Reference(None, parts[0], "/".join(parts[1:]))]
    if owner_candidate(reference) is not None:
        found.insert(0, Reference(parts[0], parts[1], "/".join(parts[2:])))
    return found


def reading(reference: str, usernames: Collection[str]) -> Reference:
    """The grammar: if `a` is an existing username, `a/b[/inner]` is user a's workspace b and nothing
    else; otherwise `name[/inner]` is the caller's own workspace `name`, else a unique visible one. What
    another user creates cannot turn a reference into another workspace."""
    found = readings(reference)
    if found[0].owner is not None and found[0].owner in usernames:
        return found[0]
    return found[-1]
