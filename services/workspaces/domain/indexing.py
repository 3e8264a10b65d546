"""What the indexer asks: which workspaces a user can read (with a revision it can cache them under),
list-only credentials for a root or a workspace, and where the workspaces of a node live. The indexer never
holds a node's own keys; what it lists with is brokered like a user's credentials."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.workspaces.domain import revisions
from services.workspaces.domain.cache import PlannedSet
from services.workspaces.domain.credentials import Credentials
from services.workspaces.domain.models import Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import decide
from services.workspaces.domain.policy import listing_policy
from services.workspaces.domain.ports import (
    IssuedCredentials,
    Memberships,
    NodeAccess,
    Nodes,
    Transactions,
    WorkspacesRepository,
)
from services.workspaces.domain.references import References, now

# Long enough for a large crawl; the node's own maximum still applies. Listing cannot change data, so a
# longer life than a user's credentials widens nothing.
DEFAULT_LISTING_SECONDS = 3600


@dataclass(frozen=True)
class AccessibleAnswer:
    """The workspaces a user can read at a level, and the revision of that answer; `unchanged` (and no
    workspaces) when the revision the caller knew is still current."""

    revision: str
    unchanged: bool
    workspaces: list[tuple[Workspace, Level]]


@dataclass(frozen=True)
class ListingGrant:
    node: NodeAccess
    node_name: str
    credentials: IssuedCredentials
    bucket: str
    prefix: str
    root_id: str
    workspaces: list[Workspace]


def _reaches(principal: Principal, share: Share) -> bool:
    if share.sharee_kind == "user":
        return share.sharee_id == principal.user_id
    return share.sharee_id in principal.group_ids


class Indexing:
    def __init__(
        self,
        transactions: Transactions,
        references: References,
        nodes: Nodes,
        memberships: Memberships,
        credentials: Credentials,
        rights: revisions.RightsCheck,
        listing_seconds: int = DEFAULT_LISTING_SECONDS,
    ) -> None:
        self._tx = transactions
        self.references = references
        self.nodes = nodes
        self.memberships = memberships
        self.credentials = credentials
        self.rights = rights
        self.listing_seconds = listing_seconds

    async def accessible(self, user_id: str, at_least: Level, known_revision: str = "") -> AccessibleAnswer:
        """The revision covers whatever can change the answer: the user's own scope, each of their
        groups', `public` (read_by_principal), their group memberships and the first expiry of a share
        reaching them; it is checked by the same rule as a cached credential plan (RightsCheck)."""
        if not user_id:
            raise DomainError(Reason.INVALID_ARGUMENT, "name the user", field="user_id")
        if known_revision:
            known = revisions.principal_read(user_id, known_revision)
            if known is not None and await self.rights.holds(known, user_id):
                return AccessibleAnswer(known_revision, True, [])
        principal = Principal(user_id, "", frozenset(await self.memberships.groups(user_id)))
        # Read before the rights are: a change committed in between then shows as a newer revision.
        read = await self.rights.revisions(revisions.read_by_principal(user_id, principal.group_ids))
        moment = now()
        workspaces, shares = await self.references.visible(principal, moment)
        expiries = [
            s.expires_at
            for s in shares
            if s.expires_at is not None and s.expires_at > moment and _reaches(principal, s)
        ]
        rights = revisions.RightsRead(
            tuple(sorted(read.items())), min(expiries, default=None), None, principal.group_ids
        )
        decided = [(w, decide(principal, w, shares, moment).level) for w in workspaces]
        return AccessibleAnswer(
            revisions.principal_revision(user_id, rights),
            False,
            [(w, level) for w, level in decided if level >= max(at_least, Level.READ)],
        )

    async def listing_grant(
        self, caller: Caller, root_id: str, workspace_id: str, on_behalf_of: str, admin: bool
    ) -> ListingGrant:
        """List-only credentials for a root's prefix or one workspace's, for the indexer. On behalf of a
        user: a workspace needs a reader (anything else is simply not found), a root the node's operator or
        an admin. With nobody named it is the indexer's own work (imports, scheduled verifies)."""
        if bool(root_id) == bool(workspace_id):
            raise DomainError(Reason.INVALID_ARGUMENT, "name exactly one of root_id and workspace_id")
        if workspace_id:
            workspace = await self._readable_workspace(workspace_id, on_behalf_of)
            access = await self.nodes.node(workspace.node_id)
            node_name, bucket, prefix = workspace.node_name, workspace.bucket, workspace.prefix
            root_id, inside = workspace.root_id, [workspace]
        else:
            root, access = await self.nodes.root(root_id)
            if on_behalf_of and not admin and on_behalf_of != access.operator_id:
                raise DomainError(
                    Reason.NODE_OPERATOR_REQUIRED,
                    f"only the operator of node {root.node_name} or an admin crawls its roots",
                )
            node_name, bucket, prefix = root.node_name, root.bucket, root.base_prefix
            inside = await self._tx.read(lambda repo: repo.ready_in_root(root.id))
        policy = listing_policy(bucket, prefix)
        if len(policy.text) > access.policy_size_limit:
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                f"a listing policy for {bucket}/{prefix} needs {len(policy.text)} characters, over node "
                f"{node_name}'s limit of {access.policy_size_limit}",
            )
        planned = PlannedSet(
            node_id=access.node_id,
            node_name=node_name,
            policy_text=policy.text,
            policy_digest=hashlib.sha256(policy.text.encode()).hexdigest(),
            policy_size_limit=access.policy_size_limit,
            scopes=tuple((w, Level.READ) for w in inside),
        )
        credentials, _sts = await self.credentials.broker(caller, access, planned, self.listing_seconds)
        return ListingGrant(access, node_name, credentials, bucket, prefix, root_id, inside)

    async def _readable_workspace(self, workspace_id: str, user_id: str) -> Workspace:
        async def query(repo: WorkspacesRepository) -> tuple[Workspace | None, list[Share]]:
            found = await repo.workspace(workspace_id)
            return found, await repo.shares_of([workspace_id]) if found and user_id else []

        workspace, shares = await self._tx.read(query)
        missing = DomainError(
            Reason.WORKSPACE_NOT_FOUND, f"no workspace {workspace_id[:40]!r}", field="workspace_id"
        )
        if workspace is None:
            raise missing
        if user_id:
            groups = (
                frozenset(await self.memberships.groups(user_id))
                if any(s.sharee_kind == "group" for s in shares)
                else frozenset()
            )
            if decide(Principal(user_id, "", groups), workspace, shares, now()).level < Level.READ:
                raise missing  # the same answer as for none: existence is not revealed
        return workspace

    async def locations(self, node_id: str) -> Sequence[Workspace]:
        if not node_id:
            raise DomainError(Reason.INVALID_ARGUMENT, "name the node", field="node_id")
        return await self._tx.read(lambda repo: repo.ready_on_node(node_id))
