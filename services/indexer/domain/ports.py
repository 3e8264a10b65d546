"""What the indexer's rules need: an object index (PostgreSQL by default, or Elasticsearch), a ledger of
crawls in its own database, the workspaces service, a lister for a node, and its events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.indexer.domain.models import (
    ApplyResult,
    Location,
    ObjectChange,
    ObjectRecord,
    SearchPage,
    SearchQuery,
    Totals,
    WriteCounts,
)


class ObjectIndex(Protocol):
    """The records, behind one interface for every backend. Every write is idempotent."""

    async def write(self, records: Sequence[ObjectRecord], generation: int) -> WriteCounts:
        """Insert or update many records from a listing (one round trip for the batch), marking each with
        the crawl's generation so the sweep knows it was seen."""
        ...

    async def apply(self, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
        """A node's report of one change: upsert `record` (None for a delete, which leaves a tombstone),
        unless the record or its tombstone already says something newer."""
        ...

    async def sweep(
        self, node_id: str, bucket: str, prefix: str, generation: int, started_at: datetime
    ) -> int:
        """Remove the records under the prefix that the crawl of this generation did not see and that no
        event touched since it started; answers how many went."""
        ...

    async def forget_workspace(self, workspace_id: str) -> int: ...
    async def forget_node(self, node_id: str) -> int: ...
    async def forget_prefix(self, node_id: str, bucket: str, prefix: str) -> int: ...
    async def expire_tombstones(self, older_than: datetime) -> int: ...

    async def search(self, query: SearchQuery) -> SearchPage: ...
    async def totals(self, workspace_ids: Sequence[str], by_extension: bool) -> Totals:
        """From counters kept with the records (PostgreSQL) or aggregations (Elasticsearch), never a scan."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Crawl:
    """A crawl of a root or of one workspace, persisted so it resumes after a crash."""

    id: str
    kind: str  # "crawl" or "verify"
    root_id: str
    workspace_id: str  # "" for a root crawl
    node_id: str
    bucket: str
    prefix: str
    generation: int
    started_at: datetime
    resume_after: str  # the last key written before the crawl stopped; "" for a fresh start
    objects: int
    bytes: int


class CrawlLedger(Protocol):
    async def begin(
        self, kind: str, root_id: str, workspace_id: str, node_id: str, bucket: str, prefix: str
    ) -> Crawl:
        """The unfinished crawl of this scope (to resume), or a new one with the next generation."""
        ...

    async def checkpoint(self, crawl_id: str, after_key: str, objects: int, bytes_: int) -> None: ...
    async def finish(self, crawl: Crawl, counts: WriteCounts, removed: int) -> None: ...
    async def fail(self, crawl_id: str, reason: str) -> None: ...
    async def unfinished(self) -> list[Crawl]: ...


@dataclass(frozen=True)
class Accessible:
    """The workspaces a user can read, and the revision of that answer."""

    revision: str
    locations: tuple[Location, ...]


@dataclass(frozen=True)
class ListingGrant:
    """Brokered list-only credentials for a prefix of a node's bucket, and the workspaces under it."""

    node_id: str
    node_name: str
    endpoint: str
    region: str
    access_key: str
    # Secrets stay out of reprs, so a logged grant shows none.
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: datetime
    bucket: str
    prefix: str
    root_id: str
    locations: tuple[Location, ...]


class WorkspacesDirectory(Protocol):
    async def accessible(self, user_id: str, known_revision: str) -> Accessible | None:
        """None when known_revision is still current."""
        ...

    async def listing_grant(
        self, root_id: str, workspace_id: str, on_behalf_of: str, admin: bool
    ) -> ListingGrant: ...

    async def locations(self, node_id: str) -> list[Location]: ...


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    etag: str
    modified_at: datetime


class Lister(Protocol):
    def pages(self, grant: ListingGrant, prefix: str, start_after: str) -> AsyncIterator[list[ListedObject]]:
        """Pages of a ListObjectsV2 stream under the prefix, in key order, starting after a key."""
        ...
