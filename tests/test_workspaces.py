"""Workspaces, shares, the permission decision and credential brokering against the real stack.

Every permission claim is proven by SeaweedFS itself: boto3 with brokered credentials is allowed or refused.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import grpc
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError
from google.protobuf import field_mask_pb2, timestamp_pb2
from sqlalchemy import text

from services.common.grpc_errors import error_reason
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from wio.auth.v1 import auth_pb2
from wio.nodes.v1 import nodes_pb2
from wio.workspaces.v1 import events_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

READ, READWRITE, OWN = ws_pb2.PERMISSION_READ, ws_pb2.PERMISSION_READWRITE, ws_pb2.PERMISSION_OWN


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def expect_error(call: Any, code: grpc.StatusCode, reason: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    assert error_reason(info.value) == reason, info.value.details()
    return info.value


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


def brokered(credential_set: Any) -> Any:
    return s3_client(
        credential_set.endpoint,
        credential_set.region,
        credential_set.access_key,
        credential_set.secret_key,
        credential_set.session_token,
    )


def allowed(call: Callable[[], Any]) -> bool:
    """True if S3 allows the request, False if it refuses it as access denied; anything else fails."""
    try:
        call()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in {"AccessDenied", "403"}, exc.response
        return False
    return True


@dataclass
class Person:
    name: str
    key: str
    md: Any = None


@dataclass
class Lab:
    """A node (the stack's SeaweedFS under a fresh name) with private, public and unmanaged roots, its
    operator, and the admin S3 client that sets data up behind wio's back."""

    node: str
    operator: Person
    admin_s3: Any
    buckets: dict[str, str]
    root_ids: dict[str, str]
    people: dict[str, Person] = field(default_factory=dict)


async def person(auth: AuthUnderTest, prefix: str, admin: bool = False) -> Person:
    user, key = await auth.new_user(prefix, admin=admin)
    return Person(user.username, key, await auth.as_key(key))


@pytest.fixture(scope="module")
async def lab(infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: Any) -> AsyncIterator[Lab]:
    s3 = infra.s3
    # The node is on loopback: only an admin may register it.
    operator = await person(auth, "op", admin=True)
    node = unique("lab")
    await nodes.register_test_s3(s3, node, operator.md)
    admin_s3 = s3_client(s3.endpoint, s3.region, s3.access_key, s3.secret_key)
    buckets = {kind: unique(kind[:4]) for kind in ("private", "public", "unmanaged")}
    admin_s3.create_bucket(Bucket=buckets["unmanaged"])
    types = {
        "private": nodes_pb2.ROOT_TYPE_PRIVATE,
        "public": nodes_pb2.ROOT_TYPE_PUBLIC,
        "unmanaged": nodes_pb2.ROOT_TYPE_UNMANAGED,
    }
    root_ids = {}
    for kind, bucket in buckets.items():
        created = await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=types[kind]), metadata=operator.md
        )
        root_ids[kind] = created.root.id
    yield Lab(node, operator, admin_s3, buckets, root_ids)


async def create(
    workspaces: WorkspacesUnderTest,
    who: Person,
    lab: Lab,
    kind: str,
    name: str = "",
    prefix: str = "",
    root: str = "",
) -> Any:
    types = {
        "private": ws_pb2.WORKSPACE_TYPE_PRIVATE,
        "public": ws_pb2.WORKSPACE_TYPE_PUBLIC,
        "unmanaged": ws_pb2.WORKSPACE_TYPE_UNMANAGED,
    }
    response = await workspaces.stub.CreateWorkspace(
        ws_pb2.CreateWorkspaceRequest(
            name=name or unique(kind[:3]),
            type=types[kind],
            node=lab.node,
            # The node gets more unmanaged roots in these tests; existing data is always mapped by root.
            root=root or (lab.root_ids["unmanaged"] if kind == "unmanaged" else ""),
            prefix=prefix,
        ),
        metadata=who.md,
    )
    return response.workspace


async def share(workspaces: WorkspacesUnderTest, owner: Person, ws: Any, sharee: str, level: Any) -> Any:
    request = ws_pb2.CreateShareRequest(
        workspace=f"{ws.owner_username}/{ws.name}", sharee=sharee, permission=level
    )
    return (await workspaces.stub.CreateShare(request, metadata=owner.md)).share


async def credentials(workspaces: WorkspacesUnderTest, who: Person, *refs: str, node: str = "") -> Any:
    request = ws_pb2.IssueCredentialsRequest(workspaces=list(refs), node=node)
    return (await workspaces.stub.IssueCredentials(request, metadata=who.md)).sets


def ref(ws: Any) -> str:
    return f"{ws.owner_username}/{ws.name}"


# --- workspaces ---------------------------------------------------------------------------------------


