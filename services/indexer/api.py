"""gRPC servicer of the indexer: proto <-> domain only.

The crawl RPCs stream progress: one report at most every PROGRESS_SECONDS and always the final one. The
crawl itself runs on without the stream: a caller who goes away stops following, not the crawl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc.aio import ServicerContext

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.indexer.convert import (
    group_from,
    object_pb,
    progress_pb,
    search_request_from,
    status_pb,
    totals_pb,
)
from services.indexer.domain.crawl import Crawler, Run
from services.indexer.domain.search import IndexSearch
from services.indexer.domain.status import IndexStatusReader, resolve
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc

PROGRESS_SECONDS = 0.5


def _root(value: str) -> str:
    root = value.strip()
    if not root:
        raise DomainError(Reason.INVALID_ARGUMENT, "name a root by its id")
    return root


class IndexerApi(indexer_pb2_grpc.IndexerServiceServicer):
    def __init__(
        self,
        search: IndexSearch,
        crawler: Crawler,
        status: IndexStatusReader,
        progress_seconds: float = PROGRESS_SECONDS,
    ) -> None:
        self.search = search
        self.crawler = crawler
        self.status = status
        self.progress_seconds = progress_seconds

    async def SearchObjects(
        self,
        request: indexer_pb2.SearchObjectsRequest,
        context: ServicerContext[indexer_pb2.SearchObjectsRequest, indexer_pb2.SearchObjectsResponse],
    ) -> indexer_pb2.SearchObjectsResponse:
        result = await self.search.search(require_caller().user_id, search_request_from(request))
        return indexer_pb2.SearchObjectsResponse(
            objects=[object_pb(hit) for hit in result.hits], next_page_token=result.next_page_token
        )

    async def GetTotals(
        self,
        request: indexer_pb2.GetTotalsRequest,
        context: ServicerContext[indexer_pb2.GetTotalsRequest, indexer_pb2.GetTotalsResponse],
    ) -> indexer_pb2.GetTotalsResponse:
        result = await self.search.totals(
            require_caller().user_id, group_from(request.group_by), tuple(request.workspaces)
        )
        return totals_pb(result)

    async def _follow(self, run: Run) -> AsyncIterator[indexer_pb2.CrawlProgress]:
        async for progress in run.follow(self.progress_seconds):
            yield progress_pb(progress)

    async def IndexWorkspace(
        self, request: indexer_pb2.IndexWorkspaceRequest, context: ServicerContext[Any, Any]
    ) -> AsyncIterator[indexer_pb2.IndexWorkspaceResponse]:
        caller = require_caller()
        location = resolve(request.workspace, await self.status.locations(caller.user_id), caller.user_id)
        run = await self.crawler.crawl_workspace(location.workspace_id, caller.user_id, caller.is_admin)
        async for progress in self._follow(run):
            yield indexer_pb2.IndexWorkspaceResponse(progress=progress)

    async def IndexRoot(
        self, request: indexer_pb2.IndexRootRequest, context: ServicerContext[Any, Any]
    ) -> AsyncIterator[indexer_pb2.IndexRootResponse]:
        caller = require_caller()
        run = await self.crawler.crawl_root(_root(request.root), caller.user_id, caller.is_admin)
        async for progress in self._follow(run):
            yield indexer_pb2.IndexRootResponse(progress=progress)

    async def VerifyRoot(
        self, request: indexer_pb2.VerifyRootRequest, context: ServicerContext[Any, Any]
    ) -> AsyncIterator[indexer_pb2.VerifyRootResponse]:
        caller = require_caller()
        run = await self.crawler.verify_root(_root(request.root), caller.user_id, caller.is_admin)
        async for progress in self._follow(run):
            yield indexer_pb2.VerifyRootResponse(progress=progress)

    async def GetIndexStatus(
        self,
        request: indexer_pb2.GetIndexStatusRequest,
        context: ServicerContext[indexer_pb2.GetIndexStatusRequest, indexer_pb2.GetIndexStatusResponse],
    ) -> indexer_pb2.GetIndexStatusResponse:
        caller = require_caller()
        found = await self.status.statuses(caller.user_id, request.workspace)
        return indexer_pb2.GetIndexStatusResponse(workspaces=[status_pb(s) for s in found])
