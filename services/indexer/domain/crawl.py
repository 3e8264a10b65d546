"""Crawls and verifies: index a root or one workspace from a listing, and keep the index equal to it.

A crawl asks the workspaces service for list-only credentials (which also decides whether the asking user
may have it), begins or resumes its ledger entry, lists from the checkpoint, writes each page in bulk with
the crawl's generation while the lister fetches the next pages on its thread, checkpoints the last key
written, sweeps each workspace's prefix as soon as the listing has passed it (records of this prefix that
the crawl did not see and that no event touched since it started go), and finishes. A verify is the same
walk whose additions, changes and removals are drift: recorded per workspace and published.

One run per scope (kind, root, workspace) at a time: a second request for a running scope follows the
running one; crawls of one root (the root itself, a verify of it, a workspace in it) run one after the
other, since a sweep must not remove what an overlapping crawl of another generation just wrote.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from services.common.errors import DomainError, Reason
from services.indexer.domain.models import Location, ObjectRecord, WriteCounts, record_for
from services.indexer.domain.ports import (
    Crawl,
    CrawlLedger,
    Lister,
    ListingGrant,
    ObjectIndex,
    WorkspacesDirectory,
)

log = logging.getLogger(__name__)

CRAWL = "crawl"
VERIFY = "verify"


class Phase(StrEnum):
    STARTING = "starting"
    LISTING = "listing"
    SWEEPING = "sweeping"
    FINISHED = "finished"
    FAILED = "failed"


TERMINAL = frozenset({Phase.FINISHED, Phase.FAILED})


@dataclass(frozen=True)
class Progress:
    crawl_id: str = ""
    phase: Phase = Phase.STARTING
    objects: int = 0
    bytes: int = 0
    objects_per_second: float = 0.0
    resumed_after: str = ""
    added: int = 0
    changed: int = 0
    removed: int = 0
    error: str = ""  # the message when FAILED
    reason: str = ""  # the stable reason code when FAILED

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL


@dataclass(frozen=True)
class Scope:
    kind: str  # CRAWL or VERIFY
    root_id: str  # "" for a workspace crawl asked by workspace
    workspace_id: str  # "" for a root


@dataclass
class WorkspaceOutcome:
    """What one crawl did to one workspace's records."""

    workspace_id: str
    root_id: str
    node_id: str
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def drift(self) -> int:
        return self.added + self.changed + self.removed


@dataclass(frozen=True)
class WorkspaceStatus:
    workspace_id: str
    crawled_at: datetime | None
    verified_at: datetime | None
    drift_added: int
    drift_changed: int
    drift_removed: int
    state: str  # as the ledger last recorded it: "idle", "crawling" or "failed: <reason>"


class CrawlRecords(Protocol):
    """Per-workspace results of crawls, kept with the ledger (what `wio index status` shows)."""

    async def workspace_finished(self, kind: str, outcome: WorkspaceOutcome) -> None:
        """Crawled (or verified, with its drift) now: for each workspace of a root crawl."""
        ...

    async def statuses(self, workspace_ids: Sequence[str]) -> dict[str, WorkspaceStatus]: ...

    async def roots_due(self, before: datetime) -> list[str]:
        """Roots the indexer has crawled whose last finished crawl or verify of the whole root is older
        than `before` (or that never finished one)."""
        ...


class CrawlEvents(Protocol):
    async def started(self, crawl: Crawl) -> None: ...
    async def finished(
        self, crawl: Crawl, objects: int, bytes_: int, counts: WriteCounts, removed: int
    ) -> None: ...
    async def failed(self, crawl: Crawl, reason: str, message: str) -> None: ...
    async def drift_found(self, crawl: Crawl, outcome: WorkspaceOutcome, verified_at: datetime) -> None: ...


# Events go out through the outbox, each batch in a transaction of its own.
EventsWriter = Callable[[], AbstractAsyncContextManager[CrawlEvents]]