async def test_create_list_show_and_delete(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice = await person(auth, "alice")
    ws = await create(workspaces, alice, lab, "private", "results")
    assert ws.prefix == f"{alice.name}/results/" and ws.bucket == lab.buckets["private"]
    assert ws.permission == OWN and ws.type == ws_pb2.WORKSPACE_TYPE_PRIVATE
    # The folder marker makes the empty workspace visible to S3 tools.
    lab.admin_s3.head_object(Bucket=ws.bucket, Key=ws.prefix)

    listed = await workspaces.stub.ListWorkspaces(
        ws_pb2.ListWorkspacesRequest(node=lab.node), metadata=alice.md
    )
    assert [w.name for w in listed.workspaces if w.owner_username == alice.name] == ["results"]

    for reference in ("results", "results/", f"{alice.name}/results", "results/inner/file.txt"):
        shown = await workspaces.stub.GetWorkspace(
            ws_pb2.GetWorkspaceRequest(workspace=reference), metadata=alice.md
        )
        assert shown.workspace.id == ws.id, reference
    shown = await workspaces.stub.GetWorkspace(
        ws_pb2.GetWorkspaceRequest(workspace=f"{alice.name}/results/a/b.txt"), metadata=alice.md
    )
    assert shown.path == "a/b.txt"

    # Names are unique per owner; bad names are refused and change nothing.
    await expect_error(
        workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(name="results", node=lab.node), metadata=alice.md
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "WORKSPACE_EXISTS",
    )
    for bad in (".hidden", "Upper", "a/b", "", "x" * 64, "sp ace", "star*", "trailing\n"):
        await expect_error(
            workspaces.stub.CreateWorkspace(
                ws_pb2.CreateWorkspaceRequest(name=bad, node=lab.node), metadata=alice.md
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_WORKSPACE_NAME",
        )
    listed = await workspaces.stub.ListWorkspaces(
        ws_pb2.ListWorkspacesRequest(owner=alice.name), metadata=alice.md
    )
    assert len(listed.workspaces) == 1

    # Not empty: refused unless forced; forced removes the objects.
    lab.admin_s3.put_object(Bucket=ws.bucket, Key=ws.prefix + "data/1.bin", Body=b"1")
    await expect_error(
        workspaces.stub.DeleteWorkspace(
            ws_pb2.DeleteWorkspaceRequest(workspace="results"), metadata=alice.md
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "WORKSPACE_NOT_EMPTY",
    )
    deleted = await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace="results", force=True), metadata=alice.md
    )
    assert deleted.objects_deleted == 2
    assert lab.admin_s3.list_objects_v2(Bucket=ws.bucket, Prefix=ws.prefix).get("KeyCount", 0) == 0
    await expect_error(
        workspaces.stub.GetWorkspace(ws_pb2.GetWorkspaceRequest(workspace="results"), metadata=alice.md),
        grpc.StatusCode.NOT_FOUND,
        "WORKSPACE_NOT_FOUND",
    )


async def test_owner_qualified_references_never_fall_through(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    bob, carol, dave = await person(auth, "bob"), await person(auth, "carol"), await person(auth, "dave")
    # carol owns "data"; bob owns a workspace named like carol, holding a folder "data".
    own = await create(workspaces, bob, lab, "private", carol.name)
    theirs = await create(workspaces, carol, lab, "private", "data")
    await share(workspaces, carol, theirs, bob.name, READ)
    # carol is a username: `carol/data` is carol's workspace, for bob too, whatever bob owns.
    shown = await workspaces.stub.GetWorkspace(
        ws_pb2.GetWorkspaceRequest(workspace=f"{carol.name}/data"), metadata=bob.md
    )
    assert shown.workspace.id == theirs.id and shown.path == ""
    # bob's own workspace is reached with its owner named.
    shown = await workspaces.stub.GetWorkspace(
        ws_pb2.GetWorkspaceRequest(workspace=f"{bob.name}/{carol.name}/data"), metadata=bob.md
    )
    assert shown.workspace.id == own.id and shown.path == "data"
    # Someone who may not see carol's workspace is told it is not there: never bob's instead.
    await expect_error(
        workspaces.stub.GetWorkspace(
            ws_pb2.GetWorkspaceRequest(workspace=f"{carol.name}/data"), metadata=dave.md
        ),
        grpc.StatusCode.NOT_FOUND,
        "WORKSPACE_NOT_FOUND",
    )


async def test_bare_names_mean_your_own_first_and_refuse_several_others(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    bob, carol, dave = await person(auth, "bob"), await person(auth, "carol"), await person(auth, "dave")
    name = unique("shared")
    carols = await create(workspaces, carol, lab, "public", name)
    daves = await create(workspaces, dave, lab, "public", name)
    error = await expect_error(
        workspaces.stub.GetWorkspace(ws_pb2.GetWorkspaceRequest(workspace=f"{name}/x"), metadata=bob.md),
        grpc.StatusCode.INVALID_ARGUMENT,
        "WORKSPACE_AMBIGUOUS",
    )
    assert f"{carol.name}/{name}/" in (error.details() or "") and f"{dave.name}/{name}/" in (
        error.details() or ""
    )
    # Each owner's own comes first for them.
    for owner, theirs in ((carol, carols), (dave, daves)):
        shown = await workspaces.stub.GetWorkspace(
            ws_pb2.GetWorkspaceRequest(workspace=f"{name}/x"), metadata=owner.md
        )
        assert shown.workspace.id == theirs.id and shown.path == "x"


async def test_stranger_sees_nothing_private(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner, stranger = await person(auth, "own"), await person(auth, "str")
    ws = await create(workspaces, owner, lab, "private")
    public = await create(workspaces, owner, lab, "public")
    await expect_error(
        workspaces.stub.GetWorkspace(ws_pb2.GetWorkspaceRequest(workspace=ref(ws)), metadata=stranger.md),
        grpc.StatusCode.NOT_FOUND,
        "WORKSPACE_NOT_FOUND",
    )
    listed = await workspaces.stub.ListWorkspaces(
        ws_pb2.ListWorkspacesRequest(owner=owner.name), metadata=stranger.md
    )
    assert [w.id for w in listed.workspaces] == [public.id]
    assert listed.workspaces[0].permission == READ
    await expect_error(
        workspaces.stub.DeleteWorkspace(
            ws_pb2.DeleteWorkspaceRequest(workspace=ref(public)), metadata=stranger.md
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(
        workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=ref(public), sharee=stranger.name, permission=OWN),
            metadata=stranger.md,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )


async def test_unmanaged_workspaces_map_existing_data_untouched(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    bucket = lab.buckets["unmanaged"]
    folder = unique("survey")
    for key in ("a.csv", "deep/b.csv"):
        lab.admin_s3.put_object(Bucket=bucket, Key=f"{folder}/{key}", Body=key.encode())
    before = {
        o["Key"]: o["ETag"] for o in lab.admin_s3.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]
    }
    # Only the operator maps existing data.
    someone = await person(auth, "someone")
    await expect_error(
        workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(
                name="x", type=ws_pb2.WORKSPACE_TYPE_UNMANAGED, node=lab.node, prefix=folder
            ),
            metadata=someone.md,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "NODE_OPERATOR_REQUIRED",
    )
    ws = await create(workspaces, lab.operator, lab, "unmanaged", unique("survey"), prefix=folder)
    assert ws.prefix == f"{folder}/" and ws.type == ws_pb2.WORKSPACE_TYPE_UNMANAGED
    # Nested prefixes in one root are refused.
    await expect_error(
        workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(
                name=unique("inner"),
                type=ws_pb2.WORKSPACE_TYPE_UNMANAGED,
                node=lab.node,
                prefix=f"{folder}/deep",
            ),
            metadata=lab.operator.md,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "WORKSPACE_OVERLAPS",
    )
    # Wildcards cannot be granted exactly, so such a prefix is refused.
    await expect_error(
        workspaces.stub.CreateWorkspace(
            ws_pb2.CreateWorkspaceRequest(
                name=unique("star"), type=ws_pb2.WORKSPACE_TYPE_UNMANAGED, node=lab.node, prefix="da*ta"
            ),
            metadata=lab.operator.md,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PREFIX",
    )
    # Deleting an unmanaged workspace never touches the data, even forced.
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(ws), force=True), metadata=lab.operator.md
    )
    after = {
        o["Key"]: o["ETag"] for o in lab.admin_s3.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]
    }
    assert after == before


async def test_import_maps_each_top_level_folder_once(
    lab: Lab, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest, infra: Any
) -> None:
    bucket = unique("imp")
    lab.admin_s3.create_bucket(Bucket=bucket)
    # Folders equal ignoring case are left to test_references_and_mappings: SeaweedFS treats them as one.
    folders = ["Raw Data", "results", "results.", "café", "has*star", "q?", "$HOME", "results2"]
    for folder in folders:
        lab.admin_s3.put_object(Bucket=bucket, Key=f"{folder}/file.txt", Body=folder.encode())
    lab.admin_s3.put_object(Bucket=bucket, Key="top-level-file.txt", Body=b"x")
    before = {o["Key"]: o["ETag"] for o in lab.admin_s3.list_objects_v2(Bucket=bucket)["Contents"]}
    root = (
        await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(node=lab.node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_UNMANAGED),
            metadata=lab.operator.md,
        )
    ).root
    someone = await person(auth, "imp")
    await expect_error(
        workspaces.stub.ImportRoot(ws_pb2.ImportRootRequest(root=root.id), metadata=someone.md),
        grpc.StatusCode.PERMISSION_DENIED,
        "NODE_OPERATOR_REQUIRED",
    )
    # One folder is mapped by hand first; import leaves it alone and names around it.
    await create(workspaces, lab.operator, lab, "unmanaged", "results", prefix="results", root=root.id)
    result = await workspaces.stub.ImportRoot(
        ws_pb2.ImportRootRequest(root=root.id), metadata=lab.operator.md
    )
    assert {w.prefix: w.name for w in result.created} == {
        "Raw Data/": "raw-data",
        "results./": "results-2",
        "café/": "cafe",
        "results2/": "results2",
    }
    assert {s.prefix for s in result.skipped} == {"has*star/", "q?/", "$HOME/"}
    assert all(s.reason for s in result.skipped) and result.already_mapped == 1
    again = await workspaces.stub.ImportRoot(ws_pb2.ImportRootRequest(root=root.id), metadata=lab.operator.md)
    assert not again.created and again.already_mapped == 5 and len(again.skipped) == 3
    after = {o["Key"]: o["ETag"] for o in lab.admin_s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert after == before
    # Imported data is reachable with brokered credentials, exactly at its folder.
    raw = next(w for w in result.created if w.prefix == "Raw Data/")
    (cred,) = await credentials(workspaces, lab.operator, ref(raw))
    client = brokered(cred)
    assert client.get_object(Bucket=bucket, Key="Raw Data/file.txt")["Body"].read() == b"Raw Data"
    assert not allowed(lambda: client.get_object(Bucket=bucket, Key="results/file.txt"))


async def test_imports_running_at_once_never_deadlock(
    lab: Lab, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest, infra: Any
) -> None:
    """Two operators import at the same time, each a root whose folders become workspaces of the same
    names, met in opposite orders ("B" sorts before "a" but becomes "b"): each import advances the
    revisions of every name it maps, so the two take the same locks and must take them in one order."""
    other = await person(auth, "op2", admin=True)
    other_node = unique("lab2")
    await nodes.register_test_s3(infra.s3, other_node, other.md)
    upper = ["B", "D", "F", "H", "a", "c", "e", "g"]  # listed in this order: b, d, f, h, a, c, e, g
    lower = ["a", "b", "c", "d", "e", "f", "g", "h"]
    for round_number in range(4):
        roots = []
        for node, operator, folders in ((lab.node, lab.operator, upper), (other_node, other, lower)):
            bucket = unique(f"dl{round_number}")
            lab.admin_s3.create_bucket(Bucket=bucket)
            for folder in folders:
                lab.admin_s3.put_object(Bucket=bucket, Key=f"{folder}{round_number}/f.txt", Body=b"x")
            created = await nodes.stub.CreateRoot(
                nodes_pb2.CreateRootRequest(node=node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_UNMANAGED),
                metadata=operator.md,
            )
            roots.append((created.root.id, operator))
        results = await asyncio.gather(
            *(
                workspaces.stub.ImportRoot(ws_pb2.ImportRootRequest(root=root_id), metadata=operator.md)
                for root_id, operator in roots
            )
        )
        assert [len(r.created) for r in results] == [8, 8]

    # One operator imports two roots at once whose folders have the same names: the imports take turns,
    # so the second names around what the first mapped instead of failing on it.
    same_roots: list[str] = []
    for _ in range(2):
        bucket = unique("same")
        lab.admin_s3.create_bucket(Bucket=bucket)
        for folder in ("shared-data", "shared-results"):
            lab.admin_s3.put_object(Bucket=bucket, Key=f"{folder}/f.txt", Body=b"x")
        created = await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(node=lab.node, bucket=bucket, type=nodes_pb2.ROOT_TYPE_UNMANAGED),
            metadata=lab.operator.md,
        )
        same_roots.append(created.root.id)
    results = await asyncio.gather(
        *(
            workspaces.stub.ImportRoot(ws_pb2.ImportRootRequest(root=root_id), metadata=lab.operator.md)
            for root_id in same_roots
        )
    )
    names = sorted(w.name for r in results for w in r.created)
    assert names == ["shared-data", "shared-data-2", "shared-results", "shared-results-2"]


# --- shares and the permission decision ---------------------------------------------------------------


async def test_shares_lifecycle_and_explanations(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, events: Any
) -> None:
    watcher = await events("wio.workspaces.share.>")
    owner, alice, bob = await person(auth, "so"), await person(auth, "sa"), await person(auth, "sb")
    group = unique("grp")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=bob.name), metadata=owner.md
    )
    ws = await create(workspaces, owner, lab, "private")

    direct = await share(workspaces, owner, ws, alice.name, READ)
    via_group = await share(workspaces, owner, ws, f"group:{group}", READWRITE)
    assert via_group.sharee == f"group:{group}"
    await expect_error(
        workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=alice.name, permission=READ),
            metadata=owner.md,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "SHARE_EXISTS",
    )
    for bad_sharee, reason in (
        ("nobody-" + uuid.uuid4().hex[:6], "USER_NOT_FOUND"),
        ("group:none-x", "GROUP_NOT_FOUND"),
    ):
        error = await expect_error(
            workspaces.stub.CreateShare(
                ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=bad_sharee, permission=READ),
                metadata=owner.md,
            ),
            grpc.StatusCode.NOT_FOUND,
            reason,
        )
        assert error.details()
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    await expect_error(
        workspaces.stub.CreateShare(
            ws_pb2.CreateShareRequest(workspace=ref(ws), sharee=owner.name, permission=READ, expires_at=past),
            metadata=owner.md,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_EXPIRY",
    )

    async def check(who: Person) -> Any:
        return await workspaces.stub.CheckPermission(
            ws_pb2.CheckPermissionRequest(workspace=ref(ws)), metadata=who.md
        )

    assert (await check(alice)).permission == READ
    bob_check = await check(bob)
    assert bob_check.permission == READWRITE and group in bob_check.reason

    explained = await workspaces.stub.ExplainPermission(
        ws_pb2.ExplainPermissionRequest(workspace=ref(ws), username=alice.name, wanted=READWRITE),
        metadata=owner.md,
    )
    assert not explained.allowed and "read" in explained.summary and alice.name in explained.summary
    assert [f.permission for f in explained.factors] == [READ]
    explained = await workspaces.stub.ExplainPermission(
        ws_pb2.ExplainPermissionRequest(workspace=ref(ws), username=bob.name, wanted=READWRITE),
        metadata=owner.md,
    )
    assert explained.allowed and group in explained.summary
    # Only those who manage the workspace may ask about others.
    await expect_error(
        workspaces.stub.ExplainPermission(
            ws_pb2.ExplainPermissionRequest(workspace=ref(ws), username=bob.name), metadata=alice.md
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )

    # 'own' sharees may share further; the share listing shows both sides.
    await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=direct.id, permission=OWN, update_mask=field_mask_pb2.FieldMask(paths=["permission"])
        ),
        metadata=owner.md,
    )
    carol = await person(auth, "sc")
    await share(workspaces, alice, ws, carol.name, READ)
    mine = await workspaces.stub.ListShares(ws_pb2.ListSharesRequest(), metadata=alice.md)
    assert {s.sharee for s in mine.made} == {alice.name, f"group:{group}", carol.name}
    assert [s.id for s in mine.with_me] == [direct.id]

    # An expired share stops counting at once.
    end = datetime.now(UTC) + timedelta(seconds=6)  # room for the calls before it on a busy machine
    soon = timestamp_pb2.Timestamp()
    soon.FromDatetime(end)
    await workspaces.stub.UpdateShare(
        ws_pb2.UpdateShareRequest(
            id=via_group.id, expires_at=soon, update_mask=field_mask_pb2.FieldMask(paths=["expires_at"])
        ),
        metadata=owner.md,
    )
    assert (await check(bob)).permission == READWRITE
    await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 0.5)
    await expect_error(check(bob), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND")

    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=direct.id), metadata=owner.md)
    await expect_error(check(alice), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND")
    await expect_error(
        workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=direct.id), metadata=owner.md),
        grpc.StatusCode.NOT_FOUND,
        "SHARE_NOT_FOUND",
    )
    parse = events_pb2.ShareChangedEvent.FromString
    assert len(await watcher.wait_for("wio.workspaces.share.revoked", parse, share_id=direct.id)) == 1
    assert len(watcher.matching("wio.workspaces.share.granted", parse, share_id=direct.id)) == 1
    assert len(watcher.matching("wio.workspaces.share.updated", parse, share_id=via_group.id)) == 1


