"""What the indexer knows: where workspaces live, one record per object inside one, the changes nodes
report, and the questions people ask (search, totals). Pure data and the rules that build it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from posixpath import splitext


@dataclass(frozen=True)
class Location:
    """A usable workspace: the prefix on a node's bucket that its objects live under."""

    workspace_id: str
    root_id: str
    node_id: str
    bucket: str
    prefix: str  # ends with '/'
    owner_id: str
    owner_username: str
    name: str
    node_name: str

    def path_of(self, key: str) -> str | None:
        """The path inside this workspace, or None when the key is outside it or is its folder marker."""
        if not key.startswith(self.prefix):
            return None
        path = key[len(self.prefix) :]
        return path or None


@dataclass(frozen=True)
class ObjectRecord:
    """One object inside a workspace. Carries the workspace id, never who may read it: a share change
    rewrites no record."""

    node_id: str
    bucket: str
    key: str
    workspace_id: str
    path: str
    name: str
    extension: str  # lower case, no dot, "" when none
    size: int
    etag: str
    modified_at: datetime
    content_type: str = ""


def is_folder_marker(key: str) -> bool:
    return key.endswith("/")


def record_for(
    location: Location,
    key: str,
    size: int,
    etag: str,
    modified_at: datetime,
    content_type: str = "",
) -> ObjectRecord | None:
    """The record of an object, or None when it is not indexed (outside the workspace, a folder marker)."""
    path = location.path_of(key)
    if path is None or is_folder_marker(key):
        return None
    name = path.rsplit("/", 1)[-1]
    extension = splitext(name)[1][1:].lower() if not name.startswith(".") or name.count(".") > 1 else ""
    return ObjectRecord(
        node_id=location.node_id,
        bucket=location.bucket,
        key=key,
        workspace_id=location.workspace_id,
        path=path,
        name=name,
        extension=extension,
        size=size,
        etag=etag.strip('"'),
        modified_at=modified_at,
        content_type=content_type,
    )


@dataclass(frozen=True)
class ObjectChange:
    """One change a node reported (MinIO's S3 event records or SeaweedFS's webhook), normalized."""

    node_id: str
    bucket: str
    key: str
    deleted: bool
    occurred_at: datetime
    size: int = 0
    etag: str = ""
    content_type: str = ""
    sequencer: str = ""  # orders changes of one key when the node gives it (MinIO); else ""


class ApplyResult(StrEnum):
    UPSERTED = "upserted"
    DELETED = "deleted"
    STALE = "stale"  # older than what the record or its tombstone already says: ignored


@dataclass(frozen=True)
class WriteCounts:
    """What a bulk write did: records new to the index, records whose object changed, records unchanged."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0


class SortField(StrEnum):
    PATH = "path"
    SIZE = "size"
    MODIFIED = "modified"


class TotalsGroup(StrEnum):
    WORKSPACE = "workspace"
    OWNER = "owner"
    NODE = "node"
    EXTENSION = "extension"


@dataclass(frozen=True)
class SearchQuery:
    """A search already narrowed to workspace ids the caller can read (never empty: no ids, no search)."""

    workspace_ids: tuple[str, ...]
    text: str = ""
    extensions: tuple[str, ...] = ()
    min_size: int | None = None
    max_size: int | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    sort: SortField = SortField.PATH
    descending: bool = False
    limit: int = 50
    # The sort value and (node, bucket, key) of the last record of the previous page, decoded from the
    # page token by the domain; None for the first page.
    after: tuple[object, str, str, str] | None = None


@dataclass(frozen=True)
class SearchPage:
    records: list[ObjectRecord]
    has_more: bool


@dataclass(frozen=True)
class Totals:
    """Objects and bytes per workspace id (and per extension within it when asked)."""

    by_workspace: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_extension: dict[str, tuple[int, int]] = field(default_factory=dict)
