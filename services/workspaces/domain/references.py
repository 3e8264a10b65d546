"""Reading references (`owner/name[/inner]`, `name[/inner]`; the grammar is rules.reading) as a caller can
see them, and what a caller can reach: the queries every other use case starts from."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.workspaces.domain import rules
from services.workspaces.domain.models import Decision, Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.domain.ports import (
    CandidateReader,
    Memberships,
    Transactions,
    Usernames,
    WorkspacesRepository,
)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resolved:
    workspace: Workspace
    path: str
    decision: Decision


@dataclass(frozen=True)
class Candidates:
    """Every workspace some references could name, their shares, and which of the references' first
    segments are usernames (so which reading of each the grammar takes: rules.reading)."""

    workspaces: list[Workspace]
    shares: list[Share]
    usernames: frozenset[str]
    # The rights revisions asked for with them, read in the same snapshot (References.candidates).
    revisions: Mapping[str, int] = field(default_factory=dict)

    def groups_deciding(self, user_id: str) -> frozenset[str]:
        """The groups whose membership can change a decision for this user: those that shares of
        workspaces the user does not own name (an owner's level never depends on shares)."""
        owned = {w.id for w in self.workspaces if w.owner_id == user_id}
        return frozenset(
            s.sharee_id for s in self.shares if s.sharee_kind == "group" and s.workspace_id not in owned
        )


class References:
    def __init__(
        self,
        transactions: Transactions,
        read_candidates: CandidateReader,
        memberships: Memberships,
        usernames: Usernames,
    ) -> None:
        self._tx = transactions
        self.read_candidates = read_candidates
        self.memberships = memberships
        self.usernames = usernames

    async def principal(self, caller: Caller) -> Principal:
        groups = await self.memberships.groups(caller.user_id)
        return Principal(caller.user_id, caller.username, frozenset(groups))

    async def principal_for(self, caller: Caller, found: Candidates) -> Principal:
        """The caller as `decide` needs them for these candidates: their groups are looked up only when
        one of them can change a decision (Candidates.groups_deciding)."""
        if not found.groups_deciding(caller.user_id):
            return Principal(caller.user_id, caller.username, frozenset())
        return await self.principal(caller)

    async def resolve(self, principal: Principal, reference: str, at_least: Level = Level.READ) -> Resolved:
        """Read a reference as the caller can see it; anything they may not read is simply not found."""
        found = await self.candidates([reference], known=(principal.username,))
        return self.pick_all(principal, [reference], found, at_least)[0]

    async def resolve_for_caller(
        self, caller: Caller, references: Sequence[str], at_least: Level = Level.READ
    ) -> list[Resolved]:
        """`resolve` for several references of the caller, with their groups only when they matter."""
        found = await self.candidates(references, known=(caller.username,))
        principal = await self.principal_for(caller, found)
        return self.pick_all(principal, references, found, at_least)

    async def candidates(
        self, references: Sequence[str], known: Sequence[str] = (), revisions_of: Collection[str] = ()
    ) -> Candidates:
        """Every workspace the references could name and their shares (one query), and which first
        segments are usernames: owners of a workspace found, `known` ones, else asked of identity. The
        rights revisions of `revisions_of` come from the same query, so from the same snapshot."""
        readings = [r for reference in references for r in rules.readings(reference)]
        pairs = sorted({(r.owner, r.name) for r in readings if r.owner is not None})
        names = sorted({r.name for r in readings if r.owner is None})

        found, shares, revisions = await self.read_candidates(pairs, names, revisions_of)
        heads = {owner for owner, _name in pairs}
        usernames = heads & ({w.owner_username for w in found} | set(known))
        if heads - usernames:
            usernames |= await self.usernames.existing(sorted(heads - usernames))
        # Every scope asked for, one never changed at 0: what a plan records is compared scope by scope
        # later (RightsRead.holds), and a scope left out would never count as changed.
        return Candidates(
            found, shares, frozenset(usernames), {scope: revisions.get(scope, 0) for scope in revisions_of}
        )

    def pick_all(
        self, principal: Principal, references: Sequence[str], found: Candidates, at_least: Level
    ) -> list[Resolved]:
        moment = now()
        decisions = {w.id: decide(principal, w, found.shares, moment) for w in found.workspaces}
        return [
            pick(
                reference,
                rules.reading(reference, found.usernames),
                principal.user_id,
                found.workspaces,
                decisions,
                at_least,
            )
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


def pick(
    reference: str,
    reading: rules.Reference,
    user_id: str,
    found: Sequence[Workspace],
    decisions: dict[str, Decision],
    at_least: Level,
) -> Resolved:
    """The one workspace a reading names among those the caller can read, or a clear error: with an
    owner, that user's workspace only; without, the caller's own first, then a unique visible one."""
    named = [w for w in found if w.name == reading.name and decisions[w.id].level >= Level.READ]
    if reading.owner is not None:
        matches = [w for w in named if w.owner_username == reading.owner]
    else:
        matches = [w for w in named if w.owner_id == user_id] or named
    if not matches:
        raise DomainError(Reason.WORKSPACE_NOT_FOUND, f"no workspace {reference!r} that you can see")
    if len(matches) > 1:
        names = ", ".join(sorted(f"{w.ref}/" for w in matches))
        raise DomainError(Reason.WORKSPACE_AMBIGUOUS, f"{reference!r} could mean {names}: name the owner too")
    workspace = matches[0]
    resolved = Resolved(workspace, reading.path, decisions[workspace.id])
    if resolved.decision.level < at_least:
        raise DomainError(
            Reason.PERMISSION_DENIED,
            f"you have {resolved.decision.level.label} on {workspace.ref}/, this needs {at_least.label}",
        )
    return resolved
