"""The workspaces service's answers to the indexer, against the real stack: the accessible-workspaces
revision moves exactly when what a user may read does; list-only credentials are brokered through the
node's STS and SeaweedFS itself allows listing under the prefix and nothing else; workspace locations;
`root.imported`; and the indexer's client of all three."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from services.common.clients import AuthClient
from services.common.errors import DomainError, Reason
from services.indexer.domain.ports import WorkspacesDirectory
from services.indexer.storage.clients.workspaces import WorkspacesClient
from tests import test_workspaces
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest, _service_key
from tests.test_workspaces import (
    READ,
    Lab,
    Person,
    allowed,
    create,
    expect_error,
    person,
    ref,
    s3_client,
    share,
    unique,
)
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import events_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab  # the node and roots these tests share with test_workspaces' (own instance)


@pytest.fixture(scope="module")
async def indexer_key(auth: AuthUnderTest) -> str:
    """An API key of the indexer's service account."""
    return await _service_key(auth, "indexer")


async def as_indexer(auth: AuthUnderTest, indexer_key: str) -> Any:
    return await auth.as_key(indexer_key)


async def user_id(auth: AuthUnderTest, who: Person) -> str:
    return str((await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=who.md)).user.id)


async def accessible(workspaces: WorkspacesUnderTest, md: Any, uid: str, known: str = "") -> Any:
    request = ws_pb2.ListAccessibleWorkspacesRequest(user_id=uid, known_revision=known)
    return await workspaces.internal.ListAccessibleWorkspaces(request, metadata=md)


async def listing(workspaces: WorkspacesUnderTest, md: Any, **fields: Any) -> Any:
    request = ws_pb2.IssueListingCredentialsRequest(**fields)
    return await workspaces.internal.IssueListingCredentials(request, metadata=md)


def lister(grant: Any) -> Any:
    return s3_client(grant.endpoint, grant.region, grant.access_key, grant.secret_key, grant.session_token)


def listed(client: Any, bucket: str, prefix: str | None = None) -> list[str]:
    kwargs = {"Bucket": bucket} if prefix is None else {"Bucket": bucket, "Prefix": prefix}
    return [o["Key"] for o in client.list_objects_v2(**kwargs).get("Contents", [])]


# --- ListAccessibleWorkspaces: the revision ---------------------------------------------------------


async def test_the_revision_moves_exactly_when_what_the_user_may_read_does(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer_key: str
) -> None:
    md = await as_indexer(auth, indexer_key)
    owner, reader, stranger = await person(auth, "ixo"), await person(auth, "ixr"), await person(auth, "ixs")
    reader_id = await user_id(auth, reader)

    first = await accessible(workspaces, md, reader_id)
    assert first.revision and not first.unchanged

    async def current(known: str) -> Any:
        answer = await accessible(workspaces, md, reader_id, known)
        if answer.unchanged:
            assert answer.revision == known and not answer.workspaces
        return answer

    # An unrelated user's change: a workspace of theirs, shared with someone else.
    theirs = await create(workspaces, stranger, lab, "private")
    await share(workspaces, stranger, theirs, owner.name, READ)
    assert (await current(first.revision)).unchanged

    # A share to the reader is granted: a new revision, with the workspace and all it says.
    ws = await create(workspaces, owner, lab, "private")
    assert (await current(first.revision)).unchanged  # not theirs, not shared yet
    granted = await share(workspaces, owner, ws, reader.name, READ)
    shared = await current(first.revision)
    assert not shared.unchanged and shared.revision != first.revision
    (found,) = [w for w in shared.workspaces if w.workspace_id == ws.id]
    assert (found.owner_username, found.owner_id, found.name) == (owner.name, ws.owner_id, ws.name)
    assert (found.node_id, found.node_name, found.root_id) == (ws.node_id, lab.node, ws.root_id)
    assert (found.bucket, found.prefix, found.permission) == (ws.bucket, ws.prefix, READ)
    assert (await current(shared.revision)).unchanged

    # ... and revoked.
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granted.id), metadata=owner.md)
    revoked = await current(shared.revision)
    assert not revoked.unchanged and ws.id not in {w.workspace_id for w in revoked.workspaces}

    # Joining and leaving a group that has a share.
    group = unique("ixg")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    lab_ws = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, lab_ws, f"group:{group}", READ)
    assert (await current(revoked.revision)).unchanged  # the reader is not in the group yet
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=reader.name), metadata=owner.md
    )
    joined = await current(revoked.revision)
    assert not joined.unchanged and lab_ws.id in {w.workspace_id for w in joined.workspaces}
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=reader.name), metadata=owner.md
    )
    left = await current(joined.revision)
    assert not left.unchanged and lab_ws.id not in {w.workspace_id for w in left.workspaces}

    # Anyone's public workspace can be read by everyone.
    public = await create(workspaces, stranger, lab, "public")
    opened = await current(left.revision)
    assert not opened.unchanged and public.id in {w.workspace_id for w in opened.workspaces}
    # Unrelated again: the stranger's private workspace is deleted.
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(theirs)), metadata=stranger.md
    )
    assert (await current(opened.revision)).unchanged
    # A workspace shared with the reader is deleted: it is gone from the answer at once.
    await share(workspaces, owner, ws, reader.name, READ)
    again = await current(opened.revision)
    assert not again.unchanged and ws.id in {w.workspace_id for w in again.workspaces}
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(ws), force=True), metadata=owner.md
    )
    deleted = await current(again.revision)
    assert not deleted.unchanged and ws.id not in {w.workspace_id for w in deleted.workspaces}


