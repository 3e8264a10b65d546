"""What `wio index status` shows, and which workspace a caller's reference names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.common.errors import DomainError, Reason
from services.indexer.domain.crawl import Crawler, CrawlRecords
from services.indexer.domain.models import Location
from services.indexer.domain.ports import ObjectIndex

# The locations a user can read (the search's cached answer of the workspaces service).
Readable = Callable[[str], Awaitable[Sequence[Location]]]


def resolve(reference: str, locations: Sequence[Location], user_id: str) -> Location:
    """The readable workspace `reference` names: its id, owner/name, or a name (the caller's own first,
    else the one readable workspace of that name). A workspace the caller cannot read is not found, the
    same as one that does not exist."""
    ref = reference.strip().strip("/")
    if not ref:
        raise DomainError(Reason.INVALID_ARGUMENT, "name a workspace (owner/name, name or id)")
    by_id = [loc for loc in locations if loc.workspace_id == ref]
    if by_id:
        return by_id[0]
    if "/" in ref:
        owner, _, name = ref.partition("/")
        found = [loc for loc in locations if loc.owner_username == owner and loc.name == name]
    else:
        found = [loc for loc in locations if loc.name == ref and loc.owner_id == user_id]
        found = found or [loc for loc in locations if loc.name == ref]
    if not found:
        raise DomainError(Reason.WORKSPACE_NOT_FOUND, f"no workspace {ref!r} that you can read")
    if len(found) > 1:
        names = ", ".join(sorted(f"{loc.owner_username}/{loc.name}" for loc in found))
        raise DomainError(Reason.WORKSPACE_AMBIGUOUS, f"{ref!r} names several workspaces: {names}")
    return found[0]


@dataclass(frozen=True)
class IndexStatus:
    location: Location
    objects: int
    bytes: int
    crawled_at: datetime | None
    verified_at: datetime | None
    drift_added: int
    drift_changed: int
    drift_removed: int
    state: str  # "idle", "crawling" or "failed: <reason>"


class IndexStatusReader:
    def __init__(
        self, readable: Readable, index: ObjectIndex, records: CrawlRecords, crawler: Crawler
    ) -> None:
        self.readable = readable
        self.index = index
        self.records = records
        self.crawler = crawler

    async def locations(self, user_id: str) -> Sequence[Location]:
        return await self.readable(user_id)

    async def statuses(self, user_id: str, reference: str = "") -> list[IndexStatus]:
        locations = list(await self.readable(user_id))
        if reference:
            locations = [resolve(reference, locations, user_id)]
        if not locations:
            return []
        ids = [loc.workspace_id for loc in locations]
        totals = await self.index.totals(ids, by_extension=False)
        records = await self.records.statuses(ids)
        crawling = {loc.workspace_id for run in self.crawler.running() for loc in run.locations}
        out = []
        for loc in sorted(locations, key=lambda loc: (loc.owner_username, loc.name)):
            objects, size = totals.by_workspace.get(loc.workspace_id, (0, 0))
            record = records.get(loc.workspace_id)
            # What runs here and what failed here are known best here; else what the ledger says.
            if loc.workspace_id in crawling:
                state = "crawling"
            elif loc.workspace_id in self.crawler.failures:
                state = f"failed: {self.crawler.failures[loc.workspace_id]}"
            elif record is not None and record.state.startswith("failed"):
                state = record.state
            else:
                state = "idle"
            out.append(
                IndexStatus(
                    loc,
                    objects,
                    size,
                    record.crawled_at if record else None,
                    record.verified_at if record else None,
                    record.drift_added if record else 0,
                    record.drift_changed if record else 0,
                    record.drift_removed if record else 0,
                    state,
                )
            )
        return out
