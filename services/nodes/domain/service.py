"""The node and root use cases. Who may do what with a node is decided here."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.common.s3 import NodeCheckResult
from services.nodes.domain import rules
from services.nodes.domain.jobs import BUCKET, bucket_job
from services.nodes.domain.models import ROOT_TYPES, Creator, Node, NodeSettings, Root
from services.nodes.domain.ports import (
    Directory,
    Jobs,
    NodeConnector,
    NodesRepository,
    RootUsage,
    Transactions,
)

# Fields an update may change; the connection ones are checked against the node before they are stored.
UPDATABLE = (
    "name",
    "endpoint",
    "region",
    "access_key",
    "secret_key",
    "sts_endpoint",
    "role_arn",
    "max_credential_seconds",
    "policy_size_limit",
)
CONNECTION_FIELDS = {"endpoint", "region", "access_key", "secret_key", "sts_endpoint", "role_arn"}


def _now() -> datetime:
    return datetime.now(UTC)


def status_of(check: NodeCheckResult, degraded_latency_ms: float) -> tuple[str, str]:
    """A probe's outcome as a status and a detail line."""
    if check.failure is not None and not check.reachable:
        return "offline", check.failure.message
    if check.failure is not None:
        return "degraded", check.failure.message
    if check.latency_ms > degraded_latency_ms:
        return "degraded", f"slow: {check.latency_ms:.0f} ms"
    return "online", ""


def refuse_failed_check(check: NodeCheckResult) -> None:
    if check.failure is not None:
        raise check.failure.domain_error("node check failed")


