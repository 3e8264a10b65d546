"""What the workspace rules need from storage, events, the nodes and identity services, and S3."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from services.common.pages import SortKey
from services.workspaces.domain.models import Level, Link, ListingFilters, Principal, Share, Workspace

T = TypeVar("T")


@dataclass(frozen=True)
class Clashes:
    """What stands in the way of a new workspace: the owner's workspace of that name (and whether it is
    being deleted), and a workspace of the root whose prefix holds the new one's or lies inside it."""

    named: Workspace | None
    named_deleting: bool
    overlapping: Workspace | None


class WorkspacesRepository(Protocol):
    async def add_workspace(self, workspace: Workspace) -> None: ...
    async def workspace(self, workspace_id: str) -> Workspace | None: ...
    async def owned_by(self, user_id: str) -> list[Workspace]: ...
    async def in_root(self, root_id: str) -> list[Workspace]: ...
    async def count_in_root(self, root_id: str) -> int: ...
    async def ready_in_root(self, root_id: str) -> list[Workspace]:
        """The usable workspaces of a root (none being deleted), by prefix."""
        ...

    async def ready_on_node(self, node_id: str) -> list[Workspace]:
        """The usable workspaces of a node (none being deleted), by bucket and prefix."""
        ...

    async def clashes(
        self, owner: str, name: str, root_id: str, prefix: str, case_ignored: bool = False
    ) -> Clashes:
        """Both look-ups at once (overlaps ignoring case: as the node matches objects)."""
        ...

    async def lock_root(self, root_id: str) -> None: ...
    async def lock_owner(self, user_id: str) -> None: ...
    async def visible_to(self, user_id: str, group_ids: Sequence[str], now: datetime) -> list[Workspace]: ...
    async def page_visible(
        self, principal: Principal, now: datetime, filters: ListingFilters, after: SortKey | None, limit: int
    ) -> list[tuple[Workspace, Level]]:
        """Up to limit + 1 workspaces the principal can read (level as permissions.decide gives it, decided
        in the query) matching the filters, by (owner username, name, id) after `after`."""
        ...

    async def page_shares(
        self, principal: Principal, now: datetime, workspace_id: str | None, after: SortKey | None, limit: int
    ) -> list[tuple[Share, Workspace, bool, bool]]:
        """Up to limit + 1 shares the principal manages or holds (active), by (created_at, id) after
        `after`, each with its workspace and whether it is managed, held."""
        ...

    async def mark_deleting(self, workspace_id: str) -> bool:
        """The workspace stops being usable (no answer but those keeping its name and prefix taken lists
        it, its shares go); its row stays until purge_workspace. False if it was not there (or deleting)."""
        ...

    async def deleting(self, workspace_id: str) -> Workspace | None: ...
    async def purge_workspace(self, workspace_id: str) -> bool: ...
    async def add_job(self, kind: str, payload: Mapping[str, Any], run_at: datetime | None = None) -> str:
        """A job to run after the commit (domain/jobs.py), written in this transaction; answers its id."""
        ...

    async def add_share(self, share: Share) -> None: ...
    async def share(self, share_id: str) -> Share | None: ...
    async def shares_of(self, workspace_ids: Sequence[str]) -> list[Share]: ...
    async def shares_with(self, user_id: str, group_ids: Sequence[str]) -> list[Share]: ...
    async def shares_made_through(self, share_id: str) -> list[Share]: ...
    async def update_share(self, share: Share) -> None: ...
    async def delete_share(self, share_id: str) -> None: ...

    async def add_link(self, link: Link) -> None: ...
    async def link(self, link_id: str) -> Link | None: ...
    async def links_of(self, creator_id: str, after: SortKey | None, limit: int) -> list[Link]:
        """The creator's links, newest first."""
        ...

    async def revoke_link(self, link_id: str, at: datetime) -> Link | None:
        """Marks the link revoked (once: a second revoke keeps the first time); None if there is none."""
        ...


class CandidateReader(Protocol):
    async def __call__(
        self, owner_names: Sequence[tuple[str, str]], names: Sequence[str], scopes: Collection[str] = ()
    ) -> tuple[list[Workspace], list[Share], dict[str, int]]:
        """Every workspace matching one (owner username, name) pair or one bare name, with all its shares
        (oldest first): what every reference resolution starts from, read outside any transaction. With
        them, in the same snapshot, the rights revisions of `scopes` (a scope never changed is absent)."""
        ...


class RevisionReader(Protocol):
    async def __call__(self, scopes: Collection[str]) -> dict[str, int]:
        """The rights revisions of these scopes (domain/revisions.py); a scope never changed is absent.
        Every change to workspaces or shares advances the ones it affects, in its own transaction. Read
        one query at a time: concurrent requests share each read (SharedRevisionReads)."""
        ...