# --- the permission matrix ----------------------------------------------------------------------------

OPERATIONS = ("list", "get", "put", "delete", "list parent", "list other")


def expected_cells(level: int) -> dict[str, bool]:
    """The permission table: read lists and gets, write adds put and delete; nothing reaches the parent
    folder or another workspace."""
    reads = level >= READ
    writes = level >= READWRITE
    return {
        "list": reads,
        "get": reads,
        "put": writes,
        "delete": writes,
        "list parent": False,
        "list other": False,
    }


def try_cells(client: Any, ws: Any, other: Any, admin_s3: Any) -> dict[str, bool]:
    bucket, prefix = ws.bucket, ws.prefix
    victim = f"{prefix}victim-{uuid.uuid4().hex[:6]}"
    admin_s3.put_object(Bucket=bucket, Key=victim, Body=b"v")
    parent = prefix.rstrip("/").rpartition("/")[0]
    parent = f"{parent}/" if parent else ""
    return {
        "list": allowed(lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")),
        "get": allowed(lambda: client.get_object(Bucket=bucket, Key=f"{prefix}hello.txt")),
        "put": allowed(
            lambda: client.put_object(Bucket=bucket, Key=f"{prefix}new-{uuid.uuid4().hex[:6]}", Body=b"n")
        ),
        "delete": allowed(lambda: client.delete_object(Bucket=bucket, Key=victim)),
        "list parent": allowed(lambda: client.list_objects_v2(Bucket=bucket, Prefix=parent, Delimiter="/")),
        "list other": allowed(
            lambda: client.list_objects_v2(Bucket=other.bucket, Prefix=other.prefix, Delimiter="/")
        ),
    }


async def test_permission_matrix(lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest) -> None:
    owner = lab.operator
    reader, writer, member, stranger = (
        await person(auth, "reader"),
        await person(auth, "writer"),
        await person(auth, "member"),
        await person(auth, "stranger"),
    )
    group = unique("team")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    folder = unique("existing")
    lab.admin_s3.put_object(Bucket=lab.buckets["unmanaged"], Key=f"{folder}/hello.txt", Body=b"hi")
    targets = {
        "private": await create(workspaces, owner, lab, "private"),
        "public": await create(workspaces, owner, lab, "public"),
        "unmanaged": await create(workspaces, owner, lab, "unmanaged", prefix=folder),
    }
    other = await create(workspaces, owner, lab, "private")
    strangers_own = await create(workspaces, stranger, lab, "private")
    for ws in targets.values():
        lab.admin_s3.put_object(Bucket=ws.bucket, Key=f"{ws.prefix}hello.txt", Body=b"hi")
        await share(workspaces, owner, ws, reader.name, READ)
        await share(workspaces, owner, ws, writer.name, READWRITE)
        await share(workspaces, owner, ws, f"group:{group}", READWRITE)

    people = {
        "owner": owner,
        "reader": reader,
        "writer": writer,
        "group member": member,
        "stranger": stranger,
    }
    levels = {"owner": OWN, "reader": READ, "writer": READWRITE, "group member": READWRITE, "stranger": 0}
    rows: list[str] = []
    mismatches: list[str] = []
    for kind, ws in targets.items():
        for role, who in people.items():
            level = levels[role]
            if kind == "public" and role == "stranger":
                level = READ  # every logged-in user reads a public workspace
            if level:
                (cred,) = await credentials(workspaces, who, ref(ws))
                assert [s.prefix for s in cred.scopes] == [ws.prefix]
            else:
                # wio refuses to broker anything for it; S3 refuses the stranger's own credentials there.
                await expect_error(
                    credentials(workspaces, who, ref(ws)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
                )
                (cred,) = await credentials(workspaces, who, ref(strangers_own))
            seen = await asyncio.to_thread(try_cells, brokered(cred), ws, other, lab.admin_s3)
            want = expected_cells(level)
            rows.append(
                f"{kind:<10} {role:<13} "
                + " ".join(f"{('allow' if seen[op] else 'deny'):<{max(len(op), 5)}}" for op in OPERATIONS)
            )
            mismatches += [f"{kind}/{role}/{op}: saw {seen[op]}" for op in OPERATIONS if seen[op] != want[op]]
    header = f"{'workspace':<10} {'who':<13} " + " ".join(f"{op:<5}" for op in OPERATIONS)
    print("\npermission matrix (SeaweedFS answers with brokered credentials)\n" + "\n".join([header, *rows]))
    assert not mismatches, mismatches


# --- revocation and the credential cache --------------------------------------------------------------


async def test_revoked_share_is_excluded_at_once(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, events: Any
) -> None:
    watcher = await events("wio.workspaces.credentials.issued")
    owner, reader = await person(auth, "ro"), await person(auth, "rr")
    ws = await create(workspaces, owner, lab, "private")
    kept = await create(workspaces, owner, lab, "private")
    for target in (ws, kept):
        lab.admin_s3.put_object(Bucket=target.bucket, Key=f"{target.prefix}f.txt", Body=b"f")
    granted = await share(workspaces, owner, ws, reader.name, READ)
    await share(workspaces, owner, kept, reader.name, READ)

    issued_at = datetime.now(UTC)
    (first,) = await credentials(workspaces, reader, node=lab.node)
    # Everything the reader can access on the node: both shares, and any public workspace there.
    before = {s.prefix for s in first.scopes}
    assert {ws.prefix, kept.prefix} <= before
    # Within the reuse window the same set comes back, and STS is not asked again.
    (again,) = await credentials(workspaces, reader, node=lab.node)
    assert again.access_key == first.access_key
    parse = events_pb2.CredentialsIssuedEvent.FromString
    assert await watcher.wait_for("wio.workspaces.credentials.issued", parse, access_key=first.access_key)
    await asyncio.sleep(0.5)
    assert len(watcher.matching("wio.workspaces.credentials.issued", parse, access_key=first.access_key)) == 1
    expires = first.expires_at.ToDatetime(tzinfo=UTC)
    assert issued_at + timedelta(minutes=14) < expires <= datetime.now(UTC) + timedelta(minutes=15, seconds=5)

    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granted.id), metadata=owner.md)
    # The next request no longer covers the revoked workspace...
    (after,) = await credentials(workspaces, reader, node=lab.node)
    assert {s.prefix for s in after.scopes} == before - {ws.prefix}
    assert after.access_key != first.access_key
    await expect_error(
        credentials(workspaces, reader, ref(ws)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )
    assert not allowed(lambda: brokered(after).get_object(Bucket=ws.bucket, Key=f"{ws.prefix}f.txt"))
    # ...while the set handed out before keeps working until its expiry (the README states the bound).
    assert allowed(lambda: brokered(first).get_object(Bucket=ws.bucket, Key=f"{ws.prefix}f.txt"))
    # The revocation event evicted the cached sets covering the workspace.
    cache = workspaces.service.cache
    deadline = asyncio.get_running_loop().time() + 5
    while any(ws.id in e.workspace_ids for e in cache._entries.values()):
        assert asyncio.get_running_loop().time() < deadline, "revocation did not evict the cached set"
        await asyncio.sleep(0.05)


async def test_group_removal_and_disabled_user_evict_cached_credentials(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner, member = await person(auth, "go"), await person(auth, "gm")
    group = unique("g")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    ws = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, ws, f"group:{group}", READ)
    await credentials(workspaces, member, ref(ws))
    cache = workspaces.service.cache
    member_id = (await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=member.md)).user.id

    def cached_for(user_id: str) -> int:
        return sum(1 for key in cache._entries if key.user_id == user_id)

    assert cached_for(member_id) == 1
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    await expect_error(
        credentials(workspaces, member, ref(ws)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )
    deadline = asyncio.get_running_loop().time() + 5
    while cached_for(member_id):
        assert asyncio.get_running_loop().time() < deadline, "membership change did not evict"
        await asyncio.sleep(0.05)

    await credentials(workspaces, owner, ref(ws))
    owner_id = (await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=owner.md)).user.id
    assert cached_for(owner_id) == 1
    await auth.stub.DisableUser(
        auth_pb2.DisableUserRequest(username=owner.name), metadata=await auth.as_key(auth.admin_key)
    )
    while cached_for(owner_id):
        assert asyncio.get_running_loop().time() < deadline + 5, "disabling did not evict"
        await asyncio.sleep(0.05)


