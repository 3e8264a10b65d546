"""Pages of every public List RPC against the real services: each row once, none repeated, stable when rows
are added between pages; tampered, foreign and re-used page tokens refused; page_size bounds."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from cli.client import all_pages
from services.common.grpc_errors import error_info, error_reason
from services.common.pages import PageTokens
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.test_workspaces import Lab, Person, create, person, share
from tests.test_workspaces import lab as lab  # the module's node and roots (a fixture)
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2
from wio.workspaces.v1 import workspaces_pb2_grpc as ws_pb2_grpc

pytestmark = pytest.mark.integration


async def every_page(
    call: Callable[..., Awaitable[Any]], request: Any, field: str, metadata: Any, size: int
) -> tuple[list[Any], int]:
    """All rows of a listing read `size` at a time, and the number of calls it took."""
    request.page_size = size
    rows: list[Any] = []
    calls = 0
    while True:
        reply = await call(request, metadata=metadata)
        calls += 1
        page = list(getattr(reply, field))
        assert len(page) <= size
        rows += page
        if not reply.next_page_token:
            return rows, calls
        request.page_token = reply.next_page_token


async def refused(call: Awaitable[Any], reason: str, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert error_reason(info.value) == reason, info.value.details()
    found = error_info(info.value)
    assert found is not None and found.metadata["field"] == field


def tampered(token: str) -> str:
    """The token with one byte of its payload changed (the signature left as it was)."""
    payload, mac = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + mac


async def test_workspaces_page_through_once_each_and_stay_stable_under_inserts(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice = await person(auth, "alice")
    tag = uuid.uuid4().hex[:6]
    names = [f"p{tag}-{i}" for i in (1, 3, 5, 7, 9)]
    for name in names:
        await create(workspaces, alice, lab, "private", name)
    request = ws_pb2.ListWorkspacesRequest(name_contains=tag)
    rows, calls = await every_page(workspaces.stub.ListWorkspaces, request, "workspaces", alice.md, 2)
    assert [w.name for w in rows] == names and calls == 3

    # Rows added between pages: one before the position reached, one after. Nothing repeats or is lost.
    request = ws_pb2.ListWorkspacesRequest(name_contains=tag, page_size=2)
    first = await workspaces.stub.ListWorkspaces(request, metadata=alice.md)
    await create(workspaces, alice, lab, "private", f"p{tag}-0")
    await create(workspaces, alice, lab, "private", f"p{tag}-8")
    request.page_token = first.next_page_token
    rest, _calls = await every_page(workspaces.stub.ListWorkspaces, request, "workspaces", alice.md, 2)
    seen = [w.name for w in [*first.workspaces, *rest]]
    assert seen == [*names[:4], f"p{tag}-8", names[4]]
    assert len(set(seen)) == len(seen)


async def test_workspace_tokens_refused_when_tampered_foreign_or_for_other_filters(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice, bob = await person(auth, "alice"), await person(auth, "bob")
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        await create(workspaces, alice, lab, "public", f"t{tag}-{i}")
    request = ws_pb2.ListWorkspacesRequest(name_contains=tag, page_size=1)
    token = (await workspaces.stub.ListWorkspaces(request, metadata=alice.md)).next_page_token
    assert token
    call = workspaces.stub.ListWorkspaces

    def again(**changes: Any) -> Any:
        fields: dict[str, Any] = {"name_contains": tag, "page_size": 1, "page_token": token}
        return ws_pb2.ListWorkspacesRequest(**(fields | changes))

    assert len((await call(again(), metadata=alice.md)).workspaces) == 1
    for bad in (tampered(token), token + "x", "garbage", token.split(".")[0]):
        await refused(call(again(page_token=bad), metadata=alice.md), "INVALID_PAGE_TOKEN", "page_token")
    # Signed with another key (another deployment's secret).
    foreign = PageTokens("another secret", "wio.workspaces.v1.ListWorkspaces").make("x", [], ("a", "b", "c"))
    await refused(call(again(page_token=foreign), metadata=alice.md), "INVALID_PAGE_TOKEN", "page_token")
    # The same token with other filters, by another caller, or to another listing.
    await refused(call(again(name_contains=tag + "-"), metadata=alice.md), "INVALID_PAGE_TOKEN", "page_token")
    await refused(
        call(again(type=ws_pb2.WORKSPACE_TYPE_PUBLIC), metadata=alice.md), "INVALID_PAGE_TOKEN", "page_token"
    )
    await refused(call(again(), metadata=bob.md), "INVALID_PAGE_TOKEN", "page_token")
    await refused(
        workspaces.stub.ListShares(ws_pb2.ListSharesRequest(page_token=token), metadata=alice.md),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )


async def test_page_size_bounds(
    lab: Lab, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice = await person(auth, "alice")
    admin = await auth.as_key(auth.admin_key)
    calls: list[Callable[[int], Awaitable[Any]]] = [
        lambda n: workspaces.stub.ListWorkspaces(
            ws_pb2.ListWorkspacesRequest(page_size=n), metadata=alice.md
        ),
        lambda n: workspaces.stub.ListShares(ws_pb2.ListSharesRequest(page_size=n), metadata=alice.md),
        lambda n: workspaces.stub.ListLinks(ws_pb2.ListLinksRequest(page_size=n), metadata=alice.md),
        lambda n: nodes.stub.ListNodes(nodes_pb2.ListNodesRequest(page_size=n), metadata=alice.md),
        lambda n: nodes.stub.ListRoots(nodes_pb2.ListRootsRequest(page_size=n), metadata=alice.md),
        lambda n: auth.stub.ListUsers(auth_pb2.ListUsersRequest(page_size=n), metadata=admin),
        lambda n: auth.stub.ListGroups(auth_pb2.ListGroupsRequest(page_size=n), metadata=alice.md),
        lambda n: auth.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(page_size=n), metadata=alice.md),
    ]
    for call in calls:
        for bad in (-1, 1001):
            await refused(call(bad), "INVALID_ARGUMENT", "page_size")
        for good in (0, 1, 1000):
            await call(good)


async def test_shares_paged_over_both_lists(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner = await person(auth, "owner")
    friends = [await person(auth, "friend") for _ in range(4)]
    ws = await create(workspaces, owner, lab, "private")
    made = [await share(workspaces, owner, ws, f.name, ws_pb2.PERMISSION_READ) for f in friends]
    other = await create(workspaces, friends[0], lab, "private")
    with_me = await share(workspaces, friends[0], other, owner.name, ws_pb2.PERMISSION_READWRITE)

    request = ws_pb2.ListSharesRequest(page_size=2)
    seen_made: list[str] = []
    seen_with_me: list[str] = []
    calls = 0
    while True:
        reply = await workspaces.stub.ListShares(request, metadata=owner.md)
        calls += 1
        assert len(reply.made) + len(reply.with_me) <= 2
        seen_made += [s.id for s in reply.made]
        seen_with_me += [s.id for s in reply.with_me]
        if not reply.next_page_token:
            break
        request.page_token = reply.next_page_token
    assert seen_made == [s.id for s in made] and seen_with_me == [with_me.id] and calls == 3

    # One workspace's shares, paged; the token is bound to that workspace.
    request = ws_pb2.ListSharesRequest(workspace=f"{owner.name}/{ws.name}")
    rows, _calls = await every_page(workspaces.stub.ListShares, request, "made", owner.md, 3)
    assert [s.id for s in rows] == [s.id for s in made]
    first = await workspaces.stub.ListShares(
        ws_pb2.ListSharesRequest(workspace=f"{owner.name}/{ws.name}", page_size=1), metadata=owner.md
    )
    await refused(
        workspaces.stub.ListShares(
            ws_pb2.ListSharesRequest(page_size=1, page_token=first.next_page_token), metadata=owner.md
        ),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )


async def test_identity_listings_paged(auth: AuthUnderTest) -> None:
    admin = await auth.as_key(auth.admin_key)
    alice = await person(auth, "alice")
    # API keys: the caller's own.
    for i in range(4):
        await auth.stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(name=f"k{i}"), metadata=alice.md)
    rows, calls = await every_page(
        auth.stub.ListApiKeys, auth_pb2.ListApiKeysRequest(), "api_keys", alice.md, 2
    )
    assert len(rows) == 5 and calls == 3 and len({k.id for k in rows}) == 5
    # Groups the caller created or belongs to.
    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=f"g{tag}-{i}"), metadata=alice.md)
    rows, calls = await every_page(
        auth.stub.ListGroups, auth_pb2.ListGroupsRequest(mine=True), "groups", alice.md, 1
    )
    assert [g.name for g in rows] == [f"g{tag}-{i}" for i in range(3)] and calls == 3
    # Users (admins): paged in small pages equals the listing in one page, and a user added between pages
    # is seen once, at the end (they are ordered by creation).
    whole = (await auth.stub.ListUsers(auth_pb2.ListUsersRequest(page_size=1000), metadata=admin)).users
    request = auth_pb2.ListUsersRequest(page_size=3)
    first = await auth.stub.ListUsers(request, metadata=admin)
    late, _key = await auth.new_user("late")
    request.page_token = first.next_page_token
    rest, _calls = await every_page(auth.stub.ListUsers, request, "users", admin, 3)
    ids = [u.id for u in [*first.users, *rest]]
    assert ids == [u.id for u in whole] + [late.id]
    # A token of one filter set is refused on another.
    await refused(
        auth.stub.ListUsers(
            auth_pb2.ListUsersRequest(include_disabled=True, page_token=first.next_page_token), metadata=admin
        ),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )
    await refused(
        auth.stub.ListGroups(auth_pb2.ListGroupsRequest(page_token=first.next_page_token), metadata=admin),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )


async def test_nodes_and_roots_paged(lab: Lab, auth: AuthUnderTest, nodes: NodesUnderTest) -> None:
    alice: Person = await person(auth, "alice")
    whole = (await nodes.stub.ListNodes(nodes_pb2.ListNodesRequest(page_size=1000), metadata=alice.md)).nodes
    rows, calls = await every_page(nodes.stub.ListNodes, nodes_pb2.ListNodesRequest(), "nodes", alice.md, 1)
    assert [n.id for n in rows] == [n.id for n in whole] and calls == len(whole)
    rows, calls = await every_page(
        nodes.stub.ListRoots, nodes_pb2.ListRootsRequest(node=lab.node), "roots", alice.md, 2
    )
    assert sorted(r.id for r in rows) == sorted(lab.root_ids.values()) and calls == 2
    # The token names the node's roots: another node filter refuses it.
    first = await nodes.stub.ListRoots(
        nodes_pb2.ListRootsRequest(node=lab.node, page_size=1), metadata=alice.md
    )
    await refused(
        nodes.stub.ListRoots(nodes_pb2.ListRootsRequest(page_token=first.next_page_token), metadata=alice.md),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )
    # By name or by id: the same node, the same listing.
    node_id = rows[0].node_id
    again = await nodes.stub.ListRoots(
        nodes_pb2.ListRootsRequest(node=node_id, page_size=1, page_token=first.next_page_token),
        metadata=alice.md,
    )
    assert [r.id for r in again.roots] == [rows[1].id]


async def test_cli_follows_every_page(lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest) -> None:
    """cli.client.all_pages (what every `ls` lists through) against the real service, in small pages."""
    alice = await person(auth, "alice")
    tag = uuid.uuid4().hex[:6]
    names = [f"c{tag}-{i}" for i in range(5)]
    for name in names:
        await create(workspaces, alice, lab, "private", name)
    channel = grpc.insecure_channel(workspaces.address)
    stub = ws_pb2_grpc.WorkspacesServiceStub(channel)
    calls: list[str] = []

    def call(request: ws_pb2.ListWorkspacesRequest) -> ws_pb2.ListWorkspacesResponse:
        calls.append(request.page_token)
        reply: ws_pb2.ListWorkspacesResponse = stub.ListWorkspaces(request, metadata=alice.md, timeout=10)
        return reply

    request = ws_pb2.ListWorkspacesRequest(name_contains=tag, page_size=2)
    try:
        # The services run on this event loop: the blocking client runs on a thread.
        reply = await asyncio.to_thread(all_pages, call, request)
    finally:
        channel.close()
    assert [w.name for w in reply.workspaces] == names and not reply.next_page_token
    assert len(calls) == 3 and calls[0] == "" and len(set(calls)) == 3
