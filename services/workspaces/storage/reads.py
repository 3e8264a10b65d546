"""The two reads on the path of every credential request and reference resolution, sent straight to the
driver (services/common/driver_reads.py): the rights revisions, and what a set of references can name."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Text, any_, bindparam, func, or_, select, true, tuple_
from sqlalchemy.dialects.postgresql import ARRAY

from services.common.driver_reads import DriverConnections, DriverStatement
from services.workspaces.domain.models import Share, Workspace
from services.workspaces.storage import tables as t
from services.workspaces.storage.repository import READY, W, share_of, workspace_of

R = t.rights_revisions.c
_OF_SCOPES = R.scope == any_(bindparam("scopes", type_=ARRAY(Text)))
REVISIONS = DriverStatement.of(select(R.scope, R.value).where(_OF_SCOPES))

# What a set of references can name, with their shares: one constant statement whatever the number of
# references (arrays, not a parameter each), so it is compiled and prepared once. Every name the
# references hold goes through the index on names; the pairs and bare names are picked among those rows.
# (A union of a by-name and a by-pair look-up reads fewer rows for a pair, but PostgreSQL takes several
# times as long to plan it, and plans it on each execution: 0.5-1.5 ms, more than the query.)
_SHARE_PREFIX = "share_"
_CANDIDATES = (
    select(*W, *(c.label(_SHARE_PREFIX + c.name) for c in t.shares.c))
    .select_from(t.workspaces.outerjoin(t.shares, t.shares.c.workspace_id == W.id))
    .where(
        W.name == any_(bindparam("all_names", type_=ARRAY(Text))),
        or_(
            W.name == any_(bindparam("names", type_=ARRAY(Text))),
            tuple_(W.owner_username, W.name).in_(
                select(
                    func.unnest(bindparam("pair_owners", type_=ARRAY(Text))),
                    func.unnest(bindparam("pair_names", type_=ARRAY(Text))),
                )
            ),
        ),
        READY,
    )
    .subquery("c")
)
# The rights revisions of some scopes, as two arrays in one row.
_SCOPES = (
    select(func.array_agg(R.scope).label("revision_scopes"), func.array_agg(R.value).label("revision_values"))
    .where(_OF_SCOPES)
    .subquery("r")
)
# Both in one statement, so from one snapshot: a change committed at any moment shows in both or in
# neither. The revisions' one row comes even when no workspace matches.
CANDIDATES = DriverStatement.of(
    select(_SCOPES.c.revision_scopes, _SCOPES.c.revision_values, *_CANDIDATES.c)
    .select_from(_SCOPES.outerjoin(_CANDIDATES, true()))
    .order_by(_CANDIDATES.c.share_created_at, _CANDIDATES.c.share_id)
)


class _Columns:
    """A driver's row seen as the repository's mappers read rows: columns as attributes, here under a
    prefix (a CANDIDATES row holds a workspace and, prefixed, one of its shares)."""

    def __init__(self, row: Any, prefix: str = "") -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._row[self._prefix + name]


class SqlRevisionReads:
    """The rights revisions of some scopes (a scope never changed is absent)."""

    def __init__(self, connections: DriverConnections) -> None:
        self.connections = connections

    async def __call__(self, scopes: Collection[str]) -> dict[str, int]:
        if not scopes:
            return {}
        rows = await self.connections.fetch(REVISIONS, {"scopes": list(scopes)})
        return {str(row[0]): int(row[1]) for row in rows}


class SqlCandidateReads:
    """Every workspace matching one (owner username, name) pair or one bare name, with all its shares
    (oldest first), and the rights revisions of some scopes, in one statement."""

    def __init__(self, connections: DriverConnections) -> None:
        self.connections = connections

    async def __call__(
        self, owner_names: Sequence[tuple[str, str]], names: Sequence[str], scopes: Collection[str] = ()
    ) -> tuple[list[Workspace], list[Share], dict[str, int]]:
        if not owner_names and not names and not scopes:
            return [], [], {}
        rows = await self.connections.fetch(
            CANDIDATES,
            {
                "all_names": sorted({*names, *(name for _owner, name in owner_names)}),
                "names": list(names),
                "pair_owners": [owner for owner, _name in owner_names],
                "pair_names": [name for _owner, name in owner_names],
                "scopes": list(scopes),
            },
        )
        first = rows[0]  # there is always one: the revisions' row
        revisions = dict(zip(first["revision_scopes"] or (), first["revision_values"] or (), strict=True))
        found: dict[str, Workspace] = {}
        shares: list[Share] = []
        for row in rows:
            if row["id"] is None:
                continue  # no workspace matched
            workspace_id = str(row["id"])
            if workspace_id not in found:
                found[workspace_id] = workspace_of(_Columns(row))
            if row[_SHARE_PREFIX + "id"] is not None:
                shares.append(share_of(_Columns(row, _SHARE_PREFIX)))
        return list(found.values()), shares, {str(scope): int(value) for scope, value in revisions.items()}
