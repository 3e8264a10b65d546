"""The workspaces service's use cases in one object for the servicers: each use case lives in its own
module (references, workspaces, shares, links, credentials); this only wires them together."""

from __future__ import annotations

from datetime import timedelta

from services.common.pages import PageTokens
from services.workspaces.domain import revisions
from services.workspaces.domain.cache import CredentialCache, PlanCache
from services.workspaces.domain.credentials import DEFAULT_CREDENTIAL_SECONDS, Credentials, CredentialSet
from services.workspaces.domain.indexing import (
    DEFAULT_LISTING_SECONDS,
    AccessibleAnswer,
    Indexing,
    ListingGrant,
)
from services.workspaces.domain.links import Links
from services.workspaces.domain.ports import (
    CandidateReader,
    Identity,
    Jobs,
    Memberships,
    Nodes,
    ObjectStore,
    RevisionReader,
    Transactions,
)
from services.workspaces.domain.references import References, Resolved
from services.workspaces.domain.shares import Explanation, Shares
from services.workspaces.domain.workspaces import ImportResult, Workspaces

__all__ = [
    "AccessibleAnswer",
    "CredentialSet",
    "Explanation",
    "ImportResult",
    "ListingGrant",
    "Resolved",
    "WorkspacesService",
]


class WorkspacesService:
    def __init__(
        self,
        transactions: Transactions,
        nodes: Nodes,
        identity: Identity,
        store: ObjectStore,
        *,
        memberships: Memberships,
        cache: CredentialCache,
        plans: PlanCache,
        read_revisions: RevisionReader,
        read_candidates: CandidateReader,
        jobs: Jobs,
        last_sweep_delay: timedelta,
        page_secret: str,
        credential_seconds: int = DEFAULT_CREDENTIAL_SECONDS,
        listing_seconds: int = DEFAULT_LISTING_SECONDS,
        gateway_public_url: str,
    ) -> None:
        self._tx = transactions
        self.identity = identity
        self.memberships = memberships
        self.references = References(transactions, read_candidates, memberships, identity)
        self.workspaces = Workspaces(
            transactions,
            self.references,
            nodes,
            memberships,
            store,
            jobs,
            last_sweep_delay,
            PageTokens(page_secret, "wio.workspaces.v1.ListWorkspaces"),
        )
        self.shares = Shares(
            transactions,
            self.references,
            identity,
            memberships,
            PageTokens(page_secret, "wio.workspaces.v1.ListShares"),
        )
        # One reader of the rights revisions and one rule for whether what was read still holds, shared by
        # credential plans and the indexer's accessible-workspaces revision.
        rights = revisions.RightsCheck(memberships, revisions.SharedRevisionReads(read_revisions))
        self.credentials = Credentials(
            transactions,
            self.references,
            nodes,
            store,
            cache,
            plans,
            rights,
            credential_seconds,
        )
        self.links = Links(
            transactions,
            self.references,
            nodes,
            identity,
            memberships,
            store,
            self.credentials,
            gateway_public_url,
            PageTokens(page_secret, "wio.workspaces.v1.ListLinks"),
        )
        self.indexing = Indexing(
            transactions, self.references, nodes, memberships, self.credentials, rights, listing_seconds
        )
        self.cache, self.plans = cache, plans

        # The names the servicers call.
        self.create_workspace = self.workspaces.create
        self.list_workspaces = self.workspaces.listing
        self.get_workspace = self.workspaces.get
        self.delete_workspace = self.workspaces.delete
        self.import_root = self.workspaces.import_root
        self.accessible = self.indexing.accessible
        self.listing_grant = self.indexing.listing_grant
        self.locations = self.indexing.locations
        self.count_in_root = self.workspaces.count_in_root
        self.create_share = self.shares.create
        self.update_share = self.shares.update
        self.revoke_share = self.shares.revoke
        self.list_shares = self.shares.listing
        self.check_permission = self.shares.check
        self.explain_permission = self.shares.explain
        self.create_link = self.links.create
        self.list_links = self.links.listing
        self.revoke_link = self.links.revoke
        self.resolve_link = self.links.resolve
        self.issue_credentials = self.credentials.issue
        self.drain = self.credentials.drain