class NodesService:
    def __init__(
        self,
        transactions: Transactions,
        connector: NodeConnector,
        directory: Directory,
        usage: RootUsage,
        jobs: Jobs,
        degraded_latency_ms: float = 2000.0,
    ) -> None:
        self._tx = transactions
        self.jobs = jobs
        self.connector = connector
        self.directory = directory
        self.usage = usage
        self.degraded_latency_ms = degraded_latency_ms

    # --- helpers --------------------------------------------------------------------------------------

    async def _node(self, repo: NodesRepository, ref: str) -> Node:
        node = await repo.node(ref.strip())
        if node is None:
            raise DomainError(Reason.NODE_NOT_FOUND, f"no node {ref!r}")
        return node

    @staticmethod
    def _check_operator(caller: Caller, node: Node) -> None:
        if not (caller.is_admin or caller.user_id == node.operator_id):
            raise DomainError(
                Reason.NODE_OPERATOR_REQUIRED, f"only the operator of {node.name!r} or an admin may do this"
            )

    @staticmethod
    def is_operator(caller: Caller, node: Node) -> bool:
        return caller.is_admin or caller.user_id == node.operator_id

    # --- nodes ----------------------------------------------------------------------------------------

    async def register_node(self, caller: Caller, settings: NodeSettings) -> tuple[Node, NodeCheckResult]:
        settings = rules.check_node_settings(settings)
        async with self._tx() as tx:
            if await tx.repo.node(settings.name) is not None:
                raise DomainError(Reason.NODE_NAME_TAKEN, f"node {settings.name!r} exists", field="name")
        # Talk to the node outside any transaction; nothing is stored unless it passes.
        check = await self.connector.check(settings)
        refuse_failed_check(check)
        status, detail = status_of(check, self.degraded_latency_ms)
        now = _now()
        node = Node(
            id=str(uuid.uuid4()),
            settings=settings,
            operator_id=caller.user_id,
            operator_username=caller.username,
            created_at=now,
            status=status,
            status_detail=detail,
            last_seen_at=now,
            latency_ms=check.latency_ms,
        )
        async with self._tx() as tx:
            await tx.repo.add_node(node)
            await tx.events.node_registered(node)
        return node, check

    async def list_nodes(self) -> list[Node]:
        async with self._tx() as tx:
            return await tx.repo.list_nodes()

    async def get_node(self, caller: Caller, ref: str) -> Node:
        async with self._tx() as tx:
            node = await self._node(tx.repo, ref)
        self._check_operator(caller, node)
        return node

    async def check_node(self, caller: Caller, ref: str) -> tuple[Node, NodeCheckResult]:
        node = await self.get_node(caller, ref)
        check = await self.connector.check(node.settings)
        node = await self.record_probe(node.id, check)
        return node, check

    async def record_probe(self, node_id: str, check: NodeCheckResult) -> Node:
        """Store a probe's outcome; a change of status is an event."""
        status, detail = status_of(check, self.degraded_latency_ms)
        async with self._tx() as tx:
            node = await tx.repo.node_by_id(node_id)
            if node is None:
                raise DomainError(Reason.NODE_NOT_FOUND, "the node was removed")
            seen = _now() if check.reachable else node.last_seen_at
            await tx.repo.set_status(node.id, status, detail, check.latency_ms, seen)
            if status != node.status:
                await tx.events.status_changed(node, node.status, status, detail)
            return dataclasses.replace(
                node, status=status, status_detail=detail, latency_ms=check.latency_ms, last_seen_at=seen
            )

    async def update_node(
        self, caller: Caller, ref: str, changes: dict[str, object]
    ) -> tuple[Node, NodeCheckResult | None]:
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise DomainError(
                Reason.INVALID_ARGUMENT, f"cannot update {', '.join(sorted(unknown))}", field="update_mask"
            )
        if not changes:
            raise DomainError(
                Reason.INVALID_ARGUMENT, "name at least one field to update", field="update_mask"
            )
        node = await self.get_node(caller, ref)
        settings = rules.check_node_settings(dataclasses.replace(node.settings, **changes))  # type: ignore[arg-type]
        if settings.name != node.name:
            async with self._tx() as tx:
                if await tx.repo.node(settings.name) is not None:
                    raise DomainError(Reason.NODE_NAME_TAKEN, f"node {settings.name!r} exists", field="name")
        check: NodeCheckResult | None = None
        if CONNECTION_FIELDS & set(changes):
            check = await self.connector.check(settings)
            refuse_failed_check(check)
        async with self._tx() as tx:
            updated = await tx.repo.update_settings(node.id, settings)
            await tx.events.node_updated(updated, sorted(changes))
        self.connector.forget(node.settings)
        return updated, check

    async def delete_node(self, caller: Caller, ref: str) -> None:
        async with self._tx() as tx:
            node = await self._node(tx.repo, ref)
            self._check_operator(caller, node)
            await tx.repo.lock_node_roots(node.id)
            if await tx.repo.list_roots(node.id):
                raise DomainError(
                    Reason.NODE_HAS_ROOTS, f"node {node.name!r} still has roots: remove them first"
                )
            await tx.repo.delete_node(node.id)
            await tx.events.node_removed(node)
        self.connector.forget(node.settings)

    # --- roots ----------------------------------------------------------------------------------------

    async def _creators(self, names: list[str]) -> tuple[Creator, ...]:
        found: list[Creator] = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            creator = await (
                self.directory.group(name[6:]) if name.startswith("group:") else self.directory.user(name)
            )
            if creator not in found:
                found.append(creator)
        return tuple(found)

    async def create_root(
        self, caller: Caller, node_ref: str, bucket: str, base_prefix: str, root_type: str, allowed: list[str]
    ) -> tuple[Root, bool]:
        if root_type not in ROOT_TYPES:
            raise DomainError(
                Reason.INVALID_ARGUMENT, f"type must be one of {', '.join(ROOT_TYPES)}", field="type"
            )
        rules.check_bucket(bucket)
        prefix = rules.normalize_prefix(base_prefix)
        creators = await self._creators(allowed)
        async with self._tx() as tx:
            node = await self._node(tx.repo, node_ref)
        self._check_operator(caller, node)
        # S3 is asked before the transaction, never inside it; a bucket to create is a job of the commit.
        exists = await self.connector.bucket_exists(node.settings, bucket)
        if root_type == "unmanaged" and not exists:
            raise DomainError(Reason.BUCKET_NOT_FOUND, f"bucket {bucket!r} does not exist on {node.name}")
        async with self._tx() as tx:
            node = await self._node(tx.repo, node.id)
            # Serialize root creation per node so two overlapping roots cannot both pass the check.
            await tx.repo.lock_node_roots(node.id)
            clash = rules.find_overlap(bucket, prefix, await tx.repo.list_roots(node.id))
            if clash is not None:
                raise DomainError(
                    Reason.ROOT_OVERLAPS,
                    f"overlaps root {clash.id} ({clash.bucket}/{clash.base_prefix}) on node {node.name}",
                )
            root = Root(
                id=str(uuid.uuid4()),
                node_id=node.id,
                node_name=node.name,
                bucket=bucket,
                base_prefix=prefix,
                type=root_type,
                created_by=caller.user_id,
                created_at=_now(),
                allowed_creators=creators,
            )
            await tx.repo.add_root(root)
            await tx.events.root_created(root)
            job = await tx.repo.add_job(BUCKET, bucket_job(root.id)) if not exists else ""
        # Made now if the node takes it, else by the job worker as soon as it does.
        outcome = await self.jobs.run_now(job) if job else None
        return root, outcome is not None and outcome.bucket_created

    async def list_roots(self, node_ref: str) -> list[Root]:
        async with self._tx() as tx:
            node_id = (await self._node(tx.repo, node_ref)).id if node_ref else None
            return await tx.repo.list_roots(node_id)

    async def _root(self, repo: NodesRepository, root_id: str) -> Root:
        root = await repo.root(root_id.strip())
        if root is None:
            raise DomainError(Reason.ROOT_NOT_FOUND, f"no root {root_id!r}")
        return root

    async def get_root(self, root_id: str) -> Root:
        async with self._tx() as tx:
            return await self._root(tx.repo, root_id)

    async def delete_root(self, caller: Caller, root_id: str) -> None:
        async with self._tx() as tx:
            root = await self._root(tx.repo, root_id)
            node = await self._node(tx.repo, root.node_id)
        self._check_operator(caller, node)
        in_use = await self.usage.workspaces_in(root.id)
        if in_use:
            raise DomainError(
                Reason.ROOT_IN_USE, f"root {root.id} still holds {in_use} workspace(s): delete them first"
            )
        async with self._tx() as tx:
            await tx.repo.delete_root(root.id)
            await tx.events.root_removed(root)

    # --- internal -------------------------------------------------------------------------------------

    async def node_access(self, node_id: str) -> Node:
        async with self._tx() as tx:
            node = await tx.repo.node_by_id(node_id)
        if node is None:
            raise DomainError(Reason.NODE_NOT_FOUND, f"no node {node_id!r}")
        return node

    async def root_access(self, root_id: str) -> tuple[Root, Node]:
        async with self._tx() as tx:
            root = await self._root(tx.repo, root_id)
            node = await self._node(tx.repo, root.node_id)
        return root, node
