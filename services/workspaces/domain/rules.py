"""Workspace names, where managed workspaces live, and how references are read."""

from __future__ import annotations

import re
import unicodedata
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


def prefixes_nest(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class Reference:
    """One reading of a reference: an optional owner, the workspace name and an inner path."""

    owner: str | None
    name: str
    path: str


def readings(reference: str) -> list[Reference]:
    """Both ways `a/b/rest` can be read: owner/name/rest, and name/b/rest."""
    text = reference.strip().lstrip("/")
    if not text:
        raise DomainError(Reason.INVALID_ARGUMENT, "name a workspace", field="workspace")
    parts = text.split("/")
    found = [Reference(None, parts[0], "/".join(parts[1:]))]
    if len(parts) >= 2 and parts[1]:
        found.insert(0, Reference(parts[0], parts[1], "/".join(parts[2:])))
    return found
