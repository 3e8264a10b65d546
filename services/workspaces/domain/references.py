"""Reading references (`name`, `owner/name`, `name/path`) as a caller can see them, and what a caller can
reach: the queries every other use case starts from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.workspaces.domain import rules
from services.workspaces.domain.models import Decision, Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.domain.ports import Memberships, Transactions, WorkspacesRepository


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resolved:
    workspace: Workspace
    path: str
    decision: Decision


class References:
    def __init__(self, transactions: Transactions, memberships: Memberships) -> None:
        self._tx = transactions
        self.memberships = memberships

    async def principal(self, caller: Caller) -> Principal:
        groups = await self.memberships.groups(caller.user_id)
        return Principal(caller.user_id, caller.username, frozenset(groups))

    async def principal_for(self, caller: Caller, shares: Sequence[Share]) -> Principal:
        """The caller as `decide` needs them for these shares: their groups matter only when one of
        the shares names a group, so they are looked up only then."""
        if not any(s.sharee_kind == "group" for s in shares):
            return Principal(caller.user_id, caller.username, frozenset())
        return await self.principal(caller)

    async def resolve(self, principal: Principal, reference: str, at_least: Level = Level.READ) -> Resolved:
        """Read a reference as the caller can see it; anything they may not read is simply not found."""
        found, shares = await self.candidates([reference])
        return self.pick_all(principal, [reference], found, shares, at_least)[0]

    async def resolve_for_caller(
        self, caller: Caller, references: Sequence[str], at_least: Level = Level.READ
    ) -> list[Resolved]:
        """`resolve` for several references of the caller, with their groups only when they matter."""
        found, shares = await self.candidates(references)
        principal = await self.principal_for(caller, shares)
        return self.pick_all(principal, references, found, shares, at_least)

    async def candidates(self, references: Sequence[str]) -> tuple[list[Workspace], list[Share]]:
        """Every workspace the references could name, and their shares: one query each."""
        readings = [r for reference in references for r in rules.readings(reference)]
        pairs = sorted({(r.owner, r.name) for r in readings if r.owner is not None})
        names = sorted({r.name for r in readings if r.owner is None})

        async def query(repo: WorkspacesRepository) -> tuple[list[Workspace], list[Share]]:
            found = await repo.by_references(pairs, names)
            return found, await repo.shares_of([w.id for w in found])

        return await self._tx.read(query)

    def pick_all(
        self,
        principal: Principal,
        references: Sequence[str],
        found: list[Workspace],
        shares: list[Share],
        at_least: Level,
    ) -> list[Resolved]:
        moment = now()
        decisions = {w.id: decide(principal, w, shares, moment) for w in found}
        return [
            _pick(reference, rules.readings(reference), found, decisions, at_least)
            for reference in references
        ]

    async def readable(self, principal: Principal) -> list[tuple[Workspace, Decision]]:
        """Every workspace the principal can read, with the decision that says so."""
        moment = now()
        workspaces, shares = await self.visible(principal, moment)
        decided = [(w, decide(principal, w, shares, moment)) for w in workspaces]
        return [(w, d) for w, d in decided if d.level >= Level.READ]

    async def visible(self, principal: Principal, moment: datetime) -> tuple[list[Workspace], list[Share]]:
        """The workspaces the principal may see (owned, shared, public) and all their shares."""

        async def query(repo: WorkspacesRepository) -> tuple[list[Workspace], list[Share]]:
            workspaces = await repo.visible_to(principal.user_id, sorted(principal.group_ids), moment)
            return workspaces, await repo.shares_of([w.id for w in workspaces])

        return await self._tx.read(query)


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
        raise DomainError(Reason.WORKSPACE_AMBIGUOUS, f"{reference!r} could mean {names}: name the owner too")
    resolved = next(iter(unique.values()))
    if resolved.decision.level < at_least:
        raise DomainError(
            Reason.PERMISSION_DENIED,
            f"you have {resolved.decision.level.label} on {resolved.workspace.ref}/, "
            f"this needs {at_least.label}",
        )
    return resolved
