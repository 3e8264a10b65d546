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
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Generic, TypeVar

from services.workspaces.domain import rules
from services.workspaces.domain.models import Share, Workspace

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
