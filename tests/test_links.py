"""Revocable links end to end: CreateLink on the workspaces service, `GET /l/{id}.{secret}` on the real
HTTP gateway (as its own service account), the redirect followed by a real HTTP client to SeaweedFS.
What the brokered session behind a redirect may do is proven by SeaweedFS with that session's keys."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import boto3
import grpc
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError
from sqlalchemy import text

from services.common.grpc_errors import error_reason
from services.workspaces.domain.links import check_object_path
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.gateway_fixture import GatewayUnderTest, gateway_settings, run_gateway
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import events_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    name: str
    md: Any


@dataclass
class Place:
    node: str
    admin_s3: Any
    bucket: str
    node_key: str


def s3_client(endpoint: str, region: str, key: str, secret: str, token: str | None = None) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


async def person(auth: AuthUnderTest, prefix: str, admin: bool = False) -> Person:
    user, key = await auth.new_user(prefix, admin=admin)
    return Person(user.username, await auth.as_key(key))


@pytest.fixture(scope="module")
async def place(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: Any
) -> AsyncIterator[Place]:
    s3 = infra.s3
    operator = await person(auth, "op", admin=True)
    node = unique("links")
    await nodes.register_test_s3(s3, node, operator.md)
    bucket = unique("lnk")
    await nodes.stub.CreateRoot(
        nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_PRIVATE),
        metadata=operator.md,
    )
    yield Place(node, s3_client(s3.endpoint, s3.region, s3.access_key, s3.secret_key), bucket, s3.access_key)


async def workspace(workspaces: WorkspacesUnderTest, owner: Person, place: Place) -> Any:
    reply = await workspaces.stub.CreateWorkspace(
        ws_pb2.CreateWorkspaceRequest(name=unique("w"), type=ws_pb2.WORKSPACE_TYPE_PRIVATE, node=place.node),
        metadata=owner.md,
    )
    return reply.workspace


def ref(ws: Any) -> str:
    return f"{ws.owner_username}/{ws.name}"


def get(url: str, follow: bool) -> tuple[int, dict[str, str], bytes]:
    """GET with urllib: following redirects (as a browser) or not (to see the gateway's own answer).
    Header names in lower case."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


async def fetch(url: str, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(get, url, follow)


async def make_link(workspaces: WorkspacesUnderTest, who: Person, obj: str, seconds: int = 600) -> Any:
    return await workspaces.stub.CreateLink(
        ws_pb2.CreateLinkRequest(object=obj, expires_in_seconds=seconds), metadata=who.md
    )


async def refused(url: str) -> bool:
    status, headers, _ = await fetch(url, follow=False)
    assert headers.get("cache-control") == "no-store"
    return status == 404


async def expect_error(call: Any, code: grpc.StatusCode, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    assert error_reason(info.value) == reason, info.value.details()


async def test_a_link_redirects_to_a_short_lived_url_of_a_one_object_session(
    place: Place, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, gateway: GatewayUnderTest
) -> None:
    owner, reader = await person(auth, "lo"), await person(auth, "lr")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/report.txt", Body=b"the report")
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/other.txt", Body=b"other")
    await workspaces.stub.CreateShare(
        ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=reader.name, permission=ws_pb2.PERMISSION_READ),
        metadata=owner.md,
    )
    created = await make_link(workspaces, reader, f"{ref(ws)}/docs/report.txt")
    assert created.url.startswith(f"{gateway.url}/l/{created.link.id}.")
    assert created.link.object == f"{ref(ws)}/docs/report.txt" and created.link.creator == reader.name

    # A browser follows the redirect and gets the bytes.
    status, _, body = await fetch(created.url)
    assert (status, body) == (200, b"the report")

    # The gateway's own answer: a redirect that nobody keeps, to a URL signed with a session.
    status, headers, _ = await fetch(created.url, follow=False)
    assert status == 302
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    location = urllib.parse.urlsplit(headers["location"])
    query = dict(urllib.parse.parse_qsl(location.query))
    assert 0 < int(query["X-Amz-Expires"]) <= 60
    assert query["X-Amz-Security-Token"]
    access_key = query["X-Amz-Credential"].split("/")[0]
    assert access_key != place.node_key  # never the node's own key

    # The session behind it: its secret is only in the service's credential cache (read from there);
    # SeaweedFS says what it may do.
    session = next(
        c for c in workspaces.service.cache._entries.values() if c.credentials.access_key == access_key
    ).credentials
    s3 = s3_client(
        place.admin_s3.meta.endpoint_url, "", session.access_key, session.secret_key, session.session_token
    )
    assert s3.get_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/report.txt")["Body"].read() == b"the report"
    for attempt in (
        lambda: s3.get_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/other.txt"),
        lambda: s3.list_objects_v2(Bucket=ws.bucket, Prefix=ws.prefix),
        lambda: s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/report.txt", Body=b"x"),
        lambda: s3.delete_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/report.txt"),
    ):
        with pytest.raises(ClientError) as denied:
            await asyncio.to_thread(attempt)
        assert denied.value.response["Error"]["Code"] in {"AccessDenied", "403"}

    # Listed for its creator only, never with its secret.
    mine = await workspaces.stub.ListLinks(ws_pb2.ListLinksRequest(), metadata=reader.md)
    assert [link.id for link in mine.links] == [created.link.id]
    assert created.url.rsplit(".", 1)[1] not in str(mine)
    theirs = await workspaces.stub.ListLinks(ws_pb2.ListLinksRequest(), metadata=owner.md)
    assert created.link.id not in [link.id for link in theirs.links]

    # Revoking the share that let its creator read the object ends the link.
    share_id = (
        (await workspaces.stub.ListShares(ws_pb2.ListSharesRequest(), metadata=reader.md)).with_me[0].id
    )
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=share_id), metadata=owner.md)
    assert await refused(created.url)


