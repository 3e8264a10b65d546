"""Workspaces, shares and permissions as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

WORKSPACE_TYPES = ("private", "public", "unmanaged")


class Level(IntEnum):
    """Permissions are ordered: each includes the ones below it."""

    NONE = 0
    READ = 1
    READWRITE = 2
    OWN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def verb(self) -> str:
        """What the level lets one do, for sentences: "alice can write ..."."""
        return {Level.NONE: "see", Level.READ: "read", Level.READWRITE: "write", Level.OWN: "manage"}[self]


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    owner_id: str
    owner_username: str
    type: str
    node_id: str
    node_name: str
    root_id: str
    bucket: str
    prefix: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.owner_username}/{self.name}"


@dataclass(frozen=True)
class Share:
    id: str
    workspace_id: str
    sharee_kind: str  # "user" or "group"
    sharee_id: str
    sharee_name: str
    level: Level
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    # The `own` share its creator held when they made it (None when the owner made it): this share never
    # outlives it nor grants more (domain/shares.py keeps it so).
    granted_through: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    @property
    def sharee_label(self) -> str:
        return self.sharee_name if self.sharee_kind == "user" else f"group:{self.sharee_name}"


@dataclass(frozen=True)
class Decision:
    level: Level
    reason: str


@dataclass(frozen=True)
class Principal:
    """A user as permission decisions see them: their id and the groups they belong to now."""

    user_id: str
    username: str
    group_ids: frozenset[str]


@dataclass(frozen=True)
class Link:
    """A revocable link to one object: `<gateway>/l/<id>.<secret>`; only the secret's hash is kept."""

    id: str
    secret_hash: str
    creator_id: str
    creator_username: str
    workspace_id: str
    workspace_ref: str
    path: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    @property
    def object_ref(self) -> str:
        return f"{self.workspace_ref}/{self.path}"


@dataclass(frozen=True)
class ListingFilters:
    """ListWorkspaces' filters; empty ones match everything."""

    owner: str = ""  # a username
    node: str = ""  # a node name or id
    kind: str = ""  # a workspace type
    name_contains: str = ""

    def key(self) -> list[str]:
        """What a page token is bound to."""
        return [self.owner, self.node, self.kind, self.name_contains]
