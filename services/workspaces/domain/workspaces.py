"""Workspaces: create (in a managed root, or mapped onto existing data), list, show, delete, import the
folders of an unmanaged root, and the internal questions other services ask."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.common.pages import Page, PageRequest, PageTokens, SortKey, page_limit
from services.workspaces.domain import rules
from services.workspaces.domain.jobs import MARKER, PURGE, marker_job, purge_job
from services.workspaces.domain.models import WORKSPACE_TYPES, Level, ListingFilters, Workspace
from services.workspaces.domain.policy import check_grantable
from services.workspaces.domain.ports import (
    Jobs,
    Memberships,
    NodeAccess,
    Nodes,
    ObjectStore,
    RootInfo,
    Transactions,
)
from services.workspaces.domain.references import References, Resolved, now


@dataclass
class ImportResult:
    created: list[Workspace] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder prefix, why)
    already_mapped: int = 0


def _may_create(root: RootInfo, user_id: str, group_ids: set[str]) -> bool:
    """Compared by id: a group deleted and its name created again by anyone grants nothing."""
    return user_id in root.allowed_user_ids or bool(group_ids & root.allowed_group_ids)


def listing_key(workspace: Workspace) -> SortKey:
    """Where a workspace stands in listings (storage's LISTING_ORDER)."""
    return (workspace.owner_username, workspace.name, workspace.id)


def _settle(task: asyncio.Future[Any]) -> None:
    """A task not awaited to its end: cancelled if still running, its error (if any) taken."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _new_workspace(caller: Caller, name: str, root: RootInfo, prefix: str) -> Workspace:
    return Workspace(
        id=str(uuid.uuid4()),
        name=name,
        owner_id=caller.user_id,
        owner_username=caller.username,
        type=root.type,
        node_id=root.node_id,
        node_name=root.node_name,
        root_id=root.id,
        bucket=root.bucket,
        prefix=prefix,
        created_at=now(),
    )


class Workspaces:
    def __init__(
        self,
        transactions: Transactions,
        references: References,
        nodes: Nodes,
        memberships: Memberships,
        store: ObjectStore,
        jobs: Jobs,
        last_sweep_delay: timedelta,
        tokens: PageTokens,
    ) -> None:
        self._tx = transactions
        self.tokens = tokens
        self.references = references
        self.nodes = nodes
        self.memberships = memberships
        self.store = store
        self.jobs = jobs
        # How long after a delete its objects are swept once more (domain/jobs.py).
        self.last_sweep_delay = last_sweep_delay

    async def create(
        self, caller: Caller, name: str, kind: str, node: str, root_id: str, prefix: str
    ) -> tuple[Workspace, bool]:
        """The workspace, and whether its folder marker is still to be put (the node did not take it
        yet: the job worker puts it when it can)."""
        rules.check_workspace_name(name)
        if kind not in WORKSPACE_TYPES:
            raise DomainError(
                Reason.INVALID_ARGUMENT, f"type must be one of {', '.join(WORKSPACE_TYPES)}", field="type"
            )
        if kind == "unmanaged":
            # Existing data is mapped from a fresh list of roots only.
            chosen = await self._choose_root(caller, kind, node, root_id, fresh=True)
            root, access = await self.nodes.root(chosen.id)
            return await self._create_unmanaged(caller, name, root, access, prefix), False
        if prefix:
            raise DomainError(
                Reason.INVALID_ARGUMENT, "a prefix is named only for unmanaged workspaces", field="prefix"
            )
        # The list of roots may come from a short-lived copy (root and node events evict it). A choice that
        # fails on the copy is made again on a fresh list; so is one whose root the nodes service no longer
        # knows. Roots never change and new ones come last, so the copy saves a call without changing an
        # answer.
        for fresh in (False, True):
            try:
                root = await self._choose_root(caller, kind, node, root_id, fresh)
            except DomainError:
                if fresh:
                    raise
                continue
            workspace_prefix = rules.managed_prefix(root.base_prefix, caller.username, name)
            # The nodes service confirms the root while the insert runs; the insert commits only then.
            confirmed = asyncio.ensure_future(self.nodes.root(root.id))
            try:
                workspace, marker = await self._insert(caller, name, root, workspace_prefix, confirmed)
            except DomainError as error:
                if fresh or error.reason != Reason.ROOT_NOT_FOUND:
                    raise
                continue
            finally:
                _settle(confirmed)
            # The folder marker makes the empty workspace visible to S3 tools. Its job is committed with
            # the workspace: if the node does not take it now, the worker puts it later.
            return workspace, await self.jobs.run_now(marker) is None
        raise AssertionError("unreachable: the fresh attempt returns or raises")

    async def _choose_root(self, caller: Caller, kind: str, node: str, root_id: str, fresh: bool) -> RootInfo:
        roots = [
            r
            for r in await self.nodes.roots(fresh)
            if r.type == kind
            and (not root_id or r.id == root_id)
            and (not node or node in {r.node_id, r.node_name})
        ]
        if not roots:
            raise DomainError(Reason.NO_SUITABLE_ROOT, f"no {kind} root matches; see `wio root ls`")
        # Groups matter only where a root names its allowed creators.
        restricted = any(r.allowed_creators for r in roots)
        group_ids = set(await self.memberships.groups(caller.user_id)) if restricted else set()
        allowed = [r for r in roots if not r.allowed_creators or _may_create(r, caller.user_id, group_ids)]
        if not allowed:
            raise DomainError(
                Reason.NOT_ALLOWED_TO_CREATE, "you are not among the allowed creators of that root"
            )
        if kind == "unmanaged" and len(allowed) > 1:
            # Existing data is mapped on purpose: never guess which root holds it.
            choices = ", ".join(f"{r.id} ({r.node_name}:{r.bucket}/{r.base_prefix})" for r in allowed)
            raise DomainError(Reason.INVALID_ARGUMENT, f"name the unmanaged root: {choices}", field="root")
        # Roots come oldest first: without a choice, the first root of the stack (e.g. the launcher's).
        return allowed[0]

    async def _create_unmanaged(
        self, caller: Caller, name: str, root: RootInfo, access: NodeAccess, prefix: str
    ) -> Workspace:
        # Existing data is mapped by the node's operator only; wio writes nothing there.
        if caller.user_id != access.operator_id:
            raise DomainError(
                Reason.NODE_OPERATOR_REQUIRED, f"only the operator of node {root.node_name} maps its data"
            )
        if not prefix.strip().strip("/"):
            raise DomainError(Reason.INVALID_PREFIX, "name the existing prefix to map", field="prefix")
        full = root.base_prefix + prefix.strip().lstrip("/")
        if not full.endswith("/"):
            full += "/"
        check_grantable(full)
        if access.object_case_ignored:
            variants = await self._case_variants(access, root.bucket, full)
            if variants:
                raise DomainError(
                    Reason.WORKSPACE_OVERLAPS,
                    f"{full!r} equals {', '.join(repr(v) for v in variants)} ignoring case, and node "
                    f"{root.node_name} matches objects ignoring case: a grant on one would reach the other",
                    field="prefix",
                )
        workspace, _no_job = await self._insert(
            caller, name, root, full, case_ignored=access.object_case_ignored
        )
        return workspace

    async def _case_variants(self, access: NodeAccess, bucket: str, prefix: str) -> list[str]:
        """The folders on the way to `prefix` that equal it, or one of its parents, ignoring case but not
        exactly (`Proj/` for `proj/sub/`): what a grant on `prefix` may reach on a node that ignores case.
        One listing per level (S3 lists case-sensitively), down the exact path while it exists."""
        variants: list[str] = []
        parent = ""
        for segment in prefix.rstrip("/").split("/"):
            wanted = f"{parent}{segment}/"
            folders = await self.store.list_folders(access, bucket, parent)
            variants += [f for f in folders if f != wanted and f.lower() == wanted.lower()]
            if wanted not in folders:
                break
            parent = wanted
        return variants

    async def _insert(
        self,
        caller: Caller,
        name: str,
        root: RootInfo,
        prefix: str,
        confirmed: Awaitable[object] | None = None,
        case_ignored: bool = False,
    ) -> tuple[Workspace, str]:
        """Answers the workspace and, in a managed root, the id of its folder marker's job. One indexed
        look-up for a name taken and one for a nesting prefix (in one query), whatever the number of
        workspaces. In managed roots a prefix is <base>/<owner>/<name>/, so two of them nest only when
        equal, which the table's unique constraints refuse even between concurrent creates: only an
        unmanaged root is locked, so that the check and the insert of a mapped prefix cannot interleave.
        On a node that matches objects ignoring case, prefixes equal ignoring case are one place: a grant
        on one reaches the other, so they are never two workspaces."""
        async with self._tx() as tx:
            if root.type == "unmanaged":
                await tx.repo.lock_root(root.id)
            clashes = await tx.repo.clashes(caller.username, name, root.id, prefix, case_ignored)
            if clashes.named is not None:
                if clashes.named_deleting:
                    raise DomainError(
                        Reason.WORKSPACE_EXISTS,
                        f"your workspace {name!r} is being deleted; the name is free when its objects are",
                    )
                raise DomainError(Reason.WORKSPACE_EXISTS, f"you already have a workspace named {name!r}")
            other = clashes.overlapping
            if other is not None:
                exact = rules.prefixes_nest(prefix, other.prefix)
                how = "" if exact else " ignoring case, as this node matches objects"
                raise DomainError(
                    Reason.WORKSPACE_OVERLAPS,
                    f"{prefix!r} overlaps workspace {other.ref}/ at {other.prefix!r}{how}",
                )
            workspace = _new_workspace(caller, name, root, prefix)
            await tx.repo.add_workspace(workspace)
            await tx.events.workspace_created(workspace)
            marker = (
                await tx.repo.add_job(MARKER, marker_job(workspace.id)) if root.type != "unmanaged" else ""
            )
            if confirmed is not None:
                await confirmed  # an error (e.g. the root is gone) rolls the insert back
        return workspace, marker

    async def listing(
        self, caller: Caller, filters: ListingFilters, request: PageRequest
    ) -> Page[tuple[Workspace, Level]]:
        """One page of what the caller can read: the rule and the filters run in the query
        (storage `reaching`, the SQL twin of permissions.decide), never over every row in Python."""
        limit = page_limit(request.size)
        if filters.kind and filters.kind not in WORKSPACE_TYPES:
            raise DomainError(Reason.INVALID_ARGUMENT, "no such workspace type", field="type")
        after = self.tokens.after(caller.user_id, filters.key(), request)
        principal = await self.references.principal(caller)
        moment = now()
        rows = await self._tx.read(lambda repo: repo.page_visible(principal, moment, filters, after, limit))
        return self.tokens.page(caller.user_id, filters.key(), rows, limit, lambda row: listing_key(row[0]))

    async def get(self, caller: Caller, reference: str) -> Resolved:
        (resolved,) = await self.references.resolve_for_caller(caller, [reference])
        return resolved

    async def delete(self, caller: Caller, reference: str, force: bool) -> tuple[int, bool]:
        """Answers how many objects went at once, and whether some may remain because the node did not
        answer (the job worker removes them when it can). Either way the workspace stops being usable at
        once and its name is free again once a last sweep, after the credentials issued for it expired,
        found nothing left."""
        principal = await self.references.principal(caller)
        resolved = await self.references.resolve(principal, reference, Level.OWN)
        workspace = resolved.workspace
        if resolved.path:
            raise DomainError(Reason.INVALID_ARGUMENT, "name the workspace itself, not a path inside it")
        if workspace.type != "unmanaged" and not force:
            # Only a delete that may remove data needs the node to answer first.
            _root, access = await self.nodes.root(workspace.root_id)
            keys = await self.store.list_keys(access, workspace.bucket, workspace.prefix, 2)
            if any(k != workspace.prefix for k in keys):
                raise DomainError(
                    Reason.WORKSPACE_NOT_EMPTY, f"{workspace.ref}/ is not empty: delete with --force"
                )
        async with self._tx() as tx:
            if not await tx.repo.mark_deleting(workspace.id):
                raise DomainError(Reason.WORKSPACE_NOT_FOUND, f"{workspace.ref} is already being deleted")
            await tx.events.workspace_deleted(workspace)
            job = await tx.repo.add_job(PURGE, purge_job(workspace.id, now() + self.last_sweep_delay))
        # After the commit: nobody can get new credentials for it while its objects go.
        outcome = await self.jobs.run_now(job)
        return (outcome.objects_deleted, False) if outcome is not None else (0, True)

    async def import_root(self, caller: Caller, root_id: str) -> ImportResult:
        """Map each top-level folder of an unmanaged root to a workspace of its operator; only lists."""
        root, access = await self.nodes.root(root_id)
        if root.type != "unmanaged":
            raise DomainError(
                Reason.INVALID_ARGUMENT, "only unmanaged roots are imported; managed roots hold workspaces"
            )
        if caller.user_id != access.operator_id:
            raise DomainError(
                Reason.NODE_OPERATOR_REQUIRED, f"only the operator of node {root.node_name} imports its data"
            )
        folders = await self.store.list_folders(access, root.bucket, root.base_prefix)
        result = ImportResult()
        if access.object_case_ignored:
            # A grant on one would reach the other: neither is mapped, and the operator is told why.
            for folder, others in rules.case_siblings(folders).items():
                result.skipped.append(
                    (
                        folder,
                        f"equals {', '.join(others)} ignoring case, and node {root.node_name} matches "
                        "objects ignoring case: rename one of them, then import again",
                    )
                )
            folders = [f for f in folders if f not in dict(result.skipped)]
        async with self._tx() as tx:
            await tx.repo.lock_root(root.id)
            await tx.repo.lock_owner(caller.user_id)
            mapped = [w.prefix for w in await tx.repo.in_root(root.id)]
            taken = {w.name for w in await tx.repo.owned_by(caller.user_id)}
            for folder in folders:
                if folder in mapped:
                    result.already_mapped += 1
                    continue
                nesting = [o for o in mapped if rules.prefixes_nest(folder, o, access.object_case_ignored)]
                if nesting:
                    result.skipped.append((folder, f"overlaps {nesting[0]}, already mapped by a workspace"))
                    continue
                try:
                    check_grantable(folder)
                except DomainError as refused:
                    result.skipped.append((folder, refused.message))
                    continue
                name = rules.unique_name(rules.derive_name(folder[len(root.base_prefix) : -1]), taken)
                workspace = _new_workspace(caller, name, root, folder)
                await tx.repo.add_workspace(workspace)
                await tx.events.workspace_created(workspace)
                taken.add(name)
                mapped.append(folder)
                result.created.append(workspace)
            if result.created:
                # The indexer's cue for the first crawl of the data just mapped.
                await tx.events.root_imported(root.id, root.node_id, [w.id for w in result.created])
        return result

    async def count_in_root(self, root_id: str) -> int:
        return await self._tx.read(lambda repo: repo.count_in_root(root_id))
