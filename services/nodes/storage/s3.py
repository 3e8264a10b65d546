"""The S3 side of the nodes service: node checks and bucket work with the node's own credentials.
Failures leave here as DomainErrors, through the one table in services/common/s3.py."""

from __future__ import annotations

from services.common.netguard import NetworkPolicy
from services.common.s3 import NodeCheckResult, S3Endpoint, S3Failure, S3Gateway, check_node
from services.nodes.domain.models import NodeSettings


class S3NodeConnector:
    """Every connection to a node goes to an address its networks allow: the admins' networks for a
    node an admin set up, the users' otherwise (checked per connection: services/common/netguard.py)."""

    def __init__(
        self, gateway: S3Gateway, user_networks: NetworkPolicy, admin_networks: NetworkPolicy
    ) -> None:
        self.gateway = gateway
        self.user_networks = user_networks
        self.admin_networks = admin_networks

    def _endpoint(self, settings: NodeSettings) -> S3Endpoint:
        networks = self.admin_networks if settings.admin_networks else self.user_networks
        return S3Endpoint.of(settings, networks)

    @property
    def timeout_seconds(self) -> float:
        return self.gateway.timeout_seconds

    async def check(
        self, settings: NodeSettings, with_sts: bool = True, probe_case: bool = False
    ) -> NodeCheckResult:
        return await check_node(self.gateway, self._endpoint(settings), with_sts, probe_case)

    async def bucket_exists(self, settings: NodeSettings, bucket: str) -> bool:
        try:
            return await self.gateway.bucket_exists(self._endpoint(settings), bucket)
        except S3Failure as failure:
            raise failure.domain_error() from failure

    async def create_bucket(self, settings: NodeSettings, bucket: str) -> None:
        try:
            await self.gateway.create_bucket(self._endpoint(settings), bucket)
        except S3Failure as failure:
            raise failure.domain_error() from failure

    def forget(self, settings: NodeSettings) -> None:
        self.gateway.forget(self._endpoint(settings))