async def test_an_expiring_share_ends_the_revision_when_it_expires(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer_key: str
) -> None:
    md = await as_indexer(auth, indexer_key)
    owner, reader = await person(auth, "ieo"), await person(auth, "ier")
    reader_id = await user_id(auth, reader)
    ws = await create(workspaces, owner, lab, "private")
    # Room for the calls before the expiry on a busy machine; the wait after it is what is left of it.
    end = datetime.now(UTC) + timedelta(seconds=8)
    ends = timestamp_pb2.Timestamp()
    ends.FromDatetime(end)
    request = ws_pb2.CreateShareRequest(
        workspace=ref(ws), sharee=reader.name, permission=READ, expires_at=ends
    )
    await workspaces.stub.CreateShare(request, metadata=owner.md)
    before = await accessible(workspaces, md, reader_id)
    assert ws.id in {w.workspace_id for w in before.workspaces}
    assert (await accessible(workspaces, md, reader_id, before.revision)).unchanged
    await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 0.5)
    after = await accessible(workspaces, md, reader_id, before.revision)
    assert not after.unchanged and ws.id not in {w.workspace_id for w in after.workspaces}


async def test_an_unchanged_answer_makes_no_listing_and_is_bound_to_its_user(
    lab: Lab,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    md = await as_indexer(auth, indexer_key)
    alice, bob = await person(auth, "iua"), await person(auth, "iub")
    alice_id, bob_id = await user_id(auth, alice), await user_id(auth, bob)
    known = (await accessible(workspaces, md, alice_id)).revision

    async def no_listing(*_args: Any) -> Any:
        raise AssertionError("an unchanged answer lists nothing")

    with monkeypatch.context() as patched:
        patched.setattr(workspaces.service.indexing.references, "visible", no_listing)
        answer = await accessible(workspaces, md, alice_id, known)
    assert answer.unchanged and not answer.workspaces and answer.revision == known
    # Alice's revision says nothing about bob (even with the same groups and counters), nor does garbage.
    for other in (known, "r1.garbage", "r1." + known[3:-4], "x" * 300):
        assert not (await accessible(workspaces, md, bob_id, other)).unchanged
    await expect_error(accessible(workspaces, md, ""), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


# --- IssueListingCredentials ------------------------------------------------------------------------


async def test_workspace_listing_credentials_list_that_prefix_and_nothing_else(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer_key: str, infra: Any
) -> None:
    md = await as_indexer(auth, indexer_key)
    owner, reader, stranger = await person(auth, "ilo"), await person(auth, "ilr"), await person(auth, "ils")
    ws = await create(workspaces, owner, lab, "private")
    other = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, ws, reader.name, READ)
    for w in (ws, other):
        lab.admin_s3.put_object(Bucket=w.bucket, Key=f"{w.prefix}data/a.csv", Body=b"1,2")
    public_bucket = lab.buckets["public"]

    for on_behalf in ("", await user_id(auth, owner), await user_id(auth, reader)):
        grant = await listing(workspaces, md, workspace_id=ws.id, on_behalf_of_user_id=on_behalf)
        assert (grant.bucket, grant.prefix, grant.root_id) == (ws.bucket, ws.prefix, ws.root_id)
        assert (grant.node_id, grant.node_name, grant.endpoint) == (ws.node_id, lab.node, infra.s3.endpoint)
        assert [w.workspace_id for w in grant.workspaces] == [ws.id]
        assert grant.access_key != infra.s3.access_key and grant.session_token
        lifetime = grant.expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
        assert timedelta(minutes=50) < lifetime <= timedelta(hours=1, minutes=1)
    client = lister(grant)
    assert f"{ws.prefix}data/a.csv" in listed(client, ws.bucket, ws.prefix)
    assert listed(client, ws.bucket, f"{ws.prefix}data/") == [f"{ws.prefix}data/a.csv"]
    # Another prefix, the whole bucket, another bucket: refused by S3.
    assert not allowed(lambda: listed(client, other.bucket, other.prefix))
    assert not allowed(lambda: listed(client, ws.bucket))
    assert not allowed(lambda: listed(client, ws.bucket, ws.prefix[:-1]))  # a sibling's start
    assert not allowed(lambda: listed(client, public_bucket, ws.prefix))
    # No object is read, written or deleted.
    key = f"{ws.prefix}data/a.csv"
    assert not allowed(lambda: client.get_object(Bucket=ws.bucket, Key=key))
    assert not allowed(lambda: client.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}new.txt", Body=b"x"))
    assert not allowed(lambda: client.delete_object(Bucket=ws.bucket, Key=key))
    assert lab.admin_s3.get_object(Bucket=ws.bucket, Key=key)["Body"].read() == b"1,2"

    # A user who cannot read it: as if it did not exist, as for an unknown id.
    stranger_id = await user_id(auth, stranger)
    for workspace_id, on_behalf in ((ws.id, stranger_id), (str(uuid.uuid4()), ""), ("not-an-id", "")):
        refused = await expect_error(
            listing(workspaces, md, workspace_id=workspace_id, on_behalf_of_user_id=on_behalf),
            grpc.StatusCode.NOT_FOUND,
            "WORKSPACE_NOT_FOUND",
        )
        assert ws.prefix not in str(refused.details())
    # Even "as an admin": a workspace is crawled on behalf of its readers only.
    await expect_error(
        listing(
            workspaces, md, workspace_id=ws.id, on_behalf_of_user_id=stranger_id, on_behalf_of_admin=True
        ),
        grpc.StatusCode.NOT_FOUND,
        "WORKSPACE_NOT_FOUND",
    )
    for fields in ({}, {"workspace_id": ws.id, "root_id": ws.root_id}):
        await expect_error(
            listing(workspaces, md, **fields), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"
        )


async def test_listing_credentials_are_for_the_indexer_only(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner = await person(auth, "ilx")
    ws = await create(workspaces, owner, lab, "private")
    await expect_error(
        listing(workspaces, owner.md, workspace_id=ws.id),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_CALLER_REQUIRED",
    )
    nodes_md = await auth.as_key(await _service_key(auth, "nodes"))
    await expect_error(
        listing(workspaces, nodes_md, workspace_id=ws.id),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_NOT_ALLOWED",
    )
    request = ws_pb2.ListWorkspaceLocationsRequest(node_id=ws.node_id)
    for md in (owner.md, nodes_md):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await workspaces.internal.ListWorkspaceLocations(request, metadata=md)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_root_listing_credentials_and_root_imported(
    lab: Lab,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer_key: str,
    events: Any,
) -> None:
    md = await as_indexer(auth, indexer_key)
    watcher = await events("wio.workspaces.root.>")
    bucket = unique("ixroot")
    lab.admin_s3.create_bucket(Bucket=bucket)
    for key in ("data/a/1.txt", "data/b/2.txt", "other/3.txt"):
        lab.admin_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    root = (
        await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(
                node=lab.node, bucket=bucket, base_prefix="data/", type=nodes_pb2.ROOT_TYPE_UNMANAGED
            ),
            metadata=lab.operator.md,
        )
    ).root
    imported = await workspaces.stub.ImportRoot(
        ws_pb2.ImportRootRequest(root=root.id), metadata=lab.operator.md
    )
    created = {w.id for w in imported.created}
    assert {w.prefix for w in imported.created} == {"data/a/", "data/b/"}
    (event,) = await watcher.wait_for(
        "wio.workspaces.root.imported", events_pb2.RootImportedEvent.FromString, root_id=root.id
    )
    assert event.node_id == root.node_id and set(event.workspace_ids) == created
    assert event.meta.event_id and event.meta.actor.username == lab.operator.name
    # Importing again creates nothing, and says nothing.
    again = await workspaces.stub.ImportRoot(ws_pb2.ImportRootRequest(root=root.id), metadata=lab.operator.md)
    assert not again.created
    await asyncio.sleep(1.0)  # several relay polls
    assert (
        len(
            watcher.matching(
                "wio.workspaces.root.imported", events_pb2.RootImportedEvent.FromString, root_id=root.id
            )
        )
        == 1
    )

    # The indexer's own work, the operator and an admin may crawl the root; another user may not.
    outsider = await person(auth, "ixout")
    outsider_id = await user_id(auth, outsider)
    operator_id = await user_id(auth, lab.operator)
    for fields in (
        {},
        {"on_behalf_of_user_id": operator_id},
        {"on_behalf_of_user_id": outsider_id, "on_behalf_of_admin": True},
    ):
        grant = await listing(workspaces, md, root_id=root.id, **fields)
        assert (grant.bucket, grant.prefix, grant.root_id) == (bucket, "data/", root.id)
        assert {w.workspace_id for w in grant.workspaces} == created
    await expect_error(
        listing(workspaces, md, root_id=root.id, on_behalf_of_user_id=outsider_id),
        grpc.StatusCode.PERMISSION_DENIED,
        "NODE_OPERATOR_REQUIRED",
    )
    await expect_error(
        listing(workspaces, md, root_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND, "ROOT_NOT_FOUND"
    )
    client = lister(grant)
    assert sorted(listed(client, bucket, "data/")) == ["data/a/1.txt", "data/b/2.txt"]
    assert not allowed(lambda: listed(client, bucket, "other/"))
    assert not allowed(lambda: listed(client, bucket))
    assert not allowed(lambda: client.get_object(Bucket=bucket, Key="data/a/1.txt"))

    # A root without a base prefix: the whole bucket, and still no other bucket.
    whole = await listing(workspaces, md, root_id=lab.root_ids["private"])
    assert whole.prefix == "" and whole.bucket == lab.buckets["private"]
    everything = lister(whole)
    assert allowed(lambda: listed(everything, whole.bucket))
    assert not allowed(lambda: listed(everything, bucket))
    assert not allowed(lambda: listed(everything, lab.buckets["public"]))


# --- ListWorkspaceLocations and the indexer's client -----------------------------------------------


async def test_locations_and_the_indexer_client(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, indexer_key: str
) -> None:
    owner, reader = await person(auth, "icl"), await person(auth, "icr")
    reader_id = await user_id(auth, reader)
    kept = await create(workspaces, owner, lab, "private")
    gone = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, kept, reader.name, READ)
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(gone)), metadata=owner.md
    )
    lab.admin_s3.put_object(Bucket=kept.bucket, Key=f"{kept.prefix}x.bin", Body=b"123")

    auth_client = AuthClient(auth.channel, indexer_key)
    client = WorkspacesClient(workspaces.channel, auth_client)
    directory: WorkspacesDirectory = client  # the port the indexer's rules use

    where = {loc.workspace_id: loc for loc in await directory.locations(kept.node_id)}
    assert gone.id not in where
    loc = where[kept.id]
    assert (loc.root_id, loc.node_id, loc.bucket, loc.prefix) == (
        kept.root_id,
        kept.node_id,
        kept.bucket,
        kept.prefix,
    )
    assert (loc.owner_id, loc.owner_username, loc.name, loc.node_name) == (
        kept.owner_id,
        owner.name,
        kept.name,
        lab.node,
    )
    assert await directory.locations(str(uuid.uuid4())) == []

    found = await directory.accessible(reader_id, "")
    assert found is not None and [x for x in found.locations if x.workspace_id == kept.id] == [loc]
    assert await directory.accessible(reader_id, found.revision) is None

    grant = await directory.listing_grant("", kept.id, reader_id, False)
    assert (grant.bucket, grant.prefix, grant.locations) == (kept.bucket, kept.prefix, (loc,))
    assert grant.expires_at > datetime.now(UTC) + timedelta(minutes=50)
    s3 = s3_client(grant.endpoint, grant.region, grant.access_key, grant.secret_key, grant.session_token)
    keys = listed(s3, kept.bucket, kept.prefix)
    assert f"{kept.prefix}x.bin" in keys and all(k.startswith(kept.prefix) for k in keys)
    with pytest.raises(DomainError) as refused:
        await directory.listing_grant("", kept.id, await user_id(auth, await person(auth, "icx")), False)
    assert refused.value.reason == Reason.WORKSPACE_NOT_FOUND
