"""Rights revisions: which counters a change to workspaces or shares advances, and which ones a credential
plan depends on.

A counter per scope, not one for everything: a change advances only the counters of the places it can
affect, so unrelated changes neither queue on one row nor make each other's cached plans stale. A plan
records the counters it read before it read the rights; it is reused only while they are unchanged.

Scopes:
- `ref:<owner>/<name>` and `name:<name>`: any change to a workspace of that name (created, deleted, its
  shares granted, changed or revoked). A reference resolves by owner and name, or by name alone, and only
  those workspaces can change its answer.
- `user:<id>`, `group:<id>`: what that principal may reach changed (a workspace they own created or
  deleted, a share to them granted, changed or revoked, a workspace shared with them deleted).
- `public`: a public workspace was created or deleted (everyone can read it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from services.workspaces.domain import rules
from services.workspaces.domain.models import Share, Workspace
from services.workspaces.domain.ports import Memberships

PUBLIC = "public"
T = TypeVar("T")


def ref_scope(owner: str, name: str) -> str:
    return f"ref:{owner}/{name}"


def name_scope(name: str) -> str:
    return f"name:{name}"


def principal_scope(kind: str, principal_id: str) -> str:
    return f"{kind}:{principal_id}"


def workspace_changed(workspace: Workspace, shares: Iterable[Share] = ()) -> set[str]:
    """A workspace created or deleted (with the shares it had)."""
    scopes = {
        ref_scope(workspace.owner_username, workspace.name),
        name_scope(workspace.name),
        principal_scope("user", workspace.owner_id),
    }
    scopes.update(principal_scope(s.sharee_kind, s.sharee_id) for s in shares)
    if workspace.type == "public":
        scopes.add(PUBLIC)
    return scopes


def share_changed(workspace: Workspace, share: Share) -> set[str]:
    """A share granted, changed or revoked."""
    return {
        ref_scope(workspace.owner_username, workspace.name),
        name_scope(workspace.name),
        principal_scope(share.sharee_kind, share.sharee_id),
    }


def read_by_references(references: Iterable[str]) -> frozenset[str]:
    """What resolving these references reads: the workspaces of each (owner, name) and bare name."""
    scopes: set[str] = set()
    for reference in references:
        for reading in rules.readings(reference):
            if reading.owner is None:
                scopes.add(name_scope(reading.name))
            else:
                scopes.add(ref_scope(reading.owner, reading.name))
    return frozenset(scopes)


def read_by_principal(user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
    """What listing everything a user can reach reads (their own, their groups', every public one)."""
    return frozenset(
        {principal_scope("user", user_id), PUBLIC, *(principal_scope("group", g) for g in group_ids)}
    )


Revisions = Mapping[str, int]


@dataclass(frozen=True)
class RightsRead:
    """What a resolution of rights read, so that a later one can tell whether it would come out the same
    without reading it all again: the rule a cached credential plan and the accessible-workspaces
    revision both rest on (RightsCheck.holds)."""

    # The rights revisions it depends on, read before the workspaces and shares were.
    revisions: tuple[tuple[str, int], ...]
    valid_until: datetime | None  # the earliest expiry of a share the decisions read
    # Group ids whose membership the decisions read (None: every group, as for "all on node X"), and which
    # of them the user was in.
    groups_read: frozenset[str] | None
    member_of: frozenset[str]

    @property
    def scopes(self) -> list[str]:
        return [scope for scope, _value in self.revisions]

    def holds(self, current: Mapping[str, int], now: datetime) -> bool:
        """Still right, as far as workspaces and shares go (group membership: same_membership)."""
        unchanged = all(current.get(scope, 0) == value for scope, value in self.revisions)
        return unchanged and (self.valid_until is None or now < self.valid_until)

    @property
    def reads_groups(self) -> bool:
        return self.groups_read is None or bool(self.groups_read)

    def same_membership(self, groups: frozenset[str]) -> bool:
        read = groups if self.groups_read is None else groups & self.groups_read
        return read == self.member_of


class RightsCheck:
    """Reads what a RightsRead depends on as it is now and says whether it still holds."""

    def __init__(self, memberships: Memberships, reads: SharedRevisionReads) -> None:
        self.memberships = memberships
        self.reads = reads

    async def revisions(self, scopes: Collection[str]) -> dict[str, int]:
        return await self.reads.get(scopes)

    async def holds(self, read: RightsRead, user_id: str) -> bool:
        if read.reads_groups:
            # Membership belongs to identity: looked up again whenever the read depended on it, while the
            # revisions are read.
            looked_up = asyncio.ensure_future(self.memberships.groups(user_id))
            try:
                current = await self.reads.get(read.scopes)
            finally:
                groups = await looked_up
            if not read.same_membership(frozenset(groups)):
                return False
        else:
            current = await self.reads.get(read.scopes)
        return read.holds(current, datetime.now(UTC))


# The revision of "everything a user can reach" (ListAccessibleWorkspaces): the RightsRead of that listing,
# written out, so that any replica can check it with no state of its own. Such a listing reads the user's
# scope, `public` and each of their groups' (read_by_principal) and depends on every group membership, so
# the groups they were in are the group scopes it read.
_TOKEN_VERSION = "r1."
_GROUP = principal_scope("group", "")


def principal_revision(user_id: str, read: RightsRead) -> str:
    """The revision string of a listing of everything `user_id` can reach."""
    if read.groups_read is not None or {s for s, _v in read.revisions} != read_by_principal(
        user_id, read.member_of
    ):
        raise ValueError("not what a listing of everything the user can reach reads")
    body = {
        "r": [list(pair) for pair in read.revisions],
        "t": read.valid_until.isoformat() if read.valid_until else None,
    }
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return _TOKEN_VERSION + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def principal_read(user_id: str, revision: str) -> RightsRead | None:
    """The RightsRead a revision string stands for, when it is one of `user_id`'s listings; None for
    anything else (another user's, a garbled or older kind of string), which then never counts as
    unchanged."""
    if not revision.startswith(_TOKEN_VERSION):
        return None
    encoded = revision[len(_TOKEN_VERSION) :]
    try:
        body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        pairs = tuple((str(scope), int(value)) for scope, value in body["r"])
        valid_until = datetime.fromisoformat(body["t"]) if body["t"] is not None else None
        if valid_until is not None and valid_until.tzinfo is None:
            return None
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    member_of = frozenset(s.removeprefix(_GROUP) for s, _v in pairs if s.startswith(_GROUP))
    # Exactly what a listing of this user in these groups reads, or it is not one of theirs.
    if {scope for scope, _value in pairs} != read_by_principal(user_id, member_of):
        return None
    return RightsRead(pairs, valid_until, None, member_of)


class FreshRead(Generic[T]):
    """One call of `read` shared by every caller that arrived before it started. A caller never joins a
    call already under way: that one may have been sent before the caller's own request arrived, and a
    change acknowledged before a request must count for it. With no call under way, the caller makes its
    own at once; those arriving meanwhile wait for the next one, which all of them share."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._busy = False
        self._next: asyncio.Future[T] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def get(self) -> T:
        if not self._busy:
            self._busy = True
            try:
                return await self._read()
            finally:
                self._busy = False
                self._run_waiting()
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        # Shielded: a caller that gives up must not cancel the read the others wait for.
        return await asyncio.shield(self._next)

    def _run_waiting(self) -> None:
        if self._next is not None and self._runner is None:
            self._busy = True
            self._runner = asyncio.create_task(self._run())

    async def _run(self) -> None:
        future: asyncio.Future[T] | None = None
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    future.set_result(await self._read())
                except Exception as exc:
                    future.set_exception(exc)
                    future.exception()  # retrieved: a failure nobody waits for any more is not "lost"
        finally:
            self._busy = False
            self._runner = None
            for pending in (future, self._next):
                if pending is not None and not pending.done():
                    pending.cancel()


class SharedRevisionReads:
    """The revisions many concurrent requests need, read in one query (see FreshRead)."""

    def __init__(self, read: Callable[[Collection[str]], Awaitable[dict[str, int]]]) -> None:
        self._read = read
        self._waiting: set[str] = set()
        self._shared = FreshRead(self._read_waiting)

    async def _read_waiting(self) -> dict[str, int]:
        scopes, self._waiting = self._waiting, set()
        return await self._read(scopes)

    async def get(self, scopes: Collection[str]) -> dict[str, int]:
        self._waiting.update(scopes)
        found = await self._shared.get()
        return {scope: found.get(scope, 0) for scope in scopes}