async def test_links_that_do_not_stand_are_one_404(
    place: Place,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    gateway: GatewayUnderTest,
    infra: Any,
) -> None:
    owner, other = await person(auth, "ro"), await person(auth, "rx")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}f.txt", Body=b"f")
    obj = f"{ref(ws)}/f.txt"

    # Revoked: someone else may not, its creator may (and may again: nothing changes).
    revoked = await make_link(workspaces, owner, obj)
    assert (await fetch(revoked.url))[0] == 200
    await expect_error(
        workspaces.stub.RevokeLink(ws_pb2.RevokeLinkRequest(id=revoked.link.id), metadata=other.md),
        grpc.StatusCode.NOT_FOUND,
        "LINK_NOT_FOUND",
    )
    assert (await fetch(revoked.url))[0] == 200
    gone = await workspaces.stub.RevokeLink(ws_pb2.RevokeLinkRequest(id=revoked.link.id), metadata=owner.md)
    assert gone.link.HasField("revoked_at")
    assert await refused(revoked.url)

    # Tampered: another secret, another id, a malformed token.
    kept = await make_link(workspaces, owner, obj)
    base, secret = kept.url.rsplit(".", 1)
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    assert await refused(f"{base}.{flipped}")
    assert await refused(f"{gateway.url}/l/{uuid.uuid4()}.{secret}")
    assert await refused(f"{gateway.url}/l/not-a-link")
    assert (await fetch(kept.url))[0] == 200

    # Expired: its end moved into the past behind the service's back.
    expired = await make_link(workspaces, owner, obj)
    async with workspaces.runtime.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE workspaces.links SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": expired.link.id},
        )
    assert await refused(expired.url)

    # An admin may revoke anyone's link; the workspace's owner may revoke links others made to it.
    admin = await person(auth, "ra", admin=True)
    by_admin = await make_link(workspaces, owner, obj)
    await workspaces.stub.RevokeLink(ws_pb2.RevokeLinkRequest(id=by_admin.link.id), metadata=admin.md)
    assert await refused(by_admin.url)
    await workspaces.stub.CreateShare(
        ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=other.name, permission=ws_pb2.PERMISSION_READ),
        metadata=owner.md,
    )
    others = await make_link(workspaces, other, obj)
    assert (await fetch(others.url))[0] == 200
    await workspaces.stub.RevokeLink(ws_pb2.RevokeLinkRequest(id=others.link.id), metadata=owner.md)
    assert await refused(others.url)

    # A disabled creator's links stop.
    await auth.stub.DisableUser(
        auth_pb2.DisableUserRequest(username=owner.name), metadata=await auth.as_key(auth.admin_key)
    )
    assert await refused(kept.url)


