"""The workspace, share and credential use cases."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.workspaces.domain import rules
from services.workspaces.domain.cache import CacheKey, CredentialCache, Plan, PlanCache, PlanKey, PlannedSet
from services.workspaces.domain.models import WORKSPACE_TYPES, Decision, Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import Factor, decide, factors
from services.workspaces.domain.policy import Grant, check_grantable, compile_policies
from services.workspaces.domain.ports import (
    Identity,
    IssuedCredentials,
    NodeAccess,
    Nodes,
    ObjectStore,
    RootInfo,
    Transactions,
    WorkspacesRepository,
)

log = logging.getLogger(__name__)

DEFAULT_CREDENTIAL_SECONDS = 900
DEFAULT_LINK_SECONDS = 3600
MAX_LINK_SECONDS = 7 * 24 * 3600


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resolved:
    workspace: Workspace
    path: str
    decision: Decision


@dataclass(frozen=True)
class Explanation:
    workspace: Workspace
    username: str
    decision: Decision
    allowed: bool
    summary: str
    factors: list[Factor]


@dataclass
class ImportResult:
    created: list[Workspace] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder prefix, why)
    already_mapped: int = 0


@dataclass(frozen=True)
class CredentialSet:
    node: NodeAccess
    node_name: str
    credentials: IssuedCredentials
    scopes: tuple[tuple[Workspace, Level], ...]
    # Time spent waiting for the node's STS; 0 when the set came from the cache.
    sts_seconds: float = 0.0


class WorkspacesService:
    def __init__(
        self,
        transactions: Transactions,
        nodes: Nodes,
        identity: Identity,
        store: ObjectStore,
        credential_seconds: int = DEFAULT_CREDENTIAL_SECONDS,
    ) -> None:
        self._tx = transactions
        self.nodes = nodes
        self.identity = identity
        self.store = store
        self.credential_seconds = credential_seconds
        self.cache = CredentialCache()
        self.plans = PlanCache()
        self._background: set[asyncio.Task[None]] = set()

    async def principal(self, caller: Caller) -> Principal:
        groups = await self.identity.groups(caller.user_id)
        return Principal(caller.user_id, caller.username, frozenset(groups))

    # --- references -----------------------------------------------------------------------------------

    async def resolve(self, principal: Principal, reference: str, at_least: Level = Level.READ) -> Resolved:
        """Read a reference as the caller can see it; anything they may not read is simply not found."""
        return (await self.resolve_all(principal, [reference], at_least))[0]

    async def resolve_all(
        self, principal: Principal, references: Sequence[str], at_least: Level = Level.READ
    ) -> list[Resolved]:
        """`resolve` for several references, with one query for the workspaces and one for their shares."""
        found, shares = await self._candidates(references)
        return self._pick_all(principal, references, found, shares, at_least)

    async def resolve_for_caller(
        self, caller: Caller, references: Sequence[str], at_least: Level = Level.READ
    ) -> list[Resolved]:
        """`resolve_all` for the caller, asking identity for their groups only when it matters."""
        found, shares = await self._candidates(references)
        principal = await self._principal_for(caller, shares)
        return self._pick_all(principal, references, found, shares, at_least)

    async def _principal_for(self, caller: Caller, shares: Sequence[Share]) -> Principal:
        """The caller as `decide` needs them for these shares: their groups matter only when one of
        the shares names a group, so identity is asked only then."""
        if not any(s.sharee_kind == "group" for s in shares):
            return Principal(caller.user_id, caller.username, frozenset())
        return await self.principal(caller)

    async def _candidates(self, references: Sequence[str]) -> tuple[list[Workspace], list[Share]]:
        readings = [r for reference in references for r in rules.readings(reference)]
        pairs = sorted({(r.owner, r.name) for r in readings if r.owner is not None})
        names = sorted({r.name for r in readings if r.owner is None})
        return await self._tx.read(lambda repo: self._found_with_shares(repo, pairs, names))

    @staticmethod
    async def _found_with_shares(
        repo: WorkspacesRepository, pairs: list[tuple[str, str]], names: list[str]
    ) -> tuple[list[Workspace], list[Share]]:
        found = await repo.by_references(pairs, names)
        return found, await repo.shares_of([w.id for w in found])

    def _pick_all(
        self,
        principal: Principal,
        references: Sequence[str],
        found: list[Workspace],
        shares: list[Share],
        at_least: Level,
    ) -> list[Resolved]:
        now = _now()
        decisions = {w.id: decide(principal, w, shares, now) for w in found}
        return [
            self._pick(reference, rules.readings(reference), found, decisions, at_least)
            for reference in references
        ]

    @staticmethod
    def _pick(
        reference: str,
        readings: list[rules.Reference],
        found: list[Workspace],
        decisions: dict[str, Decision],
        at_least: Level,
    ) -> Resolved:
        """The one workspace a reference names among those the caller can read, or a clear error."""
        unique: dict[str, Resolved] = {}
        for reading in readings:
            for workspace in found:
                if workspace.name != reading.name:
                    continue
                if reading.owner is not None and workspace.owner_username != reading.owner:
                    continue
                decision = decisions[workspace.id]
                if decision.level >= Level.READ:
                    unique.setdefault(workspace.id, Resolved(workspace, reading.path, decision))
        if not unique:
            raise DomainError(Reason.WORKSPACE_NOT_FOUND, f"no workspace {reference!r} that you can see")
        if len(unique) > 1:
            names = ", ".join(sorted(f"{r.workspace.ref}/" for r in unique.values()))
            raise DomainError(
                Reason.WORKSPACE_AMBIGUOUS, f"{reference!r} could mean {names}: name the owner too"
            )
        resolved = next(iter(unique.values()))
        if resolved.decision.level < at_least:
            raise DomainError(
                Reason.PERMISSION_DENIED,
                f"you have {resolved.decision.level.label} on {resolved.workspace.ref}/, "
                f"this needs {at_least.label}",
            )
        return resolved

    # --- workspaces -----------------------------------------------------------------------------------

    def _may_create(self, root: RootInfo, principal: Principal, group_names: set[str]) -> bool:
        if not root.allowed_creators:
            return True
        labels = set(root.allowed_creators)
        return principal.username in labels or any(f"group:{g}" in labels for g in group_names)

    async def create_workspace(
        self, caller: Caller, name: str, kind: str, node: str, root_id: str, prefix: str
    ) -> Workspace:
        rules.check_workspace_name(name)
        if kind not in WORKSPACE_TYPES:
            raise DomainError(
                Reason.INVALID_ARGUMENT, f"type must be one of {', '.join(WORKSPACE_TYPES)}", field="type"
            )
        groups = await self.identity.groups(caller.user_id)
        principal = Principal(caller.user_id, caller.username, frozenset(groups))
        roots = [
            r
            for r in await self.nodes.roots()
            if r.type == kind
            and (not root_id or r.id == root_id)
            and (not node or node in {r.node_id, r.node_name})
        ]
        if not roots:
            raise DomainError(Reason.NO_SUITABLE_ROOT, f"no {kind} root matches; see `wio root ls`")
        allowed = [r for r in roots if self._may_create(r, principal, set(groups.values()))]
        if not allowed:
            raise DomainError(
                Reason.NOT_ALLOWED_TO_CREATE, "you are not among the allowed creators of that root"
            )
        if kind == "unmanaged" and len(allowed) > 1:
            # Existing data is mapped on purpose: never guess which root holds it.
            choices = ", ".join(f"{r.id} ({r.node_name}:{r.bucket}/{r.base_prefix})" for r in allowed)
            raise DomainError(Reason.INVALID_ARGUMENT, f"name the unmanaged root: {choices}", field="root")
        # Roots come oldest first: without a choice, the first root of the stack (e.g. the launcher's).
        root, access = await self.nodes.root(allowed[0].id)
        if kind == "unmanaged":
            return await self._create_unmanaged(caller, name, root, access, prefix)
        if prefix:
            raise DomainError(
                Reason.INVALID_ARGUMENT, "a prefix is named only for unmanaged workspaces", field="prefix"
            )
        workspace_prefix = rules.managed_prefix(root.base_prefix, caller.username, name)
        workspace = await self._insert(caller, name, root, workspace_prefix)
        # The folder marker makes the empty workspace visible to S3 tools; putting it twice is harmless.
        await self.store.put_marker(access, root.bucket, workspace_prefix)
        return workspace

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
        return await self._insert(caller, name, root, full)

    async def _insert(self, caller: Caller, name: str, root: RootInfo, prefix: str) -> Workspace:
        async with self._tx() as tx:
            await tx.repo.lock_root(root.id)
            if await tx.repo.by_owner_and_name(caller.username, name) is not None:
                raise DomainError(Reason.WORKSPACE_EXISTS, f"you already have a workspace named {name!r}")
            for other in await tx.repo.in_root(root.id):
                if rules.prefixes_nest(other.prefix, prefix):
                    raise DomainError(
                        Reason.WORKSPACE_OVERLAPS, f"{prefix!r} overlaps workspace {other.ref}/"
                    )
            workspace = self._new_workspace(caller, name, root, prefix)
            await tx.repo.add_workspace(workspace)
            await tx.events.workspace_created(workspace)
        return workspace

    @staticmethod
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
            created_at=_now(),
        )

    async def list_workspaces(
        self, caller: Caller, owner: str, node: str, kind: str, name_contains: str
    ) -> list[tuple[Workspace, Decision]]:
        return [
            (workspace, decision)
            for workspace, decision in await self._readable(await self.principal(caller))
            if (not owner or workspace.owner_username == owner)
            and (not node or node in {workspace.node_id, workspace.node_name})
            and (not kind or workspace.type == kind)
            and (not name_contains or name_contains in workspace.name)
        ]

    async def _readable(self, principal: Principal) -> list[tuple[Workspace, Decision]]:
        """Every workspace the principal can read, with the decision that says so."""
        now = _now()
        workspaces, shares = await self._visible(principal, now)
        decided = [(w, decide(principal, w, shares, now)) for w in workspaces]
        return [(w, d) for w, d in decided if d.level >= Level.READ]

    async def _visible(self, principal: Principal, now: datetime) -> tuple[list[Workspace], list[Share]]:
        """The workspaces the principal may see (owned, shared, public) and all their shares."""

        async def query(repo: WorkspacesRepository) -> tuple[list[Workspace], list[Share]]:
            workspaces = await repo.visible_to(principal.user_id, sorted(principal.group_ids), now)
            return workspaces, await repo.shares_of([w.id for w in workspaces])

        return await self._tx.read(query)

    async def get_workspace(self, caller: Caller, reference: str) -> Resolved:
        (resolved,) = await self.resolve_for_caller(caller, [reference])
        return resolved

    async def delete_workspace(self, caller: Caller, reference: str, force: bool) -> int:
        resolved = await self.resolve(await self.principal(caller), reference, Level.OWN)
        workspace = resolved.workspace
        if resolved.path:
            raise DomainError(Reason.INVALID_ARGUMENT, "name the workspace itself, not a path inside it")
        deleted = 0
        if workspace.type != "unmanaged":
            _root, access = await self.nodes.root(workspace.root_id)
            keys = await self.store.list_keys(access, workspace.bucket, workspace.prefix, 2)
            if any(k != workspace.prefix for k in keys) and not force:
                raise DomainError(
                    Reason.WORKSPACE_NOT_EMPTY, f"{workspace.ref}/ is not empty: delete with --force"
                )
        async with self._tx() as tx:
            await tx.repo.delete_workspace(workspace.id)
            await tx.events.workspace_deleted(workspace)
        if workspace.type != "unmanaged":
            # After the commit: nobody can get new credentials for it while its objects go.
            deleted = await self.store.delete_prefix(access, workspace.bucket, workspace.prefix)
        return deleted

    # --- shares ---------------------------------------------------------------------------------------

    async def create_share(
        self, caller: Caller, reference: str, sharee: str, level: Level, expires_at: datetime | None
    ) -> tuple[Share, Workspace]:
        if level not in (Level.READ, Level.READWRITE, Level.OWN):
            raise DomainError(
                Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field="permission"
            )
        if expires_at is not None and expires_at <= _now():
            raise DomainError(Reason.INVALID_EXPIRY, "the expiry must lie in the future", field="expires_at")
        resolved = await self.resolve(await self.principal(caller), reference, Level.OWN)
        if sharee.startswith("group:"):
            kind, (sharee_id, sharee_name) = "group", await self.identity.group(sharee[6:])
        else:
            kind, (sharee_id, sharee_name) = "user", await self.identity.user(sharee)
            if sharee_id == resolved.workspace.owner_id:
                raise DomainError(Reason.INVALID_ARGUMENT, "the owner already has every right")
        share = Share(
            id=str(uuid.uuid4()),
            workspace_id=resolved.workspace.id,
            sharee_kind=kind,
            sharee_id=sharee_id,
            sharee_name=sharee_name,
            level=level,
            created_by=caller.user_id,
            created_at=_now(),
            expires_at=expires_at,
        )
        async with self._tx() as tx:
            existing = [
                s
                for s in await tx.repo.shares_of([resolved.workspace.id])
                if s.sharee_kind == kind and s.sharee_id == sharee_id
            ]
            if existing:
                raise DomainError(
                    Reason.SHARE_EXISTS, f"{sharee} already has a share of {resolved.workspace.ref}/"
                )
            await tx.repo.add_share(share)
            await tx.events.share_changed("granted", share)
        return share, resolved.workspace

    async def _managed_share(self, caller: Caller, share_id: str) -> tuple[Share, Workspace]:
        principal = await self.principal(caller)
        async with self._tx() as tx:
            share = await tx.repo.share(share_id)
            workspace = await tx.repo.workspace(share.workspace_id) if share else None
            shares = await tx.repo.shares_of([workspace.id]) if workspace else []
        if share is None or workspace is None:
            raise DomainError(Reason.SHARE_NOT_FOUND, f"no share {share_id!r}")
        if decide(principal, workspace, shares, _now()).level < Level.OWN:
            raise DomainError(Reason.SHARE_NOT_FOUND, f"no share {share_id!r} that you manage")
        return share, workspace

    async def update_share(
        self,
        caller: Caller,
        share_id: str,
        level: Level | None,
        expires_at: datetime | None,
        set_expiry: bool,
    ) -> tuple[Share, Workspace]:
        share, workspace = await self._managed_share(caller, share_id)
        if level is not None and level not in (Level.READ, Level.READWRITE, Level.OWN):
            raise DomainError(
                Reason.INVALID_ARGUMENT, "permission must be read, readwrite or own", field="permission"
            )
        if set_expiry and expires_at is not None and expires_at <= _now():
            raise DomainError(Reason.INVALID_EXPIRY, "the expiry must lie in the future", field="expires_at")
        updated = dataclasses.replace(
            share,
            level=level if level is not None else share.level,
            expires_at=expires_at if set_expiry else share.expires_at,
        )
        async with self._tx() as tx:
            await tx.repo.update_share(updated)
            await tx.events.share_changed("updated", updated)
        return updated, workspace

    async def revoke_share(self, caller: Caller, share_id: str) -> None:
        share, _workspace = await self._managed_share(caller, share_id)
        async with self._tx() as tx:
            await tx.repo.delete_share(share.id)
            await tx.events.share_changed("revoked", share)

    async def list_shares(
        self, caller: Caller, reference: str
    ) -> tuple[list[tuple[Share, Workspace]], list[tuple[Share, Workspace]]]:
        principal = await self.principal(caller)
        now = _now()
        named = [(await self.resolve(principal, reference)).workspace] if reference else None
        async with self._tx() as tx:
            if named is not None:
                workspaces = named
            else:
                workspaces = await tx.repo.visible_to(principal.user_id, sorted(principal.group_ids), now)
            shares = await tx.repo.shares_of([w.id for w in workspaces])
            with_me_raw = await tx.repo.shares_with(principal.user_id, sorted(principal.group_ids))
            by_id = {w.id: w for w in workspaces}
            for share in with_me_raw:
                if share.workspace_id not in by_id:
                    found = await tx.repo.workspace(share.workspace_id)
                    if found:
                        by_id[found.id] = found
        made = [
            (s, by_id[s.workspace_id])
            for s in shares
            if decide(principal, by_id[s.workspace_id], shares, now).level >= Level.OWN
        ]
        with_me = [
            (s, by_id[s.workspace_id]) for s in with_me_raw if s.active_at(now) and s.workspace_id in by_id
        ]
        if reference:
            with_me = [(s, w) for s, w in with_me if w.id == workspaces[0].id]
        return made, with_me

    async def _subject(self, caller: Caller, reference: str, username: str) -> tuple[Resolved, Principal]:
        """The workspace the caller names, and whose permission on it they ask about."""
        me = await self.principal(caller)
        resolved = await self.resolve(me, reference)
        if not username or username == caller.username:
            return resolved, me
        if resolved.decision.level < Level.OWN and not caller.is_admin:
            raise DomainError(
                Reason.PERMISSION_DENIED, "only the owner, 'own' sharees and admins may ask for others"
            )
        user_id, name = await self.identity.user(username)
        return resolved, Principal(user_id, name, frozenset(await self.identity.groups(user_id)))

    async def check_permission(self, caller: Caller, reference: str, username: str) -> Decision:
        resolved, subject = await self._subject(caller, reference, username)
        if subject.user_id == caller.user_id:
            return resolved.decision
        async with self._tx() as tx:
            shares = await tx.repo.shares_of([resolved.workspace.id])
        return decide(subject, resolved.workspace, shares, _now())

    async def explain_permission(
        self, caller: Caller, reference: str, username: str, wanted: Level
    ) -> Explanation:
        resolved, subject = await self._subject(caller, reference, username)
        now = _now()
        async with self._tx() as tx:
            shares = await tx.repo.shares_of([resolved.workspace.id])
        decision = decide(subject, resolved.workspace, shares, now)
        allowed = decision.level >= wanted
        who, ref = subject.username, f"{resolved.workspace.ref}/"
        if allowed:
            summary = f"{who} can {wanted.verb} {ref}: {decision.reason} gives {decision.level.label}"
        elif decision.level == Level.NONE:
            summary = f"{who} cannot {wanted.verb} {ref}: no share, group share or public access reaches them"
        else:
            summary = (
                f"{who} cannot {wanted.verb} {ref}: the best they have is {decision.level.label} "
                f"({decision.reason}), this needs {wanted.label}"
            )
        return Explanation(
            workspace=resolved.workspace,
            username=who,
            decision=decision,
            allowed=allowed,
            summary=summary,
            factors=factors(subject, resolved.workspace, shares, now),
        )

    # --- import and links -----------------------------------------------------------------------------

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
        async with self._tx() as tx:
            await tx.repo.lock_root(root.id)
            mapped = [w.prefix for w in await tx.repo.in_root(root.id)]
            taken = {w.name for w in await tx.repo.owned_by(caller.user_id)}
            for folder in folders:
                if folder in mapped:
                    result.already_mapped += 1
                    continue
                if any(rules.prefixes_nest(folder, other) for other in mapped):
                    result.skipped.append((folder, "overlaps a folder already mapped by a workspace"))
                    continue
                try:
                    check_grantable(folder)
                except DomainError as refused:
                    result.skipped.append((folder, refused.message))
                    continue
                name = rules.unique_name(rules.derive_name(folder[len(root.base_prefix) : -1]), taken)
                workspace = self._new_workspace(caller, name, root, folder)
                await tx.repo.add_workspace(workspace)
                await tx.events.workspace_created(workspace)
                taken.add(name)
                mapped.append(folder)
                result.created.append(workspace)
        return result

    async def create_link(self, caller: Caller, reference: str, seconds: int) -> tuple[str, datetime]:
        seconds = seconds or DEFAULT_LINK_SECONDS
        if not 1 <= seconds <= MAX_LINK_SECONDS:
            raise DomainError(
                Reason.INVALID_EXPIRY,
                "a link lasts from one second to seven days",
                field="expires_in_seconds",
            )
        resolved = await self.resolve(await self.principal(caller), reference)
        if not resolved.path or resolved.path.endswith("/"):
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                "name one object inside the workspace, e.g. ws/path/file",
                field="object",
            )
        workspace = resolved.workspace
        _root, access = await self.nodes.root(workspace.root_id)
        key = workspace.prefix + resolved.path
        if not await self.store.exists(access, workspace.bucket, key):
            raise DomainError(Reason.OBJECT_NOT_FOUND, f"no object {workspace.ref}/{resolved.path}")
        url = await self.store.presign_get(access, workspace.bucket, key, seconds)
        return url, datetime.fromtimestamp(time.time() + seconds, UTC)

    # --- credentials ----------------------------------------------------------------------------------

    async def issue_credentials(
        self, caller: Caller, references: Sequence[str], node: str
    ) -> list[CredentialSet]:
        if not references and not node:
            raise DomainError(Reason.INVALID_ARGUMENT, "name workspaces or a node")
        key = PlanKey(caller.user_id, tuple(references), node)
        # Read before the rights are: a change committed in between then shows as a newer revision.
        revision = await self._tx.read(lambda repo: repo.rights_revision())
        plan = await self._reusable_plan(key, revision, caller)
        if plan is None:
            plan = await self._plan(caller, references, node, revision)
            self.plans.put(key, plan)
        sets: list[CredentialSet] = []
        for planned in plan.sets:
            access = await self.nodes.node(planned.node_id)
            credentials, sts_seconds = await self._credentials(caller, access, planned)
            sets.append(CredentialSet(access, planned.node_name, credentials, planned.scopes, sts_seconds))
        return sets

    async def _reusable_plan(self, key: PlanKey, revision: int, caller: Caller) -> Plan | None:
        """The cached plan for this request when resolving again would give the same one."""
        plan = self.plans.get(key)
        if plan is None or not plan.holds(revision, _now()):
            return None
        # Membership belongs to identity: asked again whenever the plan depended on it.
        if plan.reads_groups and not plan.same_membership(
            frozenset(await self.identity.groups(caller.user_id))
        ):
            return None
        for planned in plan.sets:
            if (await self.nodes.node(planned.node_id)).policy_size_limit != planned.policy_size_limit:
                return None
        return plan

    async def _plan(self, caller: Caller, references: Sequence[str], node: str, revision: int) -> Plan:
        """Resolves the request: the workspaces it covers, with levels, compiled into session policies."""
        now = _now()
        found, shares = await self._candidates(references)
        if node:
            principal, groups_read = await self.principal(caller), None
        else:
            principal = await self._principal_for(caller, shares)
            groups_read = frozenset(s.sharee_id for s in shares if s.sharee_kind == "group")
        chosen: dict[str, tuple[Workspace, Level]] = {}
        for resolved in self._pick_all(principal, references, found, shares, Level.READ):
            chosen[resolved.workspace.id] = (resolved.workspace, resolved.decision.level)
        if node:
            visible, node_shares = await self._visible(principal, now)
            shares = [*shares, *node_shares]
            for workspace in visible:
                decision = decide(principal, workspace, node_shares, now)
                if decision.level >= Level.READ and node in {workspace.node_id, workspace.node_name}:
                    chosen[workspace.id] = (workspace, decision.level)
            if not chosen:
                raise DomainError(Reason.WORKSPACE_NOT_FOUND, f"you can access no workspace on node {node!r}")
        by_node: dict[str, list[tuple[Workspace, Level]]] = {}
        for workspace, level in chosen.values():
            by_node.setdefault(workspace.node_id, []).append((workspace, level))
        sets: list[PlannedSet] = []
        for node_id, scoped in sorted(by_node.items()):
            access = await self.nodes.node(node_id)
            grants = [
                Grant(bucket=w.bucket, prefix=w.prefix, write=level >= Level.READWRITE, label=w.id)
                for w, level in scoped
            ]
            levels = {w.id: (w, level) for w, level in scoped}
            for policy in compile_policies(grants, access.policy_size_limit):
                sets.append(
                    PlannedSet(
                        node_id=node_id,
                        node_name=scoped[0][0].node_name,
                        policy_text=policy.text,
                        policy_digest=hashlib.sha256(policy.text.encode()).hexdigest(),
                        policy_size_limit=access.policy_size_limit,
                        scopes=tuple(levels[g.label] for g in policy.grants),
                    )
                )
        expiries = [s.expires_at for s in shares if s.expires_at is not None and s.expires_at > now]
        member_of = principal.group_ids if groups_read is None else principal.group_ids & groups_read
        return Plan(revision, min(expiries, default=None), groups_read, member_of, tuple(sets))

    async def _credentials(
        self, caller: Caller, access: NodeAccess, planned: PlannedSet
    ) -> tuple[IssuedCredentials, float]:
        key = CacheKey(caller.user_id, access.node_id, planned.policy_digest)
        cached = self.cache.get(key, time.time())
        if cached is not None:
            return cached, 0.0
        workspace_ids = [w.id for w, _level in planned.scopes]
        async with self.cache.lock(key):
            cached = self.cache.get(key, time.time())
            if cached is not None:
                return cached, 0.0
            seconds = min(self.credential_seconds, access.max_credential_seconds)
            issued_at, started = time.time(), time.perf_counter()
            credentials = await self.store.assume_role(
                access, planned.policy_text, seconds, f"wio-{caller.username}"
            )
            sts_seconds = time.perf_counter() - started
            self.cache.put(key, credentials, issued_at, frozenset(workspace_ids))
        # The record of the issue is written beside the answer, not before it: the caller does not wait
        # for a second transaction.
        task = asyncio.create_task(
            self._record_issue(caller.user_id, access.node_id, workspace_ids, credentials)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return credentials, sts_seconds

    async def _record_issue(
        self, user_id: str, node_id: str, workspace_ids: list[str], credentials: IssuedCredentials
    ) -> None:
        try:
            async with self._tx() as tx:
                await tx.events.credentials_issued(
                    user_id, node_id, workspace_ids, credentials.expires_at, credentials.access_key
                )
        except Exception:
            log.exception("could not record issued credentials for user %s on node %s", user_id, node_id)

    async def drain(self) -> None:
        """Waits for the records still being written (on shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # --- internal -------------------------------------------------------------------------------------

    async def accessible(self, user_id: str, at_least: Level) -> list[tuple[Workspace, Level]]:
        principal = Principal(user_id, "", frozenset(await self.identity.groups(user_id)))
        return [(w, d.level) for w, d in await self._readable(principal) if d.level >= at_least]

    async def count_in_root(self, root_id: str) -> int:
        async with self._tx() as tx:
            return len(await tx.repo.in_root(root_id))
