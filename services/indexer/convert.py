"""Proto <-> domain conversions of the indexer's API: search and totals, crawl progress and status."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import DomainError, Reason
from services.common.proto import time_from, timestamp
from services.indexer.domain.crawl import Phase, Progress
from services.indexer.domain.models import SortField, TotalsGroup
from services.indexer.domain.search import Hit, SearchRequest, TotalsResult
from services.indexer.domain.status import IndexStatus
from wio.indexer.v1 import indexer_pb2

SORTS: dict[int, SortField] = {
    indexer_pb2.SORT_FIELD_UNSPECIFIED: SortField.PATH,
    indexer_pb2.SORT_FIELD_PATH: SortField.PATH,
    indexer_pb2.SORT_FIELD_SIZE: SortField.SIZE,
    indexer_pb2.SORT_FIELD_MODIFIED: SortField.MODIFIED,
}
GROUPS: dict[int, TotalsGroup] = {
    indexer_pb2.TOTALS_GROUP_UNSPECIFIED: TotalsGroup.WORKSPACE,
    indexer_pb2.TOTALS_GROUP_WORKSPACE: TotalsGroup.WORKSPACE,
    indexer_pb2.TOTALS_GROUP_OWNER: TotalsGroup.OWNER,
    indexer_pb2.TOTALS_GROUP_NODE: TotalsGroup.NODE,
    indexer_pb2.TOTALS_GROUP_EXTENSION: TotalsGroup.EXTENSION,
}


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(Reason.INVALID_ARGUMENT, f"{field}: {message}", field=field)


def _time(request: indexer_pb2.SearchObjectsRequest, field: str) -> datetime | None:
    if not request.HasField(field):  # type: ignore[arg-type]
        return None
    stamp: Timestamp = getattr(request, field)
    return time_from(stamp, field)


def search_request_from(request: indexer_pb2.SearchObjectsRequest) -> SearchRequest:
    sort = SORTS.get(request.sort)
    if sort is None:
        raise _invalid("sort", "unknown sort field")
    return SearchRequest(
        text=request.query,
        workspaces=tuple(request.workspaces),
        owners=tuple(request.owners),
        nodes=tuple(request.nodes),
        extensions=tuple(request.extensions),
        min_size=request.min_size,
        max_size=request.max_size,
        modified_after=_time(request, "modified_after"),
        modified_before=_time(request, "modified_before"),
        sort=sort,
        descending=request.descending,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def group_from(value: int) -> TotalsGroup:
    group = GROUPS.get(value)
    if group is None:
        raise _invalid("group_by", "unknown grouping")
    return group


def object_pb(hit: Hit) -> indexer_pb2.ObjectRecord:
    record, loc = hit.record, hit.location
    return indexer_pb2.ObjectRecord(
        node_id=record.node_id,
        node_name=loc.node_name,
        bucket=record.bucket,
        key=record.key,
        workspace_id=record.workspace_id,
        workspace=f"{loc.owner_username}/{loc.name}",
        owner=loc.owner_username,
        path=record.path,
        name=record.name,
        extension=record.extension,
        size=record.size,
        etag=record.etag,
        modified_at=timestamp(record.modified_at),
        content_type=record.content_type,
    )


def totals_pb(result: TotalsResult) -> indexer_pb2.GetTotalsResponse:
    return indexer_pb2.GetTotalsResponse(
        rows=[indexer_pb2.TotalsRow(key=r.key, objects=r.objects, bytes=r.bytes) for r in result.rows],
        objects=result.objects,
        bytes=result.bytes,
    )


PHASES = {
    Phase.STARTING: indexer_pb2.CRAWL_PHASE_STARTING,
    Phase.LISTING: indexer_pb2.CRAWL_PHASE_LISTING,
    Phase.SWEEPING: indexer_pb2.CRAWL_PHASE_SWEEPING,
    Phase.FINISHED: indexer_pb2.CRAWL_PHASE_FINISHED,
    Phase.FAILED: indexer_pb2.CRAWL_PHASE_FAILED,
}


def progress_pb(progress: Progress) -> indexer_pb2.CrawlProgress:
    error = f"{progress.reason}: {progress.error}" if progress.reason else progress.error
    return indexer_pb2.CrawlProgress(
        crawl_id=progress.crawl_id,
        phase=PHASES[progress.phase],
        objects=progress.objects,
        bytes=progress.bytes,
        objects_per_second=progress.objects_per_second,
        resumed_after=progress.resumed_after,
        added=progress.added,
        changed=progress.changed,
        removed=progress.removed,
        error=error,
    )


def status_pb(status: IndexStatus) -> indexer_pb2.WorkspaceIndexStatus:
    loc = status.location
    return indexer_pb2.WorkspaceIndexStatus(
        workspace_id=loc.workspace_id,
        workspace=f"{loc.owner_username}/{loc.name}",
        node_name=loc.node_name,
        objects=status.objects,
        bytes=status.bytes,
        crawled_at=timestamp(status.crawled_at),
        verified_at=timestamp(status.verified_at),
        drift_added=status.drift_added,
        drift_changed=status.drift_changed,
        drift_removed=status.drift_removed,
        state=status.state,
    )
