"""Search and totals for one caller: only ever over the workspaces the workspaces service says the caller
can read, asked on every request with the revision of the last answer so that a revoked share hides
results on the very next search, and answered from the caller's cached list while nothing changed.

A filter naming a workspace, owner or node the caller cannot read (or that does not exist) matches
nothing: the answer is the same either way, so it reveals nothing. Malformed input is INVALID_ARGUMENT
naming the field. Page tokens are opaque, signed and lapse (services/common/pages.py): bound to the caller
and to the request's filters."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from services.common.errors import DomainError, Reason
from services.common.limits import check_count
from services.common.pages import KeyValue, PageTokens
from services.indexer.domain.models import (
    Location,
    ObjectRecord,
    SearchQuery,
    SortField,
    TotalsGroup,
)
from services.indexer.domain.ports import ObjectIndex, WorkspacesDirectory
from services.indexer.domain.querytext import parse

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
EXTENSION = re.compile(r"^[a-z0-9_+-]{1,32}$")


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    workspaces: tuple[str, ...] = ()  # owner/name, name or id
    owners: tuple[str, ...] = ()  # usernames
    nodes: tuple[str, ...] = ()  # node names or ids
    extensions: tuple[str, ...] = ()
    min_size: int = 0  # 0: no bound
    max_size: int = 0
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    sort: SortField = SortField.PATH
    descending: bool = False
    page_size: int = 0  # 0: DEFAULT_PAGE_SIZE
    page_token: str = ""


@dataclass(frozen=True)
class Hit:
    record: ObjectRecord
    location: Location


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    next_page_token: str


@dataclass(frozen=True)
class TotalsRow:
    key: str
    objects: int
    bytes: int


@dataclass(frozen=True)
class TotalsResult:
    rows: list[TotalsRow]
    objects: int
    bytes: int


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(Reason.INVALID_ARGUMENT, f"{field}: {message}", field=field)


def _normalized_extensions(extensions: tuple[str, ...]) -> tuple[str, ...]:
    check_count(extensions, "extensions")
    normalized = []
    for extension in extensions:
        value = extension.strip().lower().removeprefix(".")
        if not EXTENSION.match(value):
            raise _invalid("extensions", f"{extension!r} is not an extension (letters and digits, no dot)")
        normalized.append(value)
    return tuple(sorted(set(normalized)))


def validate(request: SearchRequest) -> None:
    """Raises INVALID_ARGUMENT naming the first malformed field."""
    parse(request.text)
    if request.min_size < 0:
        raise _invalid("min_size", "must not be negative")
    if request.max_size < 0:
        raise _invalid("max_size", "must not be negative")
    if request.max_size and request.min_size > request.max_size:
        raise _invalid("min_size", "is larger than max_size")
    if (
        request.modified_after
        and request.modified_before
        and request.modified_after >= request.modified_before
    ):
        raise _invalid("modified_after", "is not before modified_before")
    if not 0 <= request.page_size <= MAX_PAGE_SIZE:
        raise _invalid("page_size", f"must lie between 1 and {MAX_PAGE_SIZE}")
    for field in ("workspaces", "owners", "nodes"):
        check_count(getattr(request, field), field)
    _normalized_extensions(request.extensions)


def narrow(
    locations: tuple[Location, ...],
    workspaces: tuple[str, ...],
    owners: tuple[str, ...],
    nodes: tuple[str, ...],
) -> list[Location]:
    """The readable locations that every non-empty filter names; unknown names simply match nothing."""
    found = list(locations)
    if workspaces:
        wanted = set(workspaces)
        found = [
            loc
            for loc in found
            if loc.workspace_id in wanted
            or f"{loc.owner_username}/{loc.name}" in wanted
            or loc.name in wanted
        ]
    if owners:
        found = [loc for loc in found if loc.owner_username in set(owners)]
    if nodes:
        found = [loc for loc in found if loc.node_name in set(nodes) or loc.node_id in set(nodes)]
    return found


class SearchTokens:
    """Page tokens of SearchObjects (services/common/pages.py: signed, bound, lapsing): the position after
    the last record of a page, bound to the caller and to every filter of the request but the page size."""

    def __init__(self, secret_key: str) -> None:
        self._tokens = PageTokens(secret_key, "wio.indexer.v1.SearchObjects")

    @staticmethod
    def _filters(request: SearchRequest) -> list[object]:
        return [
            request.text,
            sorted(request.workspaces),
            sorted(request.owners),
            sorted(request.nodes),
            list(_normalized_extensions(request.extensions)),
            request.min_size,
            request.max_size,
            request.modified_after.isoformat() if request.modified_after else "",
            request.modified_before.isoformat() if request.modified_before else "",
            request.sort.value,
            request.descending,
        ]

    def make(self, user_id: str, request: SearchRequest, last: ObjectRecord) -> str:
        value: KeyValue
        if request.sort is SortField.PATH:
            value = last.path
        elif request.sort is SortField.SIZE:
            value = last.size
        else:
            value = last.modified_at
        last_key = (value, last.node_id, last.bucket, last.key)
        return self._tokens.make(user_id, self._filters(request), last_key)

    def read(self, user_id: str, request: SearchRequest) -> tuple[object, str, str, str]:
        key = self._tokens.read(user_id, self._filters(request), request.page_token)
        if len(key) != 4:
            raise DomainError(
                Reason.INVALID_PAGE_TOKEN, "page_token: not a token this service gave", field="page_token"
            )
        value, node_id, bucket, object_key = key
        return (value, str(node_id), str(bucket), str(object_key))


@dataclass
class _Cached:
    revision: str
    locations: tuple[Location, ...]


class ReadableCache:
    """The last answer per caller with its revision; every use asks the workspaces service whether that
    revision is still current (a cheap answer when it is)."""

    def __init__(self, directory: WorkspacesDirectory, size: int = 10_000) -> None:
        self._directory = directory
        self._size = size
        self._answers: OrderedDict[str, _Cached] = OrderedDict()

    async def readable(self, user_id: str) -> tuple[Location, ...]:
        cached = self._answers.get(user_id)
        answer = await self._directory.accessible(user_id, cached.revision if cached else "")
        if answer is not None:
            cached = _Cached(answer.revision, answer.locations)
            self._answers[user_id] = cached
        elif cached is None:  # "unchanged" for a revision never asked: answer nothing rather than guess
            return ()
        self._answers.move_to_end(user_id)
        while len(self._answers) > self._size:
            self._answers.popitem(last=False)
        return cached.locations


class IndexSearch:
    def __init__(self, index: ObjectIndex, readable: ReadableCache, secret_key: str) -> None:
        self._index = index
        self._readable = readable
        self._tokens = SearchTokens(secret_key)

    async def search(self, user_id: str, request: SearchRequest) -> SearchResult:
        validate(request)
        after = self._tokens.read(user_id, request) if request.page_token else None
        readable = await self._readable.readable(user_id)
        locations = {
            loc.workspace_id: loc
            for loc in narrow(readable, request.workspaces, request.owners, request.nodes)
        }
        if not locations:
            return SearchResult([], "")
        limit = request.page_size or DEFAULT_PAGE_SIZE
        page = await self._index.search(
            SearchQuery(
                workspace_ids=tuple(sorted(locations)),
                text=request.text,
                extensions=_normalized_extensions(request.extensions),
                min_size=request.min_size or None,
                max_size=request.max_size or None,
                modified_after=request.modified_after,
                modified_before=request.modified_before,
                sort=request.sort,
                descending=request.descending,
                limit=limit,
                after=after,
            )
        )
        hits = [Hit(r, locations[r.workspace_id]) for r in page.records if r.workspace_id in locations]
        token = (
            self._tokens.make(user_id, request, page.records[-1]) if page.has_more and page.records else ""
        )
        return SearchResult(hits, token)

    async def totals(self, user_id: str, group: TotalsGroup, workspaces: tuple[str, ...]) -> TotalsResult:
        check_count(workspaces, "workspaces")
        readable = await self._readable.readable(user_id)
        locations = {loc.workspace_id: loc for loc in narrow(readable, workspaces, (), ())}
        if not locations:
            return TotalsResult([], 0, 0)
        totals = await self._index.totals(sorted(locations), by_extension=group is TotalsGroup.EXTENSION)
        grouped: dict[str, list[int]] = {}
        if group is TotalsGroup.EXTENSION:
            for extension, (objects, size) in totals.by_extension.items():
                grouped[extension] = [objects, size]
        else:
            for workspace_id, (objects, size) in totals.by_workspace.items():
                loc = locations[workspace_id]
                key = {
                    TotalsGroup.WORKSPACE: f"{loc.owner_username}/{loc.name}",
                    TotalsGroup.OWNER: loc.owner_username,
                    TotalsGroup.NODE: loc.node_name,
                }[group]
                counts = grouped.setdefault(key, [0, 0])
                counts[0] += objects
                counts[1] += size
        rows = sorted(
            (TotalsRow(key, c[0], c[1]) for key, c in grouped.items()), key=lambda r: (-r.bytes, r.key)
        )
        objects = sum(n for n, _ in totals.by_workspace.values())
        size = sum(b for _, b in totals.by_workspace.values())
        return TotalsResult(rows, objects, size)
