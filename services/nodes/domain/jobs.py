"""The S3 work that follows a nodes change, run by the service's job worker (services/common/jobs.py) after
the commit instead of inside its transaction: creating the bucket of a new managed root. Idempotent: a
bucket that exists already (made by an earlier run, or by someone else) is left alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.nodes.domain.ports import JobOutcome, NodeConnector, Transactions

BUCKET = "root.bucket"


def bucket_job(root_id: str) -> dict[str, Any]:
    return {"root_id": root_id}


class NodeJobs:
    def __init__(self, transactions: Transactions, connector: NodeConnector) -> None:
        self._tx = transactions
        self.connector = connector

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Awaitable[JobOutcome]]]:
        return {BUCKET: self.create_bucket}

    async def create_bucket(self, payload: Mapping[str, Any]) -> JobOutcome:
        async with self._tx() as tx:
            root = await tx.repo.root(str(payload["root_id"]))
            node = await tx.repo.node_by_id(root.node_id) if root is not None else None
        if root is None or node is None:
            return JobOutcome()  # removed meanwhile
        if await self.connector.bucket_exists(node.settings, root.bucket):
            return JobOutcome()
        await self.connector.create_bucket(node.settings, root.bucket)
        return JobOutcome(bucket_created=True)