# Failures after which a crawl is given up (its scope is gone or the asker may not have it); after any
# other (a node down, refusing, slow) it stays unfinished in the ledger and resumes from its checkpoint.
GIVE_UP = frozenset(
    {
        Reason.WORKSPACE_NOT_FOUND,
        Reason.ROOT_NOT_FOUND,
        Reason.NODE_NOT_FOUND,
        Reason.PERMISSION_DENIED,
        Reason.NODE_OPERATOR_REQUIRED,
        Reason.INVALID_ARGUMENT,
        Reason.BUCKET_NOT_FOUND,
    }
)


class Run:
    """One running crawl: its latest progress, for any number of followers, and its task."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.progress = Progress()
        self.locations: tuple[Location, ...] = ()
        self._version = 0
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    def publish(self, progress: Progress) -> None:
        self.progress = progress
        self._version += 1
        changed, self._changed = self._changed, asyncio.get_running_loop().create_future()
        changed.set_result(None)

    async def wait(self) -> Progress:
        """The final progress (FINISHED or FAILED)."""
        while not self.progress.done:
            await asyncio.shield(self._changed)
        return self.progress

    async def follow(self, every: float = 0.5) -> AsyncIterator[Progress]:
        """The progress as it goes, at most once per `every` seconds, and always the final one."""
        loop = asyncio.get_running_loop()
        sent, last = -1, float("-inf")
        while True:
            version, progress = self._version, self.progress
            if version != sent and (progress.done or loop.time() - last >= every):
                yield progress
                sent, last = version, loop.time()
                if progress.done:
                    return
                continue
            timeout = None if version == sent else max(0.0, every - (loop.time() - last))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._changed)


class _Mapper:
    """Which workspace a listed key belongs to; workspaces never overlap, so the last prefix not after the
    key is the only candidate."""

    def __init__(self, locations: Iterable[Location]) -> None:
        self.locations = sorted(locations, key=lambda loc: loc.prefix)
        self.prefixes = [loc.prefix for loc in self.locations]

    def location(self, key: str) -> Location | None:
        i = bisect.bisect_right(self.prefixes, key) - 1
        if i >= 0 and key.startswith(self.prefixes[i]):
            return self.locations[i]
        return None


def passed(prefix: str, key: str) -> bool:
    """Whether a listing in key order that has reached `key` is done with every key under `prefix`."""
    return key > prefix and not key.startswith(prefix)


@dataclass
class _Walk:
    """The counters of one run of a crawl."""

    objects: int
    bytes: int
    after: str
    started: float = field(default_factory=time.monotonic)
    listed_here: int = 0
    counts: dict[str, WorkspaceOutcome] = field(default_factory=dict)
    removed_outside: int = 0

    def totals(self) -> tuple[WriteCounts, int]:
        added = sum(o.added for o in self.counts.values())
        changed = sum(o.changed for o in self.counts.values())
        removed = sum(o.removed for o in self.counts.values()) + self.removed_outside
        return WriteCounts(added=added, changed=changed), removed


@dataclass
class _Written:
    """What the writes of one page did."""

    objects: int = 0
    bytes: int = 0
    counts: dict[str, tuple[Location, WriteCounts]] = field(default_factory=dict)


@dataclass(frozen=True)
class CrawlSettings:
    # A checkpoint after every this many pages written.
    checkpoint_pages: int = 1
    # Pages written at once (the database works on one while the next is sent); checkpoints still
    # advance in key order only.
    writers: int = 2
    # Credentials are renewed when they have less than this left.
    renew_margin: timedelta = timedelta(seconds=120)


class Crawler:
    """Starts, resumes and follows crawls. `crawl_root`, `crawl_workspace` and `verify_root` authorize
    (through the listing grant) and answer the Run at once; the crawl goes on without any follower."""

    def __init__(
        self,
        index: ObjectIndex,
        ledger: CrawlLedger,
        directory: WorkspacesDirectory,
        lister: Lister,
        records: CrawlRecords,
        events: EventsWriter,
        settings: CrawlSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.index = index
        self.ledger = ledger
        self.directory = directory
        self.lister = lister
        self.records = records
        self.events = events
        self.settings = settings or CrawlSettings()
        self.now = now
        # Why the last crawl covering a workspace failed, until one finishes (the ledger keeps such a
        # crawl unfinished, to resume it).
        self.failures: dict[str, str] = {}
        self._runs: dict[Scope, Run] = {}
        self._root_locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    # Entry points --------------------------------------------------------------------------------------

    async def crawl_root(self, root_id: str, on_behalf_of: str = "", admin: bool = False) -> Run:
        return await self.start(Scope(CRAWL, root_id, ""), on_behalf_of, admin)

    async def verify_root(self, root_id: str, on_behalf_of: str = "", admin: bool = False) -> Run:
        return await self.start(Scope(VERIFY, root_id, ""), on_behalf_of, admin)

    async def crawl_workspace(self, workspace_id: str, on_behalf_of: str = "", admin: bool = False) -> Run:
        return await self.start(Scope(CRAWL, "", workspace_id), on_behalf_of, admin)

    async def start(self, scope: Scope, on_behalf_of: str = "", admin: bool = False) -> Run:
        """The run of `scope`: the running one (the caller follows it) or a new one. The grant is asked
        for either way: it is what says whether this caller may have the crawl."""
        if not (scope.root_id or scope.workspace_id):
            raise DomainError(Reason.INVALID_ARGUMENT, "a crawl needs a root or a workspace")
        if self._closed:
            raise DomainError(Reason.DEPENDENCY_UNAVAILABLE, "the indexer is stopping")
        grant = await self.directory.listing_grant(scope.root_id, scope.workspace_id, on_behalf_of, admin)
        running = self._runs.get(scope)
        if running is not None and not running.progress.done:
            return running
        run = Run(scope)
        run.locations = grant.locations
        self._runs[scope] = run
        run.task = asyncio.create_task(self._execute(run, grant), name=f"crawl {scope}")
        run.task.add_done_callback(lambda _t: self._forget(run))
        return run

    def _forget(self, run: Run) -> None:
        if self._runs.get(run.scope) is run:
            del self._runs[run.scope]

    def running(self) -> list[Run]:
        return [run for run in self._runs.values() if not run.progress.done]

    async def resume_unfinished(self) -> list[Run]:
        """The crawls the ledger says did not finish (a crash, a stop, a failure) go on from their
        checkpoints, as the indexer's own work."""
        runs = []
        for crawl in await self.ledger.unfinished():
            root_id = "" if crawl.workspace_id else crawl.root_id
            scope = Scope(crawl.kind, root_id, crawl.workspace_id)
            try:
                runs.append(await self.start(scope))
            except DomainError as error:
                log.warning("crawl %s cannot resume: %s %s", crawl.id, error.reason, error.message)
                if crawl.workspace_id:
                    self.failures[crawl.workspace_id] = f"{error.reason}: {error.message}"
                if error.reason in GIVE_UP:
                    with contextlib.suppress(Exception):
                        await self.ledger.fail(crawl.id, f"{error.reason}: {error.message}")
        return runs

    async def close(self) -> None:
        """Stops the running crawls where they are: the ledger keeps them unfinished, and they resume
        from their checkpoints on the next start."""
        self._closed = True
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # The walk ------------------------------------------------------------------------------------------

    def _lock(self, root_id: str) -> asyncio.Lock:
        return self._root_locks.setdefault(root_id, asyncio.Lock())

    async def _execute(self, run: Run, grant: ListingGrant) -> None:
        scope = run.scope
        async with self._lock(grant.root_id):
            crawl: Crawl | None = None
            try:
                crawl = await self.ledger.begin(
                    scope.kind, grant.root_id, scope.workspace_id, grant.node_id, grant.bucket, grant.prefix
                )
                walk = _Walk(crawl.objects, crawl.bytes, crawl.resume_after)
                run.publish(
                    Progress(
                        crawl.id,
                        Phase.LISTING,
                        crawl.objects,
                        crawl.bytes,
                        resumed_after=crawl.resume_after,
                    )
                )
                async with self.events() as events:
                    await events.started(crawl)
                await self._walk(run, crawl, grant, walk)
            except asyncio.CancelledError:
                raise  # stopping: the crawl stays unfinished and resumes on the next start
            except Exception as exc:
                error = (
                    exc if isinstance(exc, DomainError) else DomainError(Reason.INTERNAL, "internal error")
                )
                if not isinstance(exc, DomainError):
                    log.exception("crawl of %s failed", scope)
                await self._failed(run, crawl, grant, error)

    async def _failed(self, run: Run, crawl: Crawl | None, grant: ListingGrant, error: DomainError) -> None:
        failure = f"{error.reason}: {error.message}"
        for location in grant.locations:
            self.failures[location.workspace_id] = failure
        try:
            if crawl is not None and error.reason in GIVE_UP:
                await self.ledger.fail(crawl.id, failure)
            if crawl is not None:
                async with self.events() as events:
                    await events.failed(crawl, str(error.reason), error.message)
        except Exception:
            log.exception("recording the failure of crawl %s failed", crawl.id if crawl else run.scope)
        run.publish(replace(run.progress, phase=Phase.FAILED, error=error.message, reason=str(error.reason)))

    def _report(self, run: Run, crawl: Crawl, walk: _Walk, phase: Phase) -> None:
        counts, removed = walk.totals()
        elapsed = time.monotonic() - walk.started
        run.publish(
            Progress(
                crawl.id,
                phase,
                walk.objects,
                walk.bytes,
                walk.listed_here / elapsed if elapsed > 0 else 0.0,
                crawl.resume_after,
                counts.added,
                counts.changed,
                removed,
            )
        )

    def _outcome(self, walk: _Walk, location: Location) -> WorkspaceOutcome:
        outcome = walk.counts.get(location.workspace_id)
        if outcome is None:
            outcome = WorkspaceOutcome(location.workspace_id, location.root_id, location.node_id)
            walk.counts[location.workspace_id] = outcome
        return outcome

    async def _sweep(self, crawl: Crawl, walk: _Walk, location: Location) -> None:
        removed = await self.index.sweep(
            location.node_id, location.bucket, location.prefix, crawl.generation, crawl.started_at
        )
        self._outcome(walk, location).removed += removed

    async def _walk(self, run: Run, crawl: Crawl, grant: ListingGrant, walk: _Walk) -> None:
        mapper = _Mapper(grant.locations)
        # Workspaces not swept yet, in key order; those the listing had passed before a resume are
        # swept again at once (a sweep is idempotent).
        unswept = list(mapper.locations)
        for location in unswept:
            self._outcome(walk, location)
        while unswept and passed(unswept[0].prefix, walk.after):
            await self._sweep(crawl, walk, unswept.pop(0))
        pages = 0
        renewed = False
        # Pages being written, in key order: up to `writers` at once; each is settled (counted,
        # checkpointed, swept past) only once it and every page before it are written.
        inflight: deque[tuple[asyncio.Task[_Written], str]] = deque()

        async def settle_oldest() -> None:
            nonlocal pages
            task, last_key = inflight.popleft()
            written = await task
            for location, counts in written.counts.values():
                outcome = self._outcome(walk, location)
                outcome.added += counts.added
                outcome.changed += counts.changed
            walk.objects += written.objects
            walk.bytes += written.bytes
            walk.after = last_key
            pages += 1
            if pages % self.settings.checkpoint_pages == 0:
                await self.ledger.checkpoint(crawl.id, walk.after, walk.objects, walk.bytes)
            while unswept and passed(unswept[0].prefix, walk.after):
                await self._sweep(crawl, walk, unswept.pop(0))
            self._report(run, crawl, walk, Phase.LISTING)

        try:
            while True:
                if self._expiring(grant):
                    grant = await self._renew(run, grant)
                try:
                    stream = self.lister.pages(grant, grant.prefix, walk.after)
                    complete = True
                    try:
                        async for page in stream:
                            if not page:
                                continue
                            walk.listed_here += len(page)
                            task = asyncio.ensure_future(self._write(crawl, mapper, page))
                            inflight.append((task, page[-1].key))
                            while len(inflight) >= self.settings.writers:
                                await settle_oldest()
                            renewed = False
                            if self._expiring(grant):
                                complete = False  # renew, then list on from the last key written
                                break
                        while inflight:
                            await settle_oldest()
                    finally:
                        # Stop the listing's thread now, not when the stream is collected.
                        close = getattr(stream, "aclose", None)
                        if close is not None:
                            await close()
                    if complete:
                        break
                except DomainError as error:
                    # Credentials may lapse or be revoked mid-listing: what was listed is written, then
                    # one new grant and on from the last key written; a second refusal in a row is the
                    # crawl's failure.
                    if error.reason != Reason.NODE_CREDENTIALS_REFUSED or renewed:
                        raise
                    while inflight:
                        await settle_oldest()
                    grant = await self._renew(run, grant)
                    renewed = True
        finally:
            for task, _key in inflight:
                task.cancel()
            await asyncio.gather(*(task for task, _key in inflight), return_exceptions=True)
        await self.ledger.checkpoint(crawl.id, walk.after, walk.objects, walk.bytes)
        self._report(run, crawl, walk, Phase.SWEEPING)
        for location in unswept:
            await self._sweep(crawl, walk, location)
        if not crawl.workspace_id:
            # Anything else under the root that this crawl did not see (e.g. a workspace that is gone).
            walk.removed_outside = await self.index.sweep(
                crawl.node_id, crawl.bucket, crawl.prefix, crawl.generation, crawl.started_at
            )
        await self._finish(run, crawl, walk)

    async def _write(self, crawl: Crawl, mapper: _Mapper, page: Sequence[Any]) -> _Written:
        """One page in bulk writes (one per workspace it touches); what it wrote."""
        groups: dict[str, tuple[Location, list[ObjectRecord]]] = {}
        for listed in page:
            location = mapper.location(listed.key)
            if location is None:
                continue
            record = record_for(location, listed.key, listed.size, listed.etag, listed.modified_at)
            if record is None:
                continue
            groups.setdefault(location.workspace_id, (location, []))[1].append(record)
        written = _Written()
        for workspace_id, (location, records) in groups.items():
            written.counts[workspace_id] = (location, await self.index.write(records, crawl.generation))
            written.objects += len(records)
            written.bytes += sum(r.size for r in records)
        return written

    def _expiring(self, grant: ListingGrant) -> bool:
        return grant.expires_at - self.now() < self.settings.renew_margin

    async def _renew(self, run: Run, grant: ListingGrant) -> ListingGrant:
        scope = run.scope
        fresh = await self.directory.listing_grant(scope.root_id, scope.workspace_id, "", False)
        if (fresh.node_id, fresh.bucket, fresh.prefix) != (grant.node_id, grant.bucket, grant.prefix):
            raise DomainError(Reason.NODE_REFUSED, "the scope of the crawl moved while it ran")
        return fresh

    async def _finish(self, run: Run, crawl: Crawl, walk: _Walk) -> None:
        counts, removed = walk.totals()
        at = self.now()
        outcomes = list(walk.counts.values())
        if not crawl.workspace_id:
            # The ledger records a workspace crawl's status itself, a root crawl's per workspace here.
            for outcome in outcomes:
                await self.records.workspace_finished(crawl.kind, outcome)
        await self.ledger.finish(crawl, counts, removed)
        for outcome in outcomes:
            self.failures.pop(outcome.workspace_id, None)
        async with self.events() as events:
            await events.finished(crawl, walk.objects, walk.bytes, counts, removed)
            if crawl.kind == VERIFY:
                for outcome in outcomes:
                    if outcome.drift:
                        await events.drift_found(crawl, outcome, at)
        self._report(run, crawl, walk, Phase.FINISHED)
