"""Which wio services may call each internal RPC: the one table, enforced by the auth interceptor.

An internal method missing here answers nobody. A service is known by its account, `svc-<service>`
(`svc-<service>-<suffix>` when one service has several accounts, e.g. per instance)."""

from __future__ import annotations

from collections.abc import Mapping

SERVICE_ACCOUNT_PREFIX = "svc-"

INTERNAL_CALLERS: Mapping[str, frozenset[str]] = {
    # Group ids for permission decisions, user names for listings of shares.
    "/wio.auth.v1.AuthInternalService/ListUserGroups": frozenset({"workspaces"}),
    "/wio.auth.v1.AuthInternalService/BatchGetUsers": frozenset({"workspaces"}),
    # Node secrets go to the service that brokers credentials, and to no other.
    "/wio.nodes.v1.NodesInternalService/GetNodeAccess": frozenset({"workspaces"}),
    "/wio.nodes.v1.NodesInternalService/GetRootAccess": frozenset({"workspaces"}),
    # The search filter, and the check before a root is removed.
    "/wio.workspaces.v1.WorkspacesInternalService/ListAccessibleWorkspaces": frozenset({"indexer"}),
    "/wio.workspaces.v1.WorkspacesInternalService/CountRootWorkspaces": frozenset({"nodes"}),
    # The indexer's crawl: list-only credentials, and where each workspace of a node lives.
    "/wio.workspaces.v1.WorkspacesInternalService/IssueListingCredentials": frozenset({"indexer"}),
    "/wio.workspaces.v1.WorkspacesInternalService/ListWorkspaceLocations": frozenset({"indexer"}),
}


def service_of(username: str) -> str:
    """The service a service account belongs to: `svc-nodes` and `svc-nodes-2` are both nodes."""
    return username.removeprefix(SERVICE_ACCOUNT_PREFIX).split("-", 1)[0]


def may_call(username: str, method: str) -> bool:
    return service_of(username) in INTERNAL_CALLERS.get(method, frozenset())
