"""S3 work on a node with the node's own credentials (folder markers, listings, deletes, AssumeRole), and
pre-signing with brokered credentials."""

from __future__ import annotations

import functools
from typing import Any

from services.common.errors import DomainError
from services.common.netguard import NetworkPolicy, node_networks
from services.common.s3 import S3Endpoint, S3Failure, S3FailureKind, S3Gateway
from services.workspaces.domain.ports import IssuedCredentials, NodeAccess


def _domain(failure: S3Failure) -> DomainError:
    return failure.domain_error("storage node")


class S3ObjectStore:
    """Every connection to a node goes to an address its networks allow (services/common/netguard.py):
    the admins' networks for a node an admin set up, the users' otherwise, as the nodes service checks
    them, so a node's name that later resolves elsewhere reaches nothing more from here."""

    def __init__(
        self,
        gateway: S3Gateway,
        user_networks: NetworkPolicy | None = None,
        admin_networks: NetworkPolicy | None = None,
    ) -> None:
        default_user, default_admin = node_networks()
        self.user_networks = user_networks or default_user
        self.admin_networks = admin_networks or default_admin
        self.gateway = gateway

    def _endpoint(self, node: NodeAccess) -> S3Endpoint:
        networks = self.admin_networks if node.admin_networks else self.user_networks
        return S3Endpoint.of(node, networks)

    async def put_marker(self, node: NodeAccess, bucket: str, key: str) -> None:
        client = self.gateway.client("s3", self._endpoint(node))
        try:
            await self.gateway.call(
                "put folder marker", lambda: client.put_object(Bucket=bucket, Key=key, Body=b"")
            )
        except S3Failure as failure:
            raise _domain(failure) from failure

    async def list_keys(self, node: NodeAccess, bucket: str, prefix: str, limit: int) -> list[str]:
        client = self.gateway.client("s3", self._endpoint(node))
        try:
            response = await self.gateway.call(
                "list objects", lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=limit)
            )
        except S3Failure as failure:
            raise _domain(failure) from failure
        return [item["Key"] for item in response.get("Contents", [])]

    async def delete_prefix(self, node: NodeAccess, bucket: str, prefix: str) -> int:
        client = self.gateway.client("s3", self._endpoint(node))
        deleted = 0
        try:
            while True:
                response = await self.gateway.call(
                    "list objects", lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
                )
                keys = [{"Key": item["Key"]} for item in response.get("Contents", [])]
                if not keys:
                    return deleted
                await self.gateway.call("delete objects", functools.partial(_delete, client, bucket, keys))
                deleted += len(keys)
        except S3Failure as failure:
            raise _domain(failure) from failure

    async def list_folders(self, node: NodeAccess, bucket: str, prefix: str) -> list[str]:
        client = self.gateway.client("s3", self._endpoint(node))
        folders: list[str] = []
        token: dict[str, str] = {}
        try:
            while True:
                response = await self.gateway.call(
                    "list folders",
                    functools.partial(
                        client.list_objects_v2, Bucket=bucket, Prefix=prefix, Delimiter="/", **token
                    ),
                )
                folders += [item["Prefix"] for item in response.get("CommonPrefixes", [])]
                if not response.get("IsTruncated"):
                    return folders
                token = {"ContinuationToken": response["NextContinuationToken"]}
        except S3Failure as failure:
            raise _domain(failure) from failure

    async def exists(self, node: NodeAccess, bucket: str, key: str) -> bool:
        client = self.gateway.client("s3", self._endpoint(node))
        try:
            await self.gateway.call(
                "head object", functools.partial(client.head_object, Bucket=bucket, Key=key)
            )
        except S3Failure as failure:
            if failure.kind is S3FailureKind.NOT_FOUND:
                return False
            raise _domain(failure) from failure
        return True

    async def presign_get_as(
        self, node: NodeAccess, credentials: IssuedCredentials, bucket: str, key: str, seconds: int
    ) -> str:
        client = self.gateway.session_client(
            self._endpoint(node), credentials.access_key, credentials.secret_key, credentials.session_token
        )
        # Signing is local: no request reaches the node. The URL carries X-Amz-Security-Token. Nothing
        # here signs with the node's own key: a URL signed so could not be revoked.
        return str(
            client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
            )
        )

    async def assume_role(
        self, node: NodeAccess, policy_text: str, seconds: int, session: str
    ) -> IssuedCredentials:
        try:
            issued = await self.gateway.assume_role(self._endpoint(node), policy_text, seconds, session)
        except S3Failure as failure:
            # Its own kind: a timeout stays NODE_TIMED_OUT, a refusal NODE_STS_FAILED.
            raise _domain(failure) from failure
        return IssuedCredentials(
            issued.access_key, issued.secret_key, issued.session_token, issued.expires_at
        )


def _delete(client: Any, bucket: str, keys: list[dict[str, str]]) -> Any:
    return client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