async def test_many_workspaces_split_into_sets_that_each_fit(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner = await person(auth, "many")
    made = [
        await create(workspaces, owner, lab, "private", f"w{i:02d}-{uuid.uuid4().hex[:12]}")
        for i in range(30)
    ]
    sets = await credentials(workspaces, owner, *(ref(w) for w in made))
    assert len(sets) >= 2, "30 workspaces cannot fit one 2,048-character session policy"
    covered = [scope.prefix for s in sets for scope in s.scopes]
    assert sorted(covered) == sorted(w.prefix for w in made)
    # Each set reaches exactly the workspaces it says it covers.
    by_prefix = {w.prefix: w for w in made}
    for credential_set in sets:
        client = brokered(credential_set)
        mine = {scope.prefix for scope in credential_set.scopes}
        inside = next(iter(mine))
        outside = next(p for p in by_prefix if p not in mine)
        put = functools.partial(client.put_object, Body=b"x")
        assert allowed(functools.partial(put, Bucket=by_prefix[inside].bucket, Key=f"{inside}x"))
        assert not allowed(functools.partial(put, Bucket=by_prefix[outside].bucket, Key=f"{outside}x"))


# Links: tests/test_links.py (through the HTTP gateway).


async def test_allowed_creators_and_root_removal(
    lab: Lab, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    allowed_user, other = await person(auth, "al"), await person(auth, "no")
    bucket = unique("acb")
    root = (
        await nodes.stub.CreateRoot(
            nodes_pb2.CreateRootRequest(
                node=lab.node,
                bucket=bucket,
                type=nodes_pb2.ROOT_TYPE_PRIVATE,
                allowed_creators=[allowed_user.name],
            ),
            metadata=lab.operator.md,
        )
    ).root
    request = ws_pb2.CreateWorkspaceRequest(name="mine", root=root.id)
    await expect_error(
        workspaces.stub.CreateWorkspace(request, metadata=other.md),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_ALLOWED_TO_CREATE",
    )
    ws = (await workspaces.stub.CreateWorkspace(request, metadata=allowed_user.md)).workspace
    assert ws.bucket == bucket
    # A root that still holds workspaces cannot be removed.
    await expect_error(
        nodes.stub.DeleteRoot(nodes_pb2.DeleteRootRequest(root=root.id), metadata=lab.operator.md),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ROOT_IN_USE",
    )
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(ws), force=True), metadata=allowed_user.md
    )
    await nodes.stub.DeleteRoot(nodes_pb2.DeleteRootRequest(root=root.id), metadata=lab.operator.md)