async def test_a_group_removal_or_a_deleted_workspace_ends_the_link(
    place: Place, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, gateway: GatewayUnderTest
) -> None:
    owner, member = await person(auth, "go"), await person(auth, "gm")
    group = unique("lg")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}g.txt", Body=b"g")
    await workspaces.stub.CreateShare(
        ws_pb2.CreateShareRequest(
            workspace=ref(ws), sharee=f"group:{group}", permission=ws_pb2.PERMISSION_READ
        ),
        metadata=owner.md,
    )
    through_group = await make_link(workspaces, member, f"{ref(ws)}/g.txt")
    by_owner = await make_link(workspaces, owner, f"{ref(ws)}/g.txt")
    assert (await fetch(through_group.url))[0] == 200
    # Acknowledged by auth, so it counts for the next use.
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    assert await refused(through_group.url)
    assert (await fetch(by_owner.url))[0] == 200
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(ws), force=True), metadata=owner.md
    )
    assert await refused(by_owner.url)


async def test_paths_that_could_mean_something_else_are_refused(
    place: Place, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner = await person(auth, "po")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}a/b.txt", Body=b"b")
    for path in (
        "a/../a/b.txt",
        "a/..",
        "a//b.txt",
        "a\\b.txt",
        "a/b\x00.txt",
        "a/b\n.txt",
        "a/./b.txt",
        "a/*",
    ):
        await expect_error(
            make_link(workspaces, owner, f"{ref(ws)}/{path}"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        )
    for path in ("", "a/"):
        await expect_error(
            make_link(workspaces, owner, f"{ref(ws)}/{path}"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        )
    await expect_error(
        make_link(workspaces, owner, f"{ref(ws)}/a/b.txt", seconds=8 * 24 * 3600),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_EXPIRY",
    )
    await expect_error(
        make_link(workspaces, owner, f"{ref(ws)}/a/missing.txt"),
        grpc.StatusCode.NOT_FOUND,
        "OBJECT_NOT_FOUND",
    )
    stranger = await person(auth, "ps")
    await expect_error(
        make_link(workspaces, stranger, f"{ref(ws)}/a/b.txt"),
        grpc.StatusCode.NOT_FOUND,
        "WORKSPACE_NOT_FOUND",
    )
    # The same rule holds when a link is used: a path stored before a rule was added does not resolve.
    link = await make_link(workspaces, owner, f"{ref(ws)}/a/b.txt")
    async with workspaces.runtime.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE workspaces.links SET path = 'a/../a/b.txt' WHERE id = :id"), {"id": link.link.id}
        )
    secret = link.url.rsplit(".", 1)[1]
    gateway_md = await auth.as_key(await service_key(auth))
    await expect_error(
        workspaces.internal.ResolveLink(
            ws_pb2.ResolveLinkRequest(id=link.link.id, secret=secret), metadata=gateway_md
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    for bad in ("..", "x/../y", "x//y", "/x", "x\\y", "x\ty", "x/"):
        with pytest.raises(Exception):  # noqa: B017 - DomainError
            check_object_path(bad)


async def service_key(auth: AuthUnderTest) -> str:
    _account, key = await auth.identity.bootstrap_account(
        f"svc-gateway-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert key is not None
    return str(key)


async def test_only_the_gateway_resolves_links_and_a_workspaces_outage_is_a_quick_503(
    place: Place,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    gateway: GatewayUnderTest,
    silent_port: int,
) -> None:
    owner = await person(auth, "go")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}g.txt", Body=b"g")
    link = await make_link(workspaces, owner, f"{ref(ws)}/g.txt")
    request = ws_pb2.ResolveLinkRequest(id=link.link.id, secret=link.url.rsplit(".", 1)[1])
    # A user (even the creator) may not ask; another service may not either.
    await expect_error(
        workspaces.internal.ResolveLink(request, metadata=owner.md),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_CALLER_REQUIRED",
    )
    _account, indexer_key = await auth.identity.bootstrap_account(
        f"svc-indexer-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    await expect_error(
        workspaces.internal.ResolveLink(request, metadata=await auth.as_key(str(indexer_key))),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_NOT_ALLOWED",
    )
    # A gateway whose workspaces service does not answer: 503 after its call timeout, not a hang.
    settings = gateway_settings(
        gateway, workspaces_address=f"127.0.0.1:{silent_port}", call_timeout_seconds=0.5
    )
    async with run_gateway(settings) as down:
        path = urllib.parse.urlsplit(link.url).path
        started = asyncio.get_running_loop().time()
        status, headers, _ = await fetch(f"{down.url}{path}", follow=False)
        assert status == 503 and headers["cache-control"] == "no-store"
        assert asyncio.get_running_loop().time() - started < 5


@pytest.mark.unit
def test_links_point_at_the_public_gateway_url_the_launcher_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.services import StackSettings
    from services.common.config import ConfigError
    from services.workspaces import config

    ports = {"auth": 1, "nodes": 2, "workspaces": 3, "indexer": 4}
    stack = StackSettings("postgresql://x", "nats://x", "k", ports, {}, gateway_port=50160)
    assert stack.service_env("workspaces")["WIO_GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:50160"
    assert "WIO_GATEWAY_PUBLIC_URL" not in stack.service_env("nodes")
    monkeypatch.setenv("WIO_SECRET_KEY", "k" * 32)
    monkeypatch.delenv("WIO_GATEWAY_PUBLIC_URL", raising=False)
    assert config.load().gateway_public_url == "http://127.0.0.1:50160"
    monkeypatch.setenv("WIO_GATEWAY_PUBLIC_URL", "https://files.example.org/")
    assert config.load().gateway_public_url == "https://files.example.org"
    for bad in ("files.example.org", "ftp://x", "https://x/?a=b"):
        monkeypatch.setenv("WIO_GATEWAY_PUBLIC_URL", bad)
        with pytest.raises(ConfigError, match="WIO_GATEWAY_PUBLIC_URL"):
            config.load()


async def test_links_are_listed_newest_first_a_page_at_a_time(
    place: Place, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner = await person(auth, "lpg")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}a.txt", Body=b"a")
    made = [(await make_link(workspaces, owner, f"{ref(ws)}/a.txt")).link.id for _ in range(5)]

    seen: list[str] = []
    request = ws_pb2.ListLinksRequest(page_size=2)
    while True:
        reply = await workspaces.stub.ListLinks(request, metadata=owner.md)
        assert len(reply.links) <= 2
        seen += [link.id for link in reply.links]
        if not reply.next_page_token:
            break
        request.page_token = reply.next_page_token
    assert seen == made[::-1]  # each once, newest first

    other = await person(auth, "lpo")  # a token is bound to the caller who was given it
    first = await workspaces.stub.ListLinks(ws_pb2.ListLinksRequest(page_size=2), metadata=owner.md)
    await expect_error(
        workspaces.stub.ListLinks(
            ws_pb2.ListLinksRequest(page_size=2, page_token=first.next_page_token), metadata=other.md
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


async def test_making_and_revoking_a_link_are_announced_without_its_secret(
    place: Place, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, events: Any
) -> None:
    watcher = await events("wio.workspaces.link.>")
    owner = await person(auth, "lev")
    ws = await workspace(workspaces, owner, place)
    place.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}docs/a.txt", Body=b"a")
    created = await make_link(workspaces, owner, f"{ref(ws)}/docs/a.txt", seconds=120)
    link_id = created.link.id
    parse = events_pb2.LinkChangedEvent.FromString

    made = await watcher.wait_for("wio.workspaces.link.created", parse, link_id=link_id)
    assert len(made) == 1
    event = made[0]
    assert (event.workspace_id, event.path) == (ws.id, "docs/a.txt")
    assert event.expires_at.ToDatetime() == created.link.expires_at.ToDatetime()
    assert event.meta.event_id
    secret = created.url.rsplit(".", 1)[1]
    assert all(secret.encode() not in msg.data for msg in watcher.messages)

    for _ in range(2):  # revoking again changes nothing and announces nothing
        await workspaces.stub.RevokeLink(ws_pb2.RevokeLinkRequest(id=link_id), metadata=owner.md)
    revoked = await watcher.wait_for("wio.workspaces.link.revoked", parse, link_id=link_id)
    assert len(revoked) == 1 and revoked[0].creator_id == event.creator_id
    await asyncio.sleep(1.0)  # a second announcement would have arrived by now
    assert len(watcher.matching("wio.workspaces.link.revoked", parse, link_id=link_id)) == 1
