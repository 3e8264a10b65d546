"""Rights revisions per scope and the workspaces service's copy of group memberships, against the real
stack: an unrelated change keeps a cached plan, a related one (made as another instance would, with no
event) ends it at once, and a group removal acknowledged by auth counts for the next credential request
even when the copy's event feed does not run. Also: a stale copy of the roots list never places a
workspace."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from services.workspaces.domain import revisions
from services.workspaces.domain.cache import PlanKey
from services.workspaces.domain.models import Level, Share
from services.workspaces.events.memberships import MembershipMirror
from services.workspaces.storage.clients.nodes import NodesClient
from tests import test_workspaces
from tests.conftest import AuthUnderTest, WorkspacesUnderTest
from tests.test_workspaces import (
    READ,
    Lab,
    create,
    credentials,
    expect_error,
    person,
    ref,
    share,
    unique,
)
from wio.auth.v1 import auth_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

lab = test_workspaces.lab  # the node and roots these tests share with test_workspaces' (own instance)


async def user_id(auth: AuthUnderTest, who: Any) -> str:
    return str((await auth.stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=who.md)).user.id)


async def test_unrelated_changes_keep_a_plan_and_related_ones_end_it(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    service = workspaces.service
    owner, reader, other = await person(auth, "ro"), await person(auth, "rr"), await person(auth, "rx")
    reader_id = await user_id(auth, reader)
    ws = await create(workspaces, owner, lab, "private")
    granted = await share(workspaces, owner, ws, reader.name, READ)
    (first,) = await credentials(workspaces, reader, ref(ws))
    key = PlanKey(reader_id, (ref(ws),), "")
    plan = service.plans.get(key)
    assert plan is not None
    scopes = revisions.read_by_references([ref(ws)])
    before = await service.credentials.rights.revisions(scopes)

    # Unrelated: another owner's workspace and shares, another name, another sharee.
    theirs = await create(workspaces, other, lab, "private")
    unrelated = await share(workspaces, other, theirs, owner.name, READ)
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=unrelated.id), metadata=other.md)
    assert await service.credentials.rights.revisions(scopes) == before
    (again,) = await credentials(workspaces, reader, ref(ws))
    assert service.plans.get(key) is plan and again.access_key == first.access_key

    # Related, made as another instance would (no event reaches this one): the level of the reader's share.
    async with service._tx() as tx:
        stored = await tx.repo.share(granted.id)
        assert stored is not None
        await tx.repo.update_share(type(stored)(**{**stored.__dict__, "level": Level.READWRITE}))
    (after,) = await credentials(workspaces, reader, ref(ws))
    assert service.plans.get(key) is not plan
    assert [s.permission for s in after.scopes] == [ws_pb2.PERMISSION_READWRITE]

    # A workspace of the same name the reader can see: a plan for the bare name ends, as it now reads two
    # ways; the plan for owner/name is not disturbed.
    (by_name,) = await credentials(workspaces, reader, ws.name)
    assert [s.workspace for s in by_name.scopes] == [ref(ws)]
    owner_plan = service.plans.get(key)
    same_name = await create(workspaces, other, lab, "private", name=ws.name)
    await share(workspaces, other, same_name, reader.name, READ)
    await expect_error(
        credentials(workspaces, reader, ws.name), grpc.StatusCode.INVALID_ARGUMENT, "WORKSPACE_AMBIGUOUS"
    )
    (owner_named,) = await credentials(workspaces, reader, ref(ws))
    assert [s.workspace for s in owner_named.scopes] == [ref(ws)]
    assert service.plans.get(key) is owner_plan


async def test_everything_on_a_node_follows_the_callers_own_scopes(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    owner, reader = await person(auth, "no"), await person(auth, "nr")
    ws = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, ws, reader.name, READ)
    (first,) = await credentials(workspaces, reader, node=lab.node)
    assert ref(ws) in {s.workspace for s in first.scopes}
    # A new share to the reader on a workspace of another name, and a public workspace of anyone's.
    later = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, later, reader.name, READ)
    public = await create(workspaces, owner, lab, "public")
    (second,) = await credentials(workspaces, reader, node=lab.node)
    assert {ref(ws), ref(later), ref(public)} <= {s.workspace for s in second.scopes}
    # Deleting a workspace shared with the reader ends it for them at once.
    await workspaces.stub.DeleteWorkspace(
        ws_pb2.DeleteWorkspaceRequest(workspace=ref(later)), metadata=owner.md
    )
    (third,) = await credentials(workspaces, reader, node=lab.node)
    assert ref(later) not in {s.workspace for s in third.scopes}


async def test_a_scope_never_changed_still_ends_a_plan_once_it_changes(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    """A plan records every scope it read, one never changed at 0. The member's plan for everything on
    the node reads their new group's scope, which nothing had advanced; a share to that group, made as
    another instance would (no event reaches this one), ends the plan, and the next request covers the
    workspace shared."""
    owner, member = await person(auth, "zo"), await person(auth, "zm")
    group = (
        await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=unique("zg")), metadata=owner.md)
    ).group
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group.name, username=member.name), metadata=owner.md
    )
    await create(workspaces, member, lab, "private")
    (first,) = await credentials(workspaces, member, node=lab.node)
    key = PlanKey(await user_id(auth, member), (), lab.node)
    plan = workspaces.service.plans.get(key)
    assert plan is not None
    assert ("group:" + group.id, 0) in plan.revisions
    theirs = await create(workspaces, owner, lab, "private")  # changes none of the member's scopes
    (again,) = await credentials(workspaces, member, node=lab.node)
    assert workspaces.service.plans.get(key) is plan and again.access_key == first.access_key
    assert ref(theirs) not in {s.workspace for s in again.scopes}

    async with workspaces.service._tx() as tx:
        await tx.repo.add_share(
            Share(
                id=str(uuid.uuid4()),
                workspace_id=theirs.id,
                sharee_kind="group",
                sharee_id=group.id,
                sharee_name=group.name,
                level=Level.READ,
                created_by=await user_id(auth, owner),
                created_at=datetime.now(UTC),
            )
        )
    (second,) = await credentials(workspaces, member, node=lab.node)
    assert workspaces.service.plans.get(key) is not plan
    assert ref(theirs) in {s.workspace for s in second.scopes}


async def test_concurrent_requests_share_revision_reads(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = workspaces.service.credentials
    owner = await person(auth, "cr")
    ws = await create(workspaces, owner, lab, "private")
    (first,) = await credentials(workspaces, owner, ref(ws))
    reads: list[int] = []
    real = issuer.rights.reads._read

    async def counted(scopes: Any) -> dict[str, int]:
        reads.append(len(scopes))
        return await real(scopes)

    monkeypatch.setattr(issuer.rights.reads, "_read", counted)
    answers = await asyncio.gather(*(credentials(workspaces, owner, ref(ws)) for _ in range(20)))
    assert {a[0].access_key for a in answers} == {first.access_key}
    assert 1 <= len(reads) < 20


@pytest.fixture
async def group_share(lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest) -> Any:
    """A member of a group, a workspace shared with the group, and the member's cached credentials."""
    owner, member = await person(auth, "mo"), await person(auth, "mm")
    group = unique("mg")
    await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=owner.md)
    await auth.stub.AddGroupMember(
        auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    ws = await create(workspaces, owner, lab, "private")
    await share(workspaces, owner, ws, f"group:{group}", READ)
    await credentials(workspaces, member, ref(ws))
    return owner, member, group, ws


def mirror_of(workspaces: WorkspacesUnderTest) -> MembershipMirror:
    mirror = workspaces.service.memberships
    assert isinstance(mirror, MembershipMirror)
    return mirror


async def test_membership_events_are_in_the_stream_when_auth_acknowledges(
    auth: AuthUnderTest, workspaces: WorkspacesUnderTest, group_share: Any
) -> None:
    owner, member, group, _ws = group_share
    mirror = mirror_of(workspaces)
    before = await mirror._stream_last_sequence()
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    assert await mirror._stream_last_sequence() > before


async def test_the_copy_answers_repeats_and_forgets_a_member_on_their_event(
    auth: AuthUnderTest, workspaces: WorkspacesUnderTest, group_share: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, member, group, ws = group_share
    mirror = mirror_of(workspaces)
    member_id = await user_id(auth, member)
    asked: list[str] = []
    real = mirror.identity.groups

    async def counted(uid: str) -> dict[str, str]:
        asked.append(uid)
        return await real(uid)

    monkeypatch.setattr(mirror.identity, "groups", counted)
    for _ in range(3):
        await credentials(workspaces, member, ref(ws))
    assert asked == []  # the copy, caught up, answered
    await auth.stub.RemoveGroupMember(
        auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
    )
    await expect_error(
        credentials(workspaces, member, ref(ws)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
    )
    assert asked == [member_id]  # the event dropped the entry, or the copy was behind: auth was asked


async def test_a_group_removal_counts_with_the_membership_feed_stopped(
    auth: AuthUnderTest, workspaces: WorkspacesUnderTest, group_share: Any
) -> None:
    owner, member, group, ws = group_share
    mirror = mirror_of(workspaces)
    await credentials(workspaces, member, ref(ws))
    assert mirror._entries  # the member's groups are in the copy
    # The feed stops delivering while the copy still believes it follows the stream.
    assert mirror._sub is not None
    await mirror._sub.unsubscribe()
    try:
        await auth.stub.RemoveGroupMember(
            auth_pb2.RemoveGroupMemberRequest(group=group, username=member.name), metadata=owner.md
        )
        await expect_error(
            credentials(workspaces, member, ref(ws)), grpc.StatusCode.NOT_FOUND, "WORKSPACE_NOT_FOUND"
        )
        # Added back: granted again, though the copy still holds the old answer.
        await auth.stub.AddGroupMember(
            auth_pb2.AddGroupMemberRequest(group=group, username=member.name), metadata=owner.md
        )
        await credentials(workspaces, member, ref(ws))
    finally:
        await mirror.stop()
        await mirror.start()


async def test_a_stale_copy_of_the_roots_never_places_a_workspace(
    lab: Lab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    """Creates choose a root from a short-lived copy of the list; a root the nodes service no longer knows
    rolls the insert back and the choice is made again on a fresh list."""
    client = workspaces.service.workspaces.nodes
    assert isinstance(client, NodesClient)
    owner = await person(auth, "sr")
    listed = await client.roots(fresh=True)
    real = next(r for r in listed if r.id == lab.root_ids["private"])
    ghost = dataclasses.replace(real, id=str(uuid.uuid4()))
    client.root_list._entries[""] = ([ghost, *listed], time.monotonic() + 60)
    ws = await create(workspaces, owner, lab, "private")
    assert ws.root_id == real.id
    assert await workspaces.service.count_in_root(ghost.id) == 0