async def test_accessible_workspaces_for_services_only_and_workspace_events(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, events: Any
) -> None:
    watcher = await events("wio.workspaces.workspace.>")
    owner, reader = await person(auth, "ao"), await person(auth, "ar")
    reader_id = (await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=reader.md)).user.id
    read_only = await create(workspaces, owner, lab, "private")
    writable = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, read_only, reader.name, READ)
    await share(workspaces, owner, writable, reader.name, READWRITE)

    request = ws_pb2.ListAccessibleWorkspacesRequest(user_id=reader_id, min_permission=READ)
    await expect_error(
        workspaces.internal.ListAccessibleWorkspaces(request, metadata=reader.md),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_CALLER_REQUIRED",
    )
    _svc, service_key = await auth.identity.bootstrap_account(
        f"svc-indexer-{uuid.uuid4().hex[:6]}", None, "service", True
    )
    assert service_key is not None
    service = await auth.as_key(service_key)
    found = await workspaces.internal.ListAccessibleWorkspaces(request, metadata=service)
    mine = {
        w.workspace_id: w.permission
        for w in found.workspaces
        if w.workspace_id in {read_only.id, writable.id}
    }
    assert mine == {read_only.id: READ, writable.id: READWRITE}
    # Public workspaces of others count for reading, never for writing.
    assert all(w.permission >= READ for w in found.workspaces)
    writers = await workspaces.internal.ListAccessibleWorkspaces(
        ws_pb2.ListAccessibleWorkspacesRequest(user_id=reader_id, min_permission=READWRITE), metadata=service
    )
    assert [w.workspace_id for w in writers.workspaces] == [writable.id]

    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(writable)), metadata=owner.md
    )
    (created,) = await watcher.wait_for(
        "wio.workspaces.workspace.created",
        events_pb2.WorkspaceCreatedEvent.FromString,
        workspace_id=writable.id,
    )
    assert created.prefix == writable.prefix and created.meta.event_id
    assert await watcher.wait_for(
        "wio.workspaces.workspace.deleted",
        events_pb2.WorkspaceDeletedEvent.FromString,
        workspace_id=writable.id,
    )
    assert (
        len(
            watcher.matching(
                "wio.workspaces.workspace.created",
                events_pb2.WorkspaceCreatedEvent.FromString,
                workspace_id=writable.id,
            )
        )
        == 1
    )


