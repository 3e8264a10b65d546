"""gRPC servicer of the indexer: proto <-> domain only. The crawl RPCs (IndexWorkspace, IndexRoot,
VerifyRoot, GetIndexStatus) answer UNIMPLEMENTED until the crawl is built."""

from __future__ import annotations

from grpc.aio import ServicerContext

from services.common.identity import require_caller
from services.indexer.convert import group_from, object_pb, search_request_from, totals_pb
from services.indexer.domain.search import IndexSearch
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc


class IndexerApi(indexer_pb2_grpc.IndexerServiceServicer):
    def __init__(self, search: IndexSearch) -> None:
        self.search = search

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
