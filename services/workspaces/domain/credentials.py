"""Credential brokering: a request resolves to a plan (which workspaces, at which levels, compiled into
session policies), and each policy to a credential set from the node's STS. Both are kept for reuse, and
reused only while they would come out the same (see cache.py and revisions.py)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.errors import DomainError, Reason
from services.common.identity import Caller, set_caller
from services.common.limits import check_count
from services.workspaces.domain import revisions
from services.workspaces.domain.cache import CacheKey, CredentialCache, Plan, PlanCache, PlanKey, PlannedSet
from services.workspaces.domain.models import Level, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.domain.policy import Grant, compile_policies
from services.workspaces.domain.ports import (
    IssuedCredentials,
    NodeAccess,
    Nodes,
    ObjectStore,
    Transactions,
)
from services.workspaces.domain.references import References, now

log = logging.getLogger(__name__)

DEFAULT_CREDENTIAL_SECONDS = 900
# Issues recorded within this time of each other share a transaction.
RECORD_BATCH_SECONDS = 0.02


@dataclass(frozen=True)
class _IssueRecord:
    caller: Caller
    node_id: str
    workspace_ids: list[str]
    credentials: IssuedCredentials


@dataclass(frozen=True)
class CredentialSet:
    node: NodeAccess
    node_name: str
    credentials: IssuedCredentials
    scopes: tuple[tuple[Workspace, Level], ...]
    # Time spent waiting for the node's STS; 0 when the set came from the cache.
    sts_seconds: float = 0.0


class Credentials:
    def __init__(
        self,
        transactions: Transactions,
        references: References,
        nodes: Nodes,
        store: ObjectStore,
        cache: CredentialCache,
        plans: PlanCache,
        rights: revisions.RightsCheck,
        credential_seconds: int = DEFAULT_CREDENTIAL_SECONDS,
    ) -> None:
        self._tx = transactions
        self.references = references
        self.nodes = nodes
        self.store = store
        self.cache = cache
        self.plans = plans
        self.credential_seconds = credential_seconds
        self.rights = rights
        self._records: list[_IssueRecord] = []
        self._recorder: asyncio.Task[None] | None = None

    async def issue(self, caller: Caller, references: Sequence[str], node: str) -> list[CredentialSet]:
        if not references and not node:
            raise DomainError(Reason.INVALID_ARGUMENT, "name workspaces or a node")
        check_count(references, "workspaces")
        key = PlanKey(caller.user_id, tuple(references), node)
        plan = await self._reusable_plan(key, caller)
        if plan is None:
            plan = await self._plan(caller, references, node)
            self.plans.put(key, plan)
        sets: list[CredentialSet] = []
        for planned in plan.sets:
            access = await self.nodes.node(planned.node_id)
            credentials, sts_seconds = await self.broker(caller, access, planned, self.credential_seconds)
            sets.append(CredentialSet(access, planned.node_name, credentials, planned.scopes, sts_seconds))
        return sets

    async def _reusable_plan(self, key: PlanKey, caller: Caller) -> Plan | None:
        """The cached plan for this request when resolving again would give the same one."""
        plan = self.plans.get(key)
        if plan is None or not await self.rights.holds(plan, caller.user_id):
            return None
        for planned in plan.sets:
            if (await self.nodes.node(planned.node_id)).policy_size_limit != planned.policy_size_limit:
                return None
        return plan

    async def _plan(self, caller: Caller, references: Sequence[str], node: str) -> Plan:
        """Resolves the request: the workspaces it covers, with levels, compiled into session policies."""
        scopes = revisions.read_by_references(references)
        principal = None
        if node:
            principal = await self.references.principal(caller)
            scopes |= revisions.read_by_principal(caller.user_id, principal.group_ids)
        moment = now()
        # The revisions come from the statement that reads the candidates, so from the same snapshot: a
        # change committed at any moment shows in both or in neither. What is read later (everything on
        # the node) can only be newer than them, which ends the plan sooner, never later.
        found = await self.references.candidates(references, revisions_of=scopes)
        read = found.revisions
        shares = found.shares
        groups_read: frozenset[str] | None = None
        if principal is None:
            principal = await self.references.principal_for(caller, found)
            groups_read = found.groups_deciding(caller.user_id)
        chosen: dict[str, tuple[Workspace, Level]] = {}
        for resolved in self.references.pick_all(principal, references, found, Level.READ):
            chosen[resolved.workspace.id] = (resolved.workspace, resolved.decision.level)
        if node:
            visible, node_shares = await self.references.visible(principal, moment)
            shares = [*shares, *node_shares]
            for workspace in visible:
                decision = decide(principal, workspace, node_shares, moment)
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
        expiries = [s.expires_at for s in shares if s.expires_at is not None and s.expires_at > moment]
        member_of = principal.group_ids if groups_read is None else principal.group_ids & groups_read
        return Plan(
            tuple(sorted(read.items())), min(expiries, default=None), groups_read, member_of, tuple(sets)
        )

    async def broker(
        self, caller: Caller, access: NodeAccess, planned: PlannedSet, seconds: int
    ) -> tuple[IssuedCredentials, float]:
        """A credential set from the node's STS for one planned session policy, at most `seconds` long
        (and within the node's maximum): reused from the cache while it may be, recorded once issued.
        Every credential wio hands out comes from here."""
        key = CacheKey(caller.user_id, access.node_id, planned.policy_digest)
        cached = self.cache.get(key, time.time())
        if cached is not None:
            return cached, 0.0
        workspace_ids = [w.id for w, _level in planned.scopes]
        async with self.cache.issuing(key):
            cached = self.cache.get(key, time.time())
            if cached is not None:
                return cached, 0.0
            issued_at, started = time.time(), time.perf_counter()
            credentials = await self.store.assume_role(
                access,
                planned.policy_text,
                min(seconds, access.max_credential_seconds),
                f"wio-{caller.username}",
            )
            sts_seconds = time.perf_counter() - started
            self.cache.put(key, credentials, issued_at, frozenset(workspace_ids))
        # The record of the issue is written beside the answer, not before it: the caller does not wait
        # for a second transaction.
        self._records.append(_IssueRecord(caller, access.node_id, workspace_ids, credentials))
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._write_records())
        return credentials, sts_seconds

    async def _write_records(self) -> None:
        """Writes the records waiting, all of them in one transaction, until none is left: under load one
        transaction records many issues instead of one each."""
        try:
            while self._records:
                await asyncio.sleep(RECORD_BATCH_SECONDS)
                batch, self._records = self._records, []
                try:
                    async with self._tx() as tx:
                        for r in batch:
                            set_caller(r.caller)  # the event's actor (this task's own context)
                            await tx.events.credentials_issued(
                                r.caller.user_id,
                                r.node_id,
                                r.workspace_ids,
                                r.credentials.expires_at,
                                r.credentials.access_key,
                            )
                except Exception:
                    log.exception("could not record %d issued credential set(s)", len(batch))
        finally:
            self._recorder = None

    async def drain(self) -> None:
        """Waits for the records still being written (on shutdown)."""
        if self._recorder is not None:
            await asyncio.gather(self._recorder, return_exceptions=True)