class WorkspacesEvents(Protocol):
    async def workspace_created(self, workspace: Workspace) -> None: ...
    async def workspace_deleted(self, workspace: Workspace) -> None: ...
    async def workspace_purged(self, workspace: Workspace) -> None: ...
    async def share_changed(self, verb: str, share: Share) -> None: ...
    async def link_changed(self, verb: str, link: Link) -> None: ...
    async def root_imported(self, root_id: str, node_id: str, workspace_ids: Sequence[str]) -> None: ...
    async def credentials_issued(
        self, user_id: str, node_id: str, workspace_ids: list[str], expires_at: float, access_key: str
    ) -> None: ...


class Transaction(Protocol):
    @property
    def repo(self) -> WorkspacesRepository: ...
    @property
    def events(self) -> WorkspacesEvents: ...


class Transactions(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction: its changes and events commit together."""
        ...

    async def read(self, query: Callable[[WorkspacesRepository], Awaitable[T]]) -> T:
        """A read that needs no transaction, made on the cheaper read path."""
        ...


@dataclass(frozen=True)
class RootInfo:
    id: str
    node_id: str
    node_name: str
    bucket: str
    base_prefix: str
    type: str
    # Usernames and group:NAME labels, to show; empty means every logged-in user may create workspaces here.
    allowed_creators: tuple[str, ...] = ()
    # What counts: ids, since a deleted group's (or user's) name may be taken again by someone else.
    allowed_user_ids: frozenset[str] = frozenset()
    allowed_group_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NodeAccess:
    node_id: str
    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    sts_endpoint: str = ""
    role_arn: str = ""
    max_credential_seconds: int = 3600
    policy_size_limit: int = 2048
    operator_id: str = ""
    # The node's session policies match object resources ignoring case (probed by the nodes service):
    # prefixes equal ignoring case are then one place, and never two workspaces.
    object_case_ignored: bool = True
    # An admin set the node up, so connections may go to the admins' networks (loopback, private).
    admin_networks: bool = False


class Nodes(Protocol):
    async def roots(self, fresh: bool = True) -> list[RootInfo]:
        """Every root, oldest first; `fresh=False` allows a recent copy."""
        ...

    async def root(self, root_id: str) -> tuple[RootInfo, NodeAccess]: ...
    async def node(self, node_id: str) -> NodeAccess: ...


class Memberships(Protocol):
    async def groups(self, user_id: str) -> dict[str, str]:
        """The user's groups (id -> name) as they are now: a change identity acknowledged before this
        call counts."""
        ...


class Usernames(Protocol):
    async def existing(self, names: Sequence[str]) -> set[str]:
        """Those of `names` that are usernames of existing users."""
        ...


class Identity(Memberships, Usernames, Protocol):
    async def user(self, username: str) -> tuple[str, str]: ...
    async def group(self, name: str) -> tuple[str, str]: ...
    async def enabled(self, user_id: str) -> bool:
        """Whether the user exists and is not disabled, as identity says now."""
        ...


@dataclass(frozen=True)
class IssuedCredentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float = 0.0


class ObjectStore(Protocol):
    """S3 work on a node with the node's own credentials."""

    async def put_marker(self, node: NodeAccess, bucket: str, key: str) -> None: ...
    async def list_keys(self, node: NodeAccess, bucket: str, prefix: str, limit: int) -> list[str]: ...
    async def delete_prefix(self, node: NodeAccess, bucket: str, prefix: str) -> int: ...
    async def list_folders(self, node: NodeAccess, bucket: str, prefix: str) -> list[str]:
        """The full prefixes of the folders directly under `prefix`."""
        ...

    async def exists(self, node: NodeAccess, bucket: str, key: str) -> bool: ...
    async def presign_get_as(
        self, node: NodeAccess, credentials: IssuedCredentials, bucket: str, key: str, seconds: int
    ) -> str:
        """A pre-signed GET signed with brokered credentials (the session token goes in the URL)."""
        ...

    async def assume_role(
        self, node: NodeAccess, policy_text: str, seconds: int, session: str
    ) -> IssuedCredentials: ...


@dataclass(frozen=True)
class JobOutcome:
    """How a job's run ended when it did not fail: `again_at` is when it is due again (None: done)."""

    again_at: datetime | None = None
    objects_deleted: int = 0


class Jobs(Protocol):
    async def run_now(self, job_id: str) -> JobOutcome | None:
        """Runs a job just written at once; None when it failed (it is retried later) or was not run."""
        ...
