"""The S3 side of the nodes service: node checks and bucket work with the node's own credentials.
Failures leave here as DomainErrors, through the one table in services/common/s3.py."""

from __future__ import annotations

from services.common.s3 import NodeCheckResult, S3Endpoint, S3Failure, S3Gateway, check_node
from services.nodes.domain.models import NodeSettings


class S3NodeConnector:
    def __init__(self, gateway: S3Gateway) -> None:
        self.gateway = gateway

    async def check(
        self, settings: NodeSettings, with_sts: bool = True, probe_case: bool = False
    ) -> NodeCheckResult:
        return await check_node(self.gateway, S3Endpoint.of(settings), with_sts, probe_case)

    async def bucket_exists(self, settings: NodeSettings, bucket: str) -> bool:
        try:
            return await self.gateway.bucket_exists(S3Endpoint.of(settings), bucket)
        except S3Failure as failure:
            raise failure.domain_error() from failure

    async def create_bucket(self, settings: NodeSettings, bucket: str) -> None:
        try:
            await self.gateway.create_bucket(S3Endpoint.of(settings), bucket)
        except S3Failure as failure:
            raise failure.domain_error() from failure

    def forget(self, settings: NodeSettings) -> None:
        self.gateway.forget(S3Endpoint.of(settings))
