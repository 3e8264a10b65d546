"""Domain values of the crawl <-> indexer protos."""

from __future__ import annotations

from services.common.proto import timestamp
from services.indexer.domain.crawl import Phase, Progress
from services.indexer.domain.status import IndexStatus
from wio.indexer.v1 import indexer_pb2

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
