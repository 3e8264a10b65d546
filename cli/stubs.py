"""The gRPC stubs the CLI calls, made in one place.

Each function imports its generated module when it is called, so `wio --help` (and any command that does
not talk to that service) loads none of them. The stubs go through Client.stub: bearer token, deadline,
one retry with a fresh token, failures as RpcFailure; they are typed as the generated stubs, so requests
and replies are checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cli.client import Client
    from wio.auth.v1.auth_pb2_grpc import AuthServiceStub
    from wio.indexer.v1.indexer_pb2_grpc import IndexerServiceStub
    from wio.nodes.v1.nodes_pb2_grpc import NodesServiceStub
    from wio.workspaces.v1.workspaces_pb2_grpc import WorkspacesServiceStub

AUTH = "auth"
NODES = "nodes"
WORKSPACES = "workspaces"
INDEXER = "indexer"


def auth(client: Client, *, authenticated: bool = True) -> AuthServiceStub:
    """wio.auth.v1.AuthService; `authenticated=False` for the calls made before there is a token."""
    from wio.auth.v1 import auth_pb2_grpc

    return client.stub(AUTH, auth_pb2_grpc.AuthServiceStub, authenticated=authenticated)


def nodes(client: Client) -> NodesServiceStub:
    """wio.nodes.v1.NodesService: nodes and roots."""
    from wio.nodes.v1 import nodes_pb2_grpc

    return client.stub(NODES, nodes_pb2_grpc.NodesServiceStub)


def workspaces(client: Client) -> WorkspacesServiceStub:
    """wio.workspaces.v1.WorkspacesService: workspaces, shares, credentials, links."""
    from wio.workspaces.v1 import workspaces_pb2_grpc

    return client.stub(WORKSPACES, workspaces_pb2_grpc.WorkspacesServiceStub)


def indexer(client: Client) -> IndexerServiceStub:
    """wio.indexer.v1.IndexerService: search and totals."""
    from wio.indexer.v1 import indexer_pb2_grpc

    return client.stub(INDEXER, indexer_pb2_grpc.IndexerServiceStub)