async def test_reused_plans_follow_changes_no_event_told_them_of(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated request reuses its earlier plan only while nothing that plan read has changed: a change
    committed elsewhere (another instance; no event reaches this one), a share's expiry, the caller's
    groups (looked up again on every reuse that depends on them, and only then)."""
    service = workspaces.service
    asked: list[str] = []
    real_groups = service.identity.groups

    async def counted_groups(user_id: str) -> dict[str, str]:
        asked.append(user_id)
        return await real_groups(user_id)

    monkeypatch.setattr(service.identity, "groups", counted_groups)
    owner, reader, member = await person(auth, "po"), await person(auth, "pr"), await person(auth, "pm")

    # No share names a group: identity is never asked, and the repeat reuses the plan and the set.
    mine = await create(workspaces, owner, lab, "private")
    asked.clear()  # creating asks for groups (a root may allow only some groups to create)
    (first,) = await credentials(workspaces, owner, ref(mine))
    (again,) = await credentials(workspaces, owner, ref(mine))
    assert again.access_key == first.access_key
    assert asked == []

    # Another instance revokes a share: the row goes and the rights revision advances in one transaction;
    # no event and no call reaches this instance.
    elsewhere = await create(workspaces, owner, lab, "private")
    granted = await share(workspaces, owner, elsewhere, reader.name, READ)
    await credentials(workspaces, reader, ref(elsewhere))
    async with service._tx() as tx:
        await tx.repo.delete_share(granted.id)
    await expect_error(
        credentials(workspaces, reader, ref(elsewhere)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )

    # A share that expires: reused until then, refused right after.
    expiring = await create(workspaces, owner, lab, "private")
    ends = datetime.now(UTC) + timedelta(seconds=6)  # room for the calls before it on a busy machine
    until = timestamp_pb2.Timestamp()
    until.FromDatetime(ends)
    await workspaces.stub.CreateShare(
        ws_pb2.CreateShareRequest(
            workspace=ref(expiring), sharee=reader.name, permission=READ, expires_at=until
        ),
        metadata=owner.md,
    )
    (before,) = await credentials(workspaces, reader, ref(expiring))
    (reused,) = await credentials(workspaces, reader, ref(expiring))
    assert reused.access_key == before.access_key
    await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
    await expect_error(
        credentials(workspaces, reader, ref(expiring)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )

    # A group share: the first request asks identity for the caller's groups; the repeat finds them in the
    # service's copy of memberships (which checks that it holds every change auth acknowledged), and a
    # removal still counts on the very next request.
    grouped = await create(workspaces, owner, lab, "private")
    group = unique("pg")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    await share(workspaces, owner, grouped, f"group:{group}", READ)
    member_id = (await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=member.md)).user.id
    asked.clear()
    (as_member,) = await credentials(workspaces, member, ref(grouped))
    (as_member_again,) = await credentials(workspaces, member, ref(grouped))
    assert as_member_again.access_key == as_member.access_key
    assert asked == [member_id]
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    await expect_error(
        credentials(workspaces, member, ref(grouped)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )


async def _drop_connections(workspaces: WorkspacesUnderTest) -> None:
    async with workspaces.runtime.engine.connect() as conn:
        dropped = (
            await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                )
            )
        ).scalar_one()
    assert dropped > 0


async def test_reads_outlive_connections_the_database_dropped(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    """Reads skip the pre-ping: when the database has dropped their pooled connections (as after a restart),
    the statement fails instead and the read is made once more on a new connection. That holds for the
    revisions a cached plan reads, for the workspaces a reference can name, and for listings."""
    owner = await person(auth, "dc")
    ws = await create(workspaces, owner, lab, "private")
    (first,) = await credentials(workspaces, owner, ref(ws))
    await _drop_connections(workspaces)
    (again,) = await credentials(workspaces, owner, ref(ws))
    assert again.access_key == first.access_key
    await _drop_connections(workspaces)
    got = await workspaces.stub.GetWorkspace(ws_pb2.GetWorkspaceRequest(workspace=ref(ws)), metadata=owner.md)
    assert got.workspace.id == ws.id
    await _drop_connections(workspaces)
    listed = await workspaces.stub.ListWorkspaces(ws_pb2.ListWorkspacesRequest(), metadata=owner.md)
    assert ws.id in {w.id for w in listed.workspaces}


async def test_a_create_outlives_connections_the_database_dropped(
    auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    """A transaction's connection is pinged as it leaves the pool and replaced if dead; the single
    statements that claim and settle the folder marker's job are made once more on a new connection."""
    owner = await person(auth, "dw")
    await workspaces.stub.CreateWorkspace(ws_pb2.CreateWorkspaceRequest(name=unique("a")), metadata=owner.md)
    await _drop_connections(workspaces)
    created = await workspaces.stub.CreateWorkspace(
        ws_pb2.CreateWorkspaceRequest(name=unique("b")), metadata=owner.md
    )
    assert not created.marker_pending
