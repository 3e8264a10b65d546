"""The node and root use cases. Who may do what with a node is decided here."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.common.limits import check_count
from services.common.pages import Page, PageRequest, PageTokens, page_limit
from services.common.s3 import NodeCheckResult, S3Failure, S3FailureKind
from services.nodes.domain import hooks, rules
from services.nodes.domain.jobs import BUCKET, bucket_job
from services.nodes.domain.models import ROOT_TYPES, Capabilities, Creator, Node, NodeSettings, Root
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


def _same_endpoint(endpoint: str, nodes: list[Node]) -> list[Node]:
    """The nodes registered at this endpoint (compared normalized: rules.endpoint_key)."""
    key = rules.endpoint_key(endpoint)
    return [n for n in nodes if rules.endpoint_key(n.settings.endpoint) == key]


def refuse_failed_check(check: NodeCheckResult) -> None:
    if check.failure is not None:
        raise check.failure.domain_error("node check failed")


# What a failed check says about a node that no admin set up: the same whatever failed, so the service
# cannot be used to learn which addresses and ports answer, and how.
NOT_VERIFIED = (
    "the node could not be verified: check its endpoint, access key, secret and role, and that its "
    "address is one wio may reach"
)


def as_told(check: NodeCheckResult, settings: NodeSettings) -> NodeCheckResult:
    """A check as its operator may see it: in full for a node an admin set up, otherwise a failure is
    only a failure (closed port, open port, HTTP that is not S3 and a refused address look alike)."""
    if settings.admin_networks or check.failure is None:
        return check
    return NodeCheckResult(False, False, False, 0.0, S3Failure(S3FailureKind.NOT_VERIFIED, NOT_VERIFIED))


class NodesService:
    def __init__(
        self,
        transactions: Transactions,
        connector: NodeConnector,
        directory: Directory,
        usage: RootUsage,
        jobs: Jobs,
        degraded_latency_ms: float = 2000.0,
        *,
        page_secret: str,
    ) -> None:
        self._tx = transactions
        self._tokens = {
            "nodes": PageTokens(page_secret, "wio.nodes.v1.ListNodes"),
            "roots": PageTokens(page_secret, "wio.nodes.v1.ListRoots"),
        }
        self.jobs = jobs
        self.connector = connector
        self.directory = directory
        self.usage = usage
        self.degraded_latency_ms = degraded_latency_ms
        # A failure told as NOT_VERIFIED takes as long as a call's deadline, so its timing does not tell
        # a closed port from one that does not answer either.
        self.not_verified_seconds = connector.timeout_seconds + 1

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

    async def _check(
        self, caller: Caller, settings: NodeSettings, probe_case: bool = True
    ) -> NodeCheckResult:
        """The connector's check as the caller may see it: in full for admins, else as_told. With
        `probe_case` (registration, checks, new connection settings) it also probes case matching."""
        started = time.monotonic()
        check = await self.connector.check(settings, probe_case=probe_case)
        if not caller.is_admin:
            check = as_told(check, settings)
        if check.failure is not None and check.failure.kind is S3FailureKind.NOT_VERIFIED:
            await asyncio.sleep(max(0.0, started + self.not_verified_seconds - time.monotonic()))
        return check

    # --- nodes ----------------------------------------------------------------------------------------

    async def register_node(
        self, caller: Caller, settings: NodeSettings
    ) -> tuple[Node, NodeCheckResult, list[str], str]:
        """A new node, its check, notices for the operator and the node's hook token (its hash is stored;
        the token itself is answered this once). The same server may be registered again (two people may
        hold their own keys to it): that is allowed and said, naming the node; what must not happen
        twice, mapping the same folders, is refused when a root is created."""
        settings = rules.check_node_settings(dataclasses.replace(settings, admin_networks=caller.is_admin))
        notices: list[str] = []
        async with self._tx() as tx:
            if await tx.repo.node(settings.name) is not None:
                raise DomainError(Reason.NODE_NAME_TAKEN, f"node {settings.name!r} exists", field="name")
            for same in _same_endpoint(settings.endpoint, await tx.repo.list_nodes()):
                keys = " with the same access key" if same.settings.access_key == settings.access_key else ""
                notices.append(
                    f"{settings.endpoint} is already registered{keys} as node {same.name} "
                    f"(operator {same.operator_username}): roots over folders another root there maps "
                    "are refused"
                )
        # Talk to the node outside any transaction; nothing is stored unless it passes.
        check = await self._check(caller, settings)
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
            capabilities=rules.capabilities_after(settings.kind, check.object_case_ignored, Capabilities()),
        )
        token, token_hash = hooks.new_token()
        async with self._tx() as tx:
            await tx.repo.add_node(node)
            await tx.repo.set_hook_token(node.id, token_hash)
            await tx.events.node_registered(node)
        return node, check, notices, token

    async def _refuse_mapped_twice(
        self, repo: NodesRepository, node: Node, endpoint: str, case_ignored: bool
    ) -> None:
        """Refuses when a root of `node` overlaps a root of another node at `endpoint`."""
        others = {n.id for n in _same_endpoint(endpoint, await repo.list_nodes()) if n.id != node.id}
        roots = await repo.list_roots(None)
        theirs = [r for r in roots if r.node_id in others]
        for mine in (r for r in roots if r.node_id == node.id):
            clash = rules.find_overlap(mine.bucket, mine.base_prefix, theirs, case_ignored)
            if clash is not None:
                raise DomainError(
                    Reason.ROOT_OVERLAPS,
                    f"root {mine.id} ({mine.bucket}/{mine.base_prefix}) would overlap root {clash.id} "
                    f"({clash.bucket}/{clash.base_prefix}) on node {clash.node_name} at that endpoint",
                    field="endpoint",
                )

    async def list_nodes(self) -> list[Node]:
        async with self._tx() as tx:
            return await tx.repo.list_nodes()

    async def page_nodes(self, caller: Caller, request: PageRequest) -> Page[Node]:
        """Anyone logged in sees every node (operators' secrets are left out by the servicer)."""
        limit = page_limit(request.size)
        tokens = self._tokens["nodes"]
        after = tokens.after(caller.user_id, [], request)
        async with self._tx() as tx:
            rows = await tx.repo.page_nodes(after, limit)
        return tokens.page(caller.user_id, [], rows, limit, lambda n: (n.created_at, n.id))

    async def get_node(self, caller: Caller, ref: str) -> Node:
        async with self._tx() as tx:
            node = await self._node(tx.repo, ref)
        self._check_operator(caller, node)
        return node

    async def check_node(self, caller: Caller, ref: str) -> tuple[Node, NodeCheckResult]:
        node = await self.get_node(caller, ref)
        check = await self._check(caller, node.settings)
        node = await self.record_probe(node.id, check)
        return node, check

    async def record_probe(self, node_id: str, check: NodeCheckResult) -> Node:
        """Store a probe's outcome (as its operator may see it, and the capabilities it found); a change of
        status is an event."""
        async with self._tx() as tx:
            node = await tx.repo.node_by_id(node_id)
            if node is None:
                raise DomainError(Reason.NODE_NOT_FOUND, "the node was removed")
            check = as_told(check, node.settings)
            status, detail = status_of(check, self.degraded_latency_ms)
            seen = _now() if check.reachable else node.last_seen_at
            await tx.repo.set_status(node.id, status, detail, check.latency_ms, seen)
            if status != node.status:
                await tx.events.status_changed(node, node.status, status, detail)
            capabilities = rules.capabilities_after(
                node.settings.kind, check.object_case_ignored, node.capabilities
            )
            if capabilities != node.capabilities:
                await tx.repo.set_capabilities(node.id, capabilities)
                await tx.events.node_updated(node, ["capabilities"])
            return dataclasses.replace(
                node,
                status=status,
                status_detail=detail,
                latency_ms=check.latency_ms,
                last_seen_at=seen,
                capabilities=capabilities,
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
        changed = sorted(changes)
        node = await self.get_node(caller, ref)
        if CONNECTION_FIELDS & set(changes):
            # Whoever sets where the node is decides which networks it may be on.
            changes = {**changes, "admin_networks": caller.is_admin}
        settings = rules.check_node_settings(dataclasses.replace(node.settings, **changes))  # type: ignore[arg-type]
        if settings.name != node.name:
            async with self._tx() as tx:
                if await tx.repo.node(settings.name) is not None:
                    raise DomainError(Reason.NODE_NAME_TAKEN, f"node {settings.name!r} exists", field="name")
        check: NodeCheckResult | None = None
        capabilities = node.capabilities
        if CONNECTION_FIELDS & set(changes):
            check = await self._check(caller, settings)
            refuse_failed_check(check)
            # Another server or key may match objects otherwise: what the probe finds now is what counts.
            capabilities = rules.capabilities_after(settings.kind, check.object_case_ignored, Capabilities())
        changed = sorted(changes) + (["capabilities"] if capabilities != node.capabilities else [])
        async with self._tx() as tx:
            if rules.endpoint_key(settings.endpoint) != rules.endpoint_key(node.settings.endpoint):
                # Moving to a server other nodes reach must not map their folders a second time.
                await tx.repo.lock_endpoint(rules.endpoint_key(settings.endpoint))
                await self._refuse_mapped_twice(
                    tx.repo, node, settings.endpoint, capabilities.object_case_ignored
                )
            updated = await tx.repo.update_settings(node.id, settings)
            if capabilities != node.capabilities:
                await tx.repo.set_capabilities(node.id, capabilities)
                updated = dataclasses.replace(updated, capabilities=capabilities)
            await tx.events.node_updated(updated, changed)
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
        check_count(names, "allowed_creators")
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
            # Serialize root creation per server (every node registered at this endpoint), so two
            # overlapping roots cannot both pass the check; the node's own lock keeps it from going.
            await tx.repo.lock_endpoint(rules.endpoint_key(node.settings.endpoint))
            await tx.repo.lock_node_roots(node.id)
            same_server = {n.id for n in _same_endpoint(node.settings.endpoint, await tx.repo.list_nodes())}
            roots = [r for r in await tx.repo.list_roots(None) if r.node_id in same_server | {node.id}]
            clash = rules.find_overlap(bucket, prefix, roots, node.capabilities.object_case_ignored)
            if clash is not None:
                raise DomainError(
                    Reason.ROOT_OVERLAPS,
                    f"overlaps root {clash.id} ({clash.bucket}/{clash.base_prefix}) on node "
                    f"{clash.node_name}: the same folders are mapped once",
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

    async def list_roots(self, caller: Caller, node_ref: str, request: PageRequest) -> Page[Root]:
        limit = page_limit(request.size)
        tokens = self._tokens["roots"]
        async with self._tx() as tx:
            node_id = (await self._node(tx.repo, node_ref)).id if node_ref else None
            # Bound to the node's id, whichever name or id the caller gave.
            after = tokens.after(caller.user_id, [node_id], request)
            rows = await tx.repo.page_roots(node_id, after, limit)
        return tokens.page(caller.user_id, [node_id], rows, limit, lambda r: (r.created_at, r.id))

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

    async def rotate_hook_token(self, caller: Caller, ref: str) -> tuple[Node, str]:
        """A new hook token for the node, answered once; the old one is refused from the commit on."""
        token, token_hash = hooks.new_token()
        async with self._tx() as tx:
            node = await self._node(tx.repo, ref)
            self._check_operator(caller, node)
            await tx.repo.set_hook_token(node.id, token_hash)
        return node, token

    async def verify_hook_token(self, ref: str, token: str) -> str | None:
        """The node's id when `token` is its current hook token; None for an unknown node, a node without
        a token (registered before hook tokens: rotate one) and a wrong token alike."""
        ref = ref.strip()
        if not rules.could_name_node(ref):
            return None  # names no node: nothing to look up
        async with self._tx() as tx:
            found = await tx.repo.hook_token(ref)
        node_id, stored = found if found is not None else ("", None)
        return node_id if hooks.matches(token, stored) else None

    # --- internal -------------------------------------------------------------------------------------

    async def node_access(self, node_id: str) -> Node:
        async with self._tx() as tx:
            node = await tx.repo.node_by_id(node_id)
        if node is None:
            raise DomainError(Reason.NODE_NOT_FOUND, f"no node {node_id!r}")
        return node

    async def root_access(self, root_id: str) -> tuple[Root, Node]:
        """Asked by every workspace create (it confirms the root it chose): a read with no transaction."""

        async def both(repo: NodesRepository) -> tuple[Root, Node]:
            root = await self._root(repo, root_id)
            return root, await self._node(repo, root.node_id)

        return await self._tx.read(both)
