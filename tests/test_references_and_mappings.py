"""What a reference, a grant or a mapping means cannot be changed by someone else or by a letter's case,
against the real stack: squatted names, case-equal folders on SeaweedFS (which matches session-policy
object resources ignoring case), one server registered twice, reshares that outlive their source, and
groups whose name is taken again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.test_workspaces import (
    OWN,
    READ,
    READWRITE,
    Person,
    allowed,
    brokered,
    credentials,
    expect_error,
    person,
    s3_client,
    share,
    unique,
)
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import events_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration


async def register(nodes: NodesUnderTest, s3: Any, who: Person, endpoint: str = "") -> Any:
    """The test SeaweedFS is on loopback: `who` must be an admin to register it."""
    return await nodes.stub.RegisterNode(
        nodes_pb2.RegisterNodeRequest(
            name=unique("node"),
            endpoint=endpoint or s3.endpoint,
            region=s3.region,
            kind=nodes_pb2.NODE_KIND_SEAWEEDFS,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            role_arn=s3.role_arn,
        ),
        metadata=who.md,
    )


async def root(nodes: NodesUnderTest, who: Person, node: str, bucket: str, kind: Any, **more: Any) -> Any:
    request = nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=kind, **more)
    return (await nodes.stub.CreateRoot(request, metadata=who.md)).root


async def make(workspaces: WorkspacesUnderTest, who: Person, name: str, kind: Any, **more: Any) -> Any:
    request = ws_pb2.CreateWorkspaceRequest(name=name, type=kind, **more)
    return (await workspaces.stub.CreateWorkspace(request, metadata=who.md)).workspace


async def get(workspaces: WorkspacesUnderTest, who: Person, reference: str) -> Any:
    return await workspaces.stub.GetWorkspace(
        ws_pb2.GetWorkspaceRequest(workspace=reference), metadata=who.md
    )


def when(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(seconds=seconds))
    return stamp


# --- references cannot be squatted ---------------------------------------------------------------------


async def test_a_workspace_named_like_a_user_does_not_capture_their_references(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    operator, alice, bob = (
        await person(auth, "op", admin=True),
        await person(auth, "alice"),
        await person(auth, "bob"),
    )
    node = (await register(nodes, infra.s3, operator)).node
    await root(nodes, operator, node.id, unique("priv"), nodes_pb2.ROOT_TYPE_PRIVATE)
    await root(nodes, operator, node.id, unique("publ"), nodes_pb2.ROOT_TYPE_PUBLIC)
    secret = await make(workspaces, alice, "secret", ws_pb2.WORKSPACE_TYPE_PRIVATE, node=node.id)
    # bob squats: a public workspace named like alice, with a folder "secret" in it.
    squat = await make(workspaces, bob, alice.name, ws_pb2.WORKSPACE_TYPE_PUBLIC, node=node.id)

    mine = await get(workspaces, alice, f"{alice.name}/secret")
    assert mine.workspace.id == secret.id and mine.path == ""
    # bob may not see alice's workspace: not found, never his own squat instead.
    await expect_error(
        get(workspaces, bob, f"{alice.name}/secret"), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )
    # Credentials follow the same reading.
    (issued,) = await credentials(workspaces, alice, f"{alice.name}/secret")
    assert [(s.workspace, s.prefix) for s in issued.scopes] == [(f"{alice.name}/secret", secret.prefix)]

    await share(workspaces, alice, secret, bob.name, READ)
    theirs = await get(workspaces, bob, f"{alice.name}/secret/inner/path")
    assert theirs.workspace.id == secret.id and theirs.path == "inner/path"
    # bob's squat is still his, reached with its owner named.
    own = await get(workspaces, bob, f"{bob.name}/{alice.name}/secret")
    assert own.workspace.id == squat.id and own.path == "secret"

    # A user with no workspace at all is still a user (the identity service says so): squatting their
    # name captures nothing either.
    carol = await person(auth, "carol")
    await make(workspaces, bob, carol.name, ws_pb2.WORKSPACE_TYPE_PUBLIC, node=node.id)
    for who in (bob, carol):
        await expect_error(
            get(workspaces, who, f"{carol.name}/plans"), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
        )


# --- case-equal folders on a node that ignores case ---------------------------------------------------


async def test_case_equal_folders_are_never_mapped_nor_reachable(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    s3 = infra.s3
    operator = await person(auth, "op", admin=True)
    registered = await register(nodes, s3, operator)
    node = registered.node
    # The probe found what SeaweedFS does, and the node's view says so.
    assert node.capabilities.case_probed and node.capabilities.object_case_ignored
    assert node.capabilities.policy_size_limit == 2048 and not node.capabilities.escapes_honoured
    assert node.capabilities.min_credential_seconds == 900
    checked = await nodes.stub.CheckNode(nodes_pb2.CheckNodeRequest(node=node.id), metadata=operator.md)
    assert checked.node.capabilities.case_probed and checked.node.capabilities.object_case_ignored
    # The workspaces service is given the same record with the node's access.
    assert (await workspaces.service.workspaces.nodes.node(node.id)).object_case_ignored

    admin = s3_client(s3.endpoint, s3.region, s3.access_key, s3.secret_key)
    bucket = unique("case")
    admin.create_bucket(Bucket=bucket)
    for key in ("Proj/a.txt", "proj/b.txt", "ok/c.txt"):
        admin.put_object(Bucket=bucket, Key=key, Body=b"data")
    unmanaged = await root(nodes, operator, node.id, bucket, nodes_pb2.ROOT_TYPE_UNMANAGED)

    imported = await workspaces.stub.ImportRoot(
        ws_pb2.ImportRootRequest(root=unmanaged.id), metadata=operator.md
    )
    assert [w.prefix for w in imported.created] == ["ok/"]
    skipped = {s.prefix: s.reason for s in imported.skipped}
    assert set(skipped) == {"Proj/", "proj/"}
    assert "proj/" in skipped["Proj/"] and "Proj/" in skipped["proj/"]

    for prefix in ("Proj/", "proj/", "PROJ/", "proj/sub/"):
        error = await expect_error(
            make(
                workspaces,
                operator,
                unique("hand"),
                ws_pb2.WORKSPACE_TYPE_UNMANAGED,
                root=unmanaged.id,
                prefix=prefix,
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            "WORKSPACE_OVERLAPS",
        )
        assert "ignoring case" in (error.details() or "")
    # Where no folder exists yet, the workspaces themselves are compared ignoring case.
    later = await make(
        workspaces,
        operator,
        unique("later"),
        ws_pb2.WORKSPACE_TYPE_UNMANAGED,
        root=unmanaged.id,
        prefix="later/",
    )
    error = await expect_error(
        make(
            workspaces,
            operator,
            unique("later"),
            ws_pb2.WORKSPACE_TYPE_UNMANAGED,
            root=unmanaged.id,
            prefix="LATER/",
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "WORKSPACE_OVERLAPS",
    )
    assert f"{operator.name}/{later.name}/" in (error.details() or "") and "ignoring case" in (
        error.details() or ""
    )

    # No credential wio issues for this root reaches either folder, in any case.
    sets = [
        *await credentials(workspaces, operator, f"{operator.name}/{imported.created[0].name}"),
        *await credentials(workspaces, operator, node=node.id),
    ]
    assert sets
    for issued in sets:
        s3_as_user = brokered(issued)
        assert allowed(partial(s3_as_user.get_object, Bucket=bucket, Key="ok/c.txt"))
        for key in ("Proj/a.txt", "proj/b.txt", "PROJ/a.txt", "pRoJ/b.txt"):
            assert not allowed(partial(s3_as_user.get_object, Bucket=bucket, Key=key)), key
            assert not allowed(partial(s3_as_user.put_object, Bucket=bucket, Key=key, Body=b"x")), key
            assert not allowed(partial(s3_as_user.delete_object, Bucket=bucket, Key=key)), key
    assert admin.get_object(Bucket=bucket, Key="Proj/a.txt")["Body"].read() == b"data"
    assert admin.get_object(Bucket=bucket, Key="proj/b.txt")["Body"].read() == b"data"


# --- the same folders are never mapped twice ---------------------------------------------------------


async def test_a_second_registration_of_one_server_cannot_map_its_folders_again(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    s3 = infra.s3
    first_operator, second_operator = (
        await person(auth, "op1", admin=True),
        await person(auth, "op2", admin=True),
    )
    first = (await register(nodes, s3, first_operator)).node
    bucket = unique("twice")
    s3_client(s3.endpoint, s3.region, s3.access_key, s3.secret_key).create_bucket(Bucket=bucket)
    mapped = await root(
        nodes, first_operator, first.id, bucket, nodes_pb2.ROOT_TYPE_UNMANAGED, base_prefix="data/"
    )

    # The same server spelled another way (a trailing slash, the host in capitals) is the same server:
    # registering it is allowed and says which node has it.
    host_port = s3.endpoint.split("://", 1)[1]
    again = await register(nodes, s3, second_operator, endpoint=f"http://{host_port.upper()}/")
    assert any(first.name in notice for notice in again.notices), again.notices
    second = again.node
    for base in ("data/", "", "data/deeper/", "DATA/"):
        error = await expect_error(
            root(nodes, second_operator, second.id, bucket, nodes_pb2.ROOT_TYPE_UNMANAGED, base_prefix=base),
            grpc.StatusCode.ALREADY_EXISTS,
            "ROOT_OVERLAPS",
        )
        assert mapped.id in (error.details() or "") and first.name in (error.details() or "")
    listed = await nodes.stub.ListRoots(
        nodes_pb2.ListRootsRequest(node=second.id), metadata=second_operator.md
    )
    assert not listed.roots
    # Other folders of the bucket remain free to map.
    await root(nodes, second_operator, second.id, bucket, nodes_pb2.ROOT_TYPE_UNMANAGED, base_prefix="other/")

    # Another host name for the server is another endpoint to wio (it resolves no names), but moving a
    # node onto the first one's endpoint is refused while its roots would map the same folders twice.
    port = host_port.rsplit(":", 1)[1]
    third = (await register(nodes, s3, second_operator, endpoint=f"http://localhost:{port}")).node
    await root(nodes, second_operator, third.id, bucket, nodes_pb2.ROOT_TYPE_UNMANAGED, base_prefix="data/")
    error = await expect_error(
        nodes.stub.UpdateNode(
            nodes_pb2.UpdateNodeRequest(
                node=third.id,
                changes=nodes_pb2.RegisterNodeRequest(endpoint=s3.endpoint),
                update_mask=field_mask_pb2.FieldMask(paths=["endpoint"]),
            ),
            metadata=second_operator.md,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "ROOT_OVERLAPS",
    )
    assert mapped.id in (error.details() or "")
    shown = await nodes.stub.GetNode(nodes_pb2.GetNodeRequest(node=third.id), metadata=second_operator.md)
    assert shown.node.endpoint == f"http://localhost:{port}"


# --- rights that outlive their source -----------------------------------------------------------------


async def test_a_reshare_never_outlives_nor_exceeds_the_share_it_was_made_through(
    infra: Any,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    events: Any,
) -> None:
    watcher = await events("wio.workspaces.share.>")
    operator = await person(auth, "op", admin=True)
    alice, bob, carol, dave = [await person(auth, n) for n in ("alice", "bob", "carol", "dave")]
    node = (await register(nodes, infra.s3, operator)).node
    await root(nodes, operator, node.id, unique("priv"), nodes_pb2.ROOT_TYPE_PRIVATE)
    ws = await make(workspaces, alice, unique("proj"), ws_pb2.WORKSPACE_TYPE_PRIVATE, node=node.id)
    reference = f"{alice.name}/{ws.name}"

    granting = (
        await workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(
                workspace=reference, sharee=bob.name, permission=OWN, expires_at=when(3600)
            ),
            metadata=alice.md,
        )
    ).share
    # bob reshares without an expiry: the reshare ends when his own share does.
    reshare = (
        await workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=reference, sharee=carol.name, permission=READWRITE),
            metadata=bob.md,
        )
    ).share
    assert reshare.HasField("expires_at") and reshare.expires_at == granting.expires_at
    # Nor may he move it past his own expiry later.
    moved = await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=reshare.id, expires_at=when(7200), update_mask=field_mask_pb2.FieldMask(paths=["expires_at"])
        ),
        metadata=bob.md,
    )
    assert moved.share.expires_at == granting.expires_at
    # Nor may he lift the expiry (or raise the level) of the share that grants him access, nor change or
    # revoke a share alice made to someone else: with `own` he manages only what was made through his.
    others = (
        await workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=reference, sharee=dave.name, permission=READ),
            metadata=alice.md,
        )
    ).share
    lift = ws_pb2.UpdateShareRequest(
        id=granting.id, update_mask=field_mask_pb2.FieldMask(paths=["expires_at"])
    )  # no value: no expiry
    for attempt in (
        workspaces.stub.UpdateShare(lift, metadata=bob.md),
        workspaces.stub.UpdateShare(
            ws_pb2.UpdateShareRequest(
                id=others.id, permission=OWN, update_mask=field_mask_pb2.FieldMask(paths=["permission"])
            ),
            metadata=bob.md,
        ),
        workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=others.id), metadata=bob.md),
        workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granting.id), metadata=bob.md),
    ):
        await expect_error(attempt, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    # carol, given only readwrite through bob, manages nothing.
    await expect_error(
        workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=reshare.id), metadata=carol.md),
        grpc.StatusCode.NOT_FOUND,
        "SHARE_NOT_FOUND",
    )
    still = await workspaces.stub.ListShares(ws_pb2.ListSharesRequest(workspace=reference), metadata=alice.md)
    assert {s.id: s.expires_at for s in still.made}[granting.id] == granting.expires_at
    assert {s.id: s.permission for s in still.made}[others.id] == READ
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=others.id), metadata=alice.md)

    # alice downgrades bob: carol's reshare is capped to his level.
    await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=granting.id, permission=READ, update_mask=field_mask_pb2.FieldMask(paths=["permission"])
        ),
        metadata=alice.md,
    )
    carol_sees = await get(workspaces, carol, reference)
    assert carol_sees.workspace.permission == READ
    parse = events_pb2.ShareChangedEvent.FromString
    assert await watcher.wait_for("wio.workspaces.share.updated", parse, share_id=reshare.id)

    # A reshare made through an expiring share expires with it, proven by the S3 server.
    await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=granting.id,
            permission=OWN,
            expires_at=when(4),
            update_mask=field_mask_pb2.FieldMask(paths=["permission", "expires_at"]),
        ),
        metadata=alice.md,
    )
    short = (
        await workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=reference, sharee=dave.name, permission=READ),
            metadata=bob.md,
        )
    ).share
    assert short.expires_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=4)
    (issued,) = await credentials(workspaces, dave, reference)
    assert allowed(lambda: brokered(issued).list_objects_v2(Bucket=ws.bucket, Prefix=ws.prefix))
    await asyncio.sleep(4.5)
    await expect_error(get(workspaces, dave, reference), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND")
    await expect_error(
        credentials(workspaces, dave, reference), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )

    # Revoking bob's share revokes every share made through it, each with its event.
    await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=granting.id, expires_at=when(3600), update_mask=field_mask_pb2.FieldMask(paths=["expires_at"])
        ),
        metadata=alice.md,
    )
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granting.id), metadata=alice.md)
    left = await workspaces.stub.ListShares(ws_pb2.ListSharesRequest(workspace=reference), metadata=alice.md)
    assert not left.made
    await expect_error(get(workspaces, carol, reference), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND")
    for gone in (granting.id, reshare.id, short.id):
        assert await watcher.wait_for("wio.workspaces.share.revoked", parse, share_id=gone), gone


async def test_a_deleted_groups_name_created_again_grants_nothing(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    operator, member, mallory = (
        await person(auth, "op", admin=True),
        await person(auth, "mem"),
        await person(auth, "mal"),
    )
    group = unique("creators")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=operator.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=operator.md
    )
    node = (await register(nodes, infra.s3, operator)).node
    limited = await root(
        nodes,
        operator,
        node.id,
        unique("lim"),
        nodes_pb2.ROOT_TYPE_PRIVATE,
        allowed_creators=[f"group:{group}"],
    )
    assert limited.allowed_group_ids and not limited.allowed_user_ids
    await make(workspaces, member, unique("ok"), ws_pb2.WORKSPACE_TYPE_PRIVATE, root=limited.id)

    await auth.stub.DeleteGroup(auth_pb2.DeleteGroupRequest(name=group), metadata=operator.md)
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=mallory.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=mallory.name), metadata=mallory.md
    )
    for who in (mallory, member):
        await expect_error(
            make(workspaces, who, unique("no"), ws_pb2.WORKSPACE_TYPE_PRIVATE, root=limited.id),
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_ALLOWED_TO_CREATE",
        )
