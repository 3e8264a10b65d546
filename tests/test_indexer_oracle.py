"""S3 itself as the oracle for the indexer: what a user finds is exactly what the user's brokered credentials
can list, and the totals are what a listing counts.

Objects are put into the test SeaweedFS with the node's admin keys (behind wio's back) and indexed by crawls;
the workspaces service brokers each user's credentials and SeaweedFS decides what they may list. The policy
text is never read: a prefix is listed and S3 allows it or refuses it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.test_cli_nodes import Cli
from tests.test_indexer_crawl import IndexerUnderTest, index_workspace, put_objects
from tests.test_indexer_crawl import indexer as indexer  # the module's indexer (a fixture)
from tests.test_workspaces import READ, Lab, Person, brokered, create, person, ref, share, unique
from tests.test_workspaces import lab as lab  # the module's node and roots (a fixture)
from wio.auth.v1 import auth_pb2
from wio.indexer.v1 import indexer_pb2
from wio.workspaces.v1 import workspaces_pb2 as ws_pb2

pytestmark = pytest.mark.integration

Item = tuple[str, str]  # (bucket, key)


# --- the oracle ---------------------------------------------------------------------------------------


def listed(client: Any, bucket: str, prefix: str) -> dict[str, int] | None:
    """key -> size of what S3 lets this client list under the prefix (folder markers left out: they are
    never indexed), or None when S3 refuses the listing."""
    found: dict[str, int] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    found[item["Key"]] = int(item["Size"])
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in {"AccessDenied", "403"}, exc.response
        return None
    return found


async def listable(workspaces: WorkspacesUnderTest, lab: Lab, who: Person, known: Iterable[Any]) -> set[Item]:
    """Everything on the lab's node that the user's brokered credentials can list: each bucket as a whole,
    the prefix of each workspace given and every prefix the sets name are tried; S3 decides."""
    try:
        response = await workspaces.stub.IssueCredentials(
            ws_pb2.IssueCredentialsRequest(node=lab.node), metadata=who.md
        )
    except grpc.aio.AioRpcError as exc:
        # Nothing readable on the node: no credentials, nothing listable.
        assert exc.code() == grpc.StatusCode.NOT_FOUND, exc.details()
        return set()
    places = {(bucket, "") for bucket in lab.buckets.values()}
    places |= {(ws.bucket, ws.prefix) for ws in known}

    def list_all() -> set[Item]:
        items: set[Item] = set()
        for credential_set in response.sets:
            client = brokered(credential_set)
            tried = places | {(s.bucket, s.prefix) for s in credential_set.scopes}
            for bucket, prefix in sorted(tried):
                items |= {(bucket, key) for key in listed(client, bucket, prefix) or {}}
        return items

    return await asyncio.to_thread(list_all)


async def found(indexer: IndexerUnderTest, lab: Lab, who: Person, **filters: Any) -> set[Item]:
    """Everything the user's search with an empty query shows on the lab's node, every page followed."""
    items: list[Item] = []
    token = ""
    for _ in range(10_000):
        response = await indexer.stub.SearchObjects(
            indexer_pb2.SearchObjectsRequest(nodes=[lab.node], page_size=7, page_token=token, **filters),
            metadata=who.md,
        )
        items += [(o.bucket, o.key) for o in response.objects]
        token = response.next_page_token
        if not token:
            break
    assert len(items) == len(set(items)), "a page repeated a result"
    return set(items)


async def crawl(indexer: IndexerUnderTest, owner: Person, ws: Any) -> None:
    reports = await index_workspace(indexer, owner, ref(ws))
    assert reports[-1].phase == indexer_pb2.CRAWL_PHASE_FINISHED, reports[-1].error


async def totals_match_listing(indexer: IndexerUnderTest, lab: Lab, owner: Person, ws: Any) -> None:
    truth = await asyncio.to_thread(listed, lab.admin_s3, ws.bucket, ws.prefix)
    assert truth is not None
    response = await indexer.stub.GetTotals(
        indexer_pb2.GetTotalsRequest(group_by=indexer_pb2.TOTALS_GROUP_WORKSPACE, workspaces=[ref(ws)]),
        metadata=owner.md,
    )
    rows = {r.key: (r.objects, r.bytes) for r in response.rows}
    expected = (len(truth), sum(truth.values()))
    assert rows.get(ref(ws), (0, 0)) == expected, (ref(ws), rows)
    assert (response.objects, response.bytes) == expected


@pytest.fixture(scope="module")
def known() -> list[Any]:
    """Every workspace this module made: the later checks try listing them all, old ones included."""
    return []


# --- the property -------------------------------------------------------------------------------------

# Folders never contain a dot and file names always do: a file and a folder of the same name cannot both
# exist on SeaweedFS's filer, and these never collide.
SEGMENT = st.text(alphabet="abcxyz -_é🐟", min_size=1, max_size=6).map(str.strip).filter(bool)
FILE = st.tuples(SEGMENT, st.sampled_from(["txt", "csv", "tar.gz", "PDF", "ü"])).map(".".join)
PATH = st.tuples(st.lists(SEGMENT, max_size=2), FILE).map(lambda t: "/".join([*t[0], t[1]]))


@dataclass
class Scenario:
    users: int
    groups: list[list[int]]  # members by user index
    workspaces: list[tuple[int, str]]  # (owner index, kind)
    shares: list[tuple[int, str, int]]  # (workspace index, "user" or "group", target index)
    objects: list[tuple[int, str, int]]  # (workspace index, path, size)
    revoke: int  # which of the shares made is revoked
    deletions: list[int] = field(default_factory=list)  # which objects are deleted afterwards


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    users = draw(st.integers(3, 4))
    groups = draw(st.lists(st.lists(st.integers(0, users - 1), min_size=1, max_size=3), max_size=2))
    spaces = draw(
        st.lists(
            st.tuples(st.integers(0, users - 1), st.sampled_from(["private", "public"])),
            min_size=1,
            max_size=3,
        )
    )
    target = st.one_of(
        st.tuples(st.just("user"), st.integers(0, users - 1)),
        st.tuples(st.just("group"), st.integers(0, max(len(groups) - 1, 0))),
    )
    shares = [
        (w, kind, t)
        for w, (kind, t) in draw(
            st.lists(st.tuples(st.integers(0, len(spaces) - 1), target), min_size=1, max_size=4)
        )
        if not (kind == "group" and not groups)
    ]
    objects = draw(
        st.lists(
            st.tuples(st.integers(0, len(spaces) - 1), PATH, st.integers(0, 3000)), min_size=1, max_size=12
        )
    )
    return Scenario(
        users,
        groups,
        spaces,
        shares,
        objects,
        revoke=draw(st.integers(0, 3)),
        deletions=draw(st.lists(st.integers(0, len(objects) - 1), max_size=2, unique=True)),
    )


async def everyone_finds_exactly_what_s3_lets_them_list(
    indexer: IndexerUnderTest,
    workspaces: WorkspacesUnderTest,
    lab: Lab,
    people: list[Person],
    known: list[Any],
    present: set[Item],
) -> None:
    async def check(who: Person) -> set[Item]:
        expected = await listable(workspaces, lab, who, known)
        assert await found(indexer, lab, who) == expected, who.name
        return expected

    seen = set().union(*await asyncio.gather(*(check(who) for who in people)))
    # Not vacuous: every object of the scenario is listed (and found) by someone, its owner at least.
    assert present <= seen, present - seen


@settings(
    # A few scenarios in every run; WIO_TEST_ORACLE_EXAMPLES=50 tries many more.
    max_examples=int(os.environ.get("WIO_TEST_ORACLE_EXAMPLES", "3")),
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failing scenario is printed as it is
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
async def test_search_is_exactly_what_brokered_credentials_can_list(
    lab: Lab,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
    known: list[Any],
    scenario: Scenario,
) -> None:
    people = list(await asyncio.gather(*(person(auth, "or") for _ in range(scenario.users))))
    groups = []
    for members in scenario.groups:
        group = unique("og")
        await auth.stub.CreateGroup(auth_pb2.CreateGroupRequest(name=group), metadata=people[members[0]].md)
        for member in set(members) - {members[0]}:
            await auth.stub.AddGroupMember(
                auth_pb2.AddGroupMemberRequest(group=group, username=people[member].name),
                metadata=people[members[0]].md,
            )
        groups.append(group)
    made = [
        (people[owner], await create(workspaces, people[owner], lab, kind))
        for owner, kind in scenario.workspaces
    ]
    # Tried by every check: this scenario's workspaces, and the public ones of earlier scenarios (everyone
    # reads those; an earlier private one is nobody's here, and trying them all made the test too slow).
    tried = [ws for ws in known if ws.type == ws_pb2.WORKSPACE_TYPE_PUBLIC] + [ws for _, ws in made]
    known.extend(ws for _, ws in made)

    granted, seen = [], set()
    for w, kind, target in scenario.shares:
        owner, ws = made[w]
        sharee = people[target].name if kind == "user" else f"group:{groups[target]}"
        if sharee == owner.name or (w, sharee) in seen:
            continue
        seen.add((w, sharee))
        granted.append((owner, await share(workspaces, owner, ws, sharee, READ)))

    # Behind wio's back: the objects, a folder marker and an object outside every workspace.
    keys = [(made[w][1], made[w][1].prefix + path, size) for w, path, size in scenario.objects]

    def put_all() -> None:
        for ws, key, size in keys:
            lab.admin_s3.put_object(Bucket=ws.bucket, Key=key, Body=b"x" * size)
        first = made[0][1]
        lab.admin_s3.put_object(Bucket=first.bucket, Key=f"{first.prefix}marker/", Body=b"")
        lab.admin_s3.put_object(Bucket=first.bucket, Key=unique("loose") + ".txt", Body=b"loose")

    await asyncio.to_thread(put_all)
    present = {(ws.bucket, key) for ws, key, _ in keys}
    await asyncio.gather(*(crawl(indexer, owner, ws) for owner, ws in made))
    await everyone_finds_exactly_what_s3_lets_them_list(indexer, workspaces, lab, people, tried, present)
    for owner, ws in made:
        await totals_match_listing(indexer, lab, owner, ws)

    # A revoke shows on the very next search.
    if granted:
        owner, gone = granted[scenario.revoke % len(granted)]
        await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=gone.id), metadata=owner.md)
        await everyone_finds_exactly_what_s3_lets_them_list(indexer, workspaces, lab, people, tried, present)

    # Objects that went are swept by the next crawl.
    if scenario.deletions:
        doomed = [keys[i] for i in scenario.deletions]
        present -= {(ws.bucket, key) for ws, key, _ in doomed}
        await asyncio.to_thread(
            lambda: [lab.admin_s3.delete_object(Bucket=ws.bucket, Key=key) for ws, key, _ in doomed]
        )
        for owner, ws in made:
            if any(ws.id == d[0].id for d in doomed):
                await crawl(indexer, owner, ws)
                await totals_match_listing(indexer, lab, owner, ws)
        await everyone_finds_exactly_what_s3_lets_them_list(indexer, workspaces, lab, people, tried, present)


# --- alice and bob ------------------------------------------------------------------------------------


async def test_alice_finds_hers_bob_her_public_files_only_and_du_equals_the_listing(
    tmp_path: Path,
    lab: Lab,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
    indexer: IndexerUnderTest,
    known: list[Any],
) -> None:
    alice, bob = await person(auth, "alice"), await person(auth, "bob")
    private = await create(workspaces, alice, lab, "private")
    public = await create(workspaces, alice, lab, "public")
    known.extend([private, public])
    private_keys = [f"{private.prefix}results/run {i}/data-{i}.csv" for i in range(5)] + [
        f"{private.prefix}notes é.txt"
    ]
    public_keys = [f"{public.prefix}pub/paper-{i}.pdf" for i in range(3)]
    await asyncio.to_thread(put_objects, lab.admin_s3, private.bucket, private_keys)
    await asyncio.to_thread(put_objects, lab.admin_s3, public.bucket, public_keys)
    for ws in (private, public):
        await crawl(indexer, alice, ws)
    mine = {(private.bucket, k) for k in private_keys}
    theirs = {(public.bucket, k) for k in public_keys}

    assert await found(indexer, lab, alice, owners=[alice.name]) == mine | theirs
    assert await found(indexer, lab, bob, owners=[alice.name]) == theirs
    # And S3 agrees with both.
    assert await found(indexer, lab, alice) == await listable(workspaces, lab, alice, known)
    assert await found(indexer, lab, bob) == await listable(workspaces, lab, bob, known)

    granted = await share(workspaces, alice, private, bob.name, READ)
    assert await found(indexer, lab, bob, owners=[alice.name]) == mine | theirs
    await workspaces.stub.RevokeShare(ws_pb2.RevokeShareRequest(id=granted.id), metadata=alice.md)
    assert await found(indexer, lab, bob, owners=[alice.name]) == theirs
    assert await found(indexer, lab, bob) == await listable(workspaces, lab, bob, known)

    # `wio du --json` through the installed CLI: per workspace what a listing of its prefix counts.
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\naddress = "{auth.address}"\n'
        f'[server.services]\nnodes = "{nodes.address}"\nworkspaces = "{workspaces.address}"\n'
        f'indexer = "{indexer.address}"\n[auth]\napi_key = "{alice.key}"\n'
    )
    config.chmod(0o600)
    cli = Cli(tmp_path, config)
    code, out, err = await cli("du", "--json")
    assert code == 0, err
    rows = {r["key"]: (int(r["objects"]), int(r["bytes"])) for r in json.loads(out)["rows"]}
    for ws in (private, public):
        truth = await asyncio.to_thread(listed, lab.admin_s3, ws.bucket, ws.prefix)
        assert truth is not None
        assert rows[ref(ws)] == (len(truth), sum(truth.values()))
        await totals_match_listing(indexer, lab, alice, ws)
    code, out, err = await cli("du", ref(private), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert (int(shown["objects"]), int(shown["bytes"])) == (
        len(private_keys),
        sum(len(f"body of {k}".encode()) for k in private_keys),
    )
