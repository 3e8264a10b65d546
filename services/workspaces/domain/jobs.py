"""The S3 work that follows a workspace change, run by the service's job worker (services/common/jobs.py):
each job is written in the transaction of its change and is idempotent, so it may run again after a crash.

- MARKER puts the empty folder marker that makes a new managed workspace visible to S3 tools.
- PURGE removes a deleted workspace's objects, then sweeps once more after the longest credential lifetime
  (credentials issued before the delete may still write until then), then removes its row, which frees its
  name, and publishes `workspace.purged`. Data mapped by an unmanaged workspace is never touched."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.errors import DomainError, Reason
from services.workspaces.domain.ports import JobOutcome, Nodes, ObjectStore, Transactions

log = logging.getLogger(__name__)

MARKER = "workspace.marker"
PURGE = "workspace.purge"


def marker_job(workspace_id: str) -> dict[str, Any]:
    return {"workspace_id": workspace_id}


def purge_job(workspace_id: str, sweep_after: datetime) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "sweep_after": sweep_after.isoformat()}


class WorkspaceJobs:
    def __init__(
        self, transactions: Transactions, nodes: Nodes, store: ObjectStore, last_sweep_delay: timedelta
    ) -> None:
        self._tx = transactions
        self.nodes = nodes
        self.store = store
        # The longest lifetime of credentials this service issues: a delete sweeps again after it.
        self.last_sweep_delay = last_sweep_delay

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Awaitable[JobOutcome]]]:
        return {MARKER: self.marker, PURGE: self.purge}

    async def marker(self, payload: Mapping[str, Any]) -> JobOutcome:
        workspace = await self._tx.read(lambda repo: repo.workspace(str(payload["workspace_id"])))
        if workspace is None:
            return JobOutcome()  # deleted meanwhile: no marker to bring back
        access = await self.nodes.node(workspace.node_id)
        # Putting it twice is harmless.
        await self.store.put_marker(access, workspace.bucket, workspace.prefix)
        return JobOutcome()

    async def purge(self, payload: Mapping[str, Any]) -> JobOutcome:
        workspace_id = str(payload["workspace_id"])
        workspace = await self._tx.read(lambda repo: repo.deleting(workspace_id))
        if workspace is None:
            return JobOutcome()  # purged already
        deleted, sweep = 0, workspace.type != "unmanaged"
        if sweep:
            try:
                access = await self.nodes.node(workspace.node_id)
            except DomainError as error:
                if error.reason != Reason.NODE_NOT_FOUND:
                    raise
                # The node was removed from wio: nothing of it can be reached any more.
                log.warning(
                    "workspace %s: node %s is gone; purged without sweeping", workspace.id, workspace.node_id
                )
                sweep = False
        if sweep:
            deleted = await self.store.delete_prefix(access, workspace.bucket, workspace.prefix)
        sweep_after = datetime.fromisoformat(str(payload["sweep_after"]))
        if sweep and datetime.now(UTC) < sweep_after:
            return JobOutcome(again_at=sweep_after, objects_deleted=deleted)
        async with self._tx() as tx:
            if await tx.repo.purge_workspace(workspace_id):
                await tx.events.workspace_purged(workspace)
        return JobOutcome(objects_deleted=deleted)
