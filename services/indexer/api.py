"""gRPC servicer of the indexer's crawls: proto <-> domain only.

The crawl RPCs stream progress: one report at most every PROGRESS_SECONDS and always the final one. The
crawl itself runs on without the stream: a caller who goes away stops following, not the crawl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc.aio import ServicerContext

from services.common.errors import DomainError, Reason
from services.common.identity import require_caller
from services.indexer.convert import progress_pb, status_pb
from services.indexer.domain.crawl import Crawler, Run
from services.indexer.domain.status import IndexStatusReader, resolve
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc

PROGRESS_SECONDS = 0.5


def _root(value: str) -> str:
    root = value.strip()
    if not root:
        raise DomainError(Reason.INVALID_ARGUMENT, "name a root by its id")
    return root


class IndexerCrawlApi(indexer_pb2_grpc.IndexerServiceServicer):
    def __init__(
        self, crawler: Crawler, status: IndexStatusReader, progress_seconds: float = PROGRESS_SECONDS
    ) -> None:
        self.crawler = crawler
        self.status = status
        self.progress_seconds = progress_seconds

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
