"""The reference grammar (rules.reading, references.pick) and the node rules that compare endpoints and
prefixes, without servers. The property: nothing another user creates changes what an existing reference
means for you."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import DomainError, Reason
from services.nodes.domain import rules as node_rules
from services.nodes.domain.models import Root
from services.workspaces.domain import rules
from services.workspaces.domain.models import Decision, Level, Principal, Share, Workspace
from services.workspaces.domain.permissions import manages_share
from services.workspaces.domain.references import Candidates, Resolved, pick

pytestmark = pytest.mark.unit

USERS = ("alice", "bob", "carol")
ME = "alice"
# Workspace names overlap usernames on purpose: that is how a reference gets squatted.
NAMES = ("alice", "bob", "data", "secret", "x")
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def workspace(owner: str, name: str, public: bool) -> Workspace:
    return Workspace(
        id=f"{owner}/{name}",
        name=name,
        owner_id=owner,
        owner_username=owner,
        type="public" if public else "private",
        node_id="n",
        node_name="n",
        root_id="r",
        bucket="b",
        prefix=f"{owner}/{name}/",
        created_at=MOMENT,
    )


def resolve(reference: str, found: dict[str, Workspace], shared_with_me: set[str]) -> Resolved | str:
    """What `reference` means for ME among these workspaces: the resolution, or the error's reason."""

    def level(w: Workspace) -> Level:
        if w.owner_id == ME:
            return Level.OWN
        return Level.READ if w.type == "public" or w.id in shared_with_me else Level.NONE

    decisions = {w.id: Decision(level(w), "") for w in found.values()}
    try:
        reading = rules.reading(reference, USERS)
        return pick(reference, reading, ME, list(found.values()), decisions, Level.READ)
    except DomainError as error:
        return error.reason


workspaces_strategy = st.lists(
    st.tuples(st.sampled_from(USERS), st.sampled_from(NAMES), st.booleans()), max_size=8
)
others_strategy = st.lists(
    st.tuples(st.sampled_from([u for u in USERS if u != ME]), st.sampled_from(NAMES), st.booleans()),
    min_size=1,
    max_size=6,
)
reference_strategy = st.builds(
    lambda parts: "/".join(parts),
    st.lists(st.sampled_from((*USERS, *NAMES, "inner")), min_size=1, max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(workspaces_strategy, st.sets(st.sampled_from(NAMES)), others_strategy, reference_strategy)
def test_nothing_another_user_creates_changes_what_a_reference_means(
    existing: list[tuple[str, str, bool]],
    shared_names: set[str],
    created_by_others: list[tuple[str, str, bool]],
    reference: str,
) -> None:
    before: dict[str, Workspace] = {}
    for owner, name, public in existing:
        before.setdefault(f"{owner}/{name}", workspace(owner, name, public))
    shared = {w.id for w in before.values() if w.name in shared_names}
    after = dict(before)
    for owner, name, public in created_by_others:
        after.setdefault(f"{owner}/{name}", workspace(owner, name, public))

    was, now = resolve(reference, before, shared), resolve(reference, after, shared)
    parts = reference.split("/")
    # Written out here rather than taken from rules.reading, so that the grammar itself is under test.
    named_owner = parts[0] if len(parts) >= 2 and parts[1] and parts[0] in USERS else None
    if named_owner is not None:
        # `user/name...`: that user's workspace or nothing, whatever anybody else creates; only the
        # named user creating it can turn "not found" into their workspace.
        if isinstance(was, Resolved):
            assert isinstance(now, Resolved) and (now.workspace.id, now.path) == (was.workspace.id, was.path)
        else:
            assert now == was or (
                isinstance(now, Resolved)
                and (now.workspace.owner_username, now.workspace.name) == (named_owner, parts[1])
            )
    elif isinstance(was, Resolved) and was.workspace.owner_id == ME:
        # The caller's own workspace stays theirs.
        assert isinstance(now, Resolved) and (now.workspace.id, now.path) == (was.workspace.id, was.path)
    elif isinstance(was, Resolved):
        # A bare name that fell back to the one visible workspace of that name: another one appearing
        # makes it ambiguous (an error naming both), never silently someone else's.
        assert now == Reason.WORKSPACE_AMBIGUOUS or (
            isinstance(now, Resolved) and (now.workspace.id, now.path) == (was.workspace.id, was.path)
        )


def test_a_username_first_segment_never_falls_through() -> None:
    squat = workspace("bob", "alice", public=True)
    found = {squat.id: squat}
    # alice has no workspace "secret": `alice/secret` is not found, never bob's `alice` with a path.
    assert resolve("alice/secret", found, set()) == Reason.WORKSPACE_NOT_FOUND
    secret = workspace("alice", "secret", public=False)
    found[secret.id] = secret
    resolved = resolve("alice/secret/a/b", found, set())
    assert isinstance(resolved, Resolved) and resolved.workspace.id == secret.id and resolved.path == "a/b"
    # A name that is no username reads as a workspace name with an inner path.
    assert rules.reading("data/alice", USERS) == rules.Reference(None, "data", "alice")
    assert rules.reading("alice", USERS) == rules.Reference(None, "alice", "")
    assert rules.reading("alice/", USERS) == rules.Reference(None, "alice", "")


@pytest.mark.parametrize("reference", ["a\x00b", "alice/data\x1b[2J", "data/x\x7f"])
def test_a_reference_with_control_characters_is_refused_by_name(reference: str) -> None:
    with pytest.raises(DomainError) as refused:
        rules.readings(reference)
    assert refused.value.reason is Reason.INVALID_ARGUMENT
    assert refused.value.metadata == {"field": "workspace"}


def test_own_workspace_comes_before_visible_ones() -> None:
    mine, theirs = workspace("alice", "data", False), workspace("bob", "data", True)
    resolved = resolve("data/x", {mine.id: mine, theirs.id: theirs}, set())
    assert isinstance(resolved, Resolved) and resolved.workspace.id == mine.id and resolved.path == "x"
    other = workspace("carol", "data", True)
    assert resolve("data", {theirs.id: theirs, other.id: other}, set()) == Reason.WORKSPACE_AMBIGUOUS


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://S3.Example.org", "http://s3.example.org:80/"),
        ("HTTPS://s3.example.org/", "https://s3.example.org:443"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
        ("http://[::1]:9000", "http://[::1]:9000/"),
    ],
)
def test_endpoints_compare_normalized(a: str, b: str) -> None:
    assert node_rules.endpoint_key(a) == node_rules.endpoint_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://s3.example.org", "https://s3.example.org"),
        ("http://s3.example.org", "http://s3.example.org:9000"),
        ("http://s3.example.org/a", "http://s3.example.org/b"),
    ],
)
def test_different_endpoints_stay_apart(a: str, b: str) -> None:
    assert node_rules.endpoint_key(a) != node_rules.endpoint_key(b)


def test_root_overlap_ignores_case_only_where_the_node_does() -> None:
    existing = [
        Root("r1", "n", "n", "bucket", "Proj/", "unmanaged", "u", MOMENT),
    ]
    assert node_rules.find_overlap("bucket", "proj/", existing) is None
    assert node_rules.find_overlap("bucket", "proj/", existing, case_ignored=True) == existing[0]
    assert node_rules.find_overlap("bucket", "PROJ/sub/", existing, case_ignored=True) == existing[0]
    assert node_rules.find_overlap("other", "proj/", existing, case_ignored=True) is None


def test_case_siblings_name_each_other() -> None:
    assert rules.case_siblings(["Proj/", "ok/", "proj/", "PROJ/"]) == {
        "Proj/": ["proj/", "PROJ/"],
        "proj/": ["Proj/", "PROJ/"],
        "PROJ/": ["Proj/", "proj/"],
    }
    assert rules.case_siblings(["a/", "b/"]) == {}


def _share(share_id: str, ws: Workspace, sharee: str, level: Level, through: str | None = None) -> Share:
    kind, _, name = sharee.rpartition(":")
    return Share(
        share_id, ws.id, kind or "user", name, name, level, "x", MOMENT, None, granted_through=through
    )


def test_who_manages_which_share() -> None:
    ws = workspace("alice", "data", public=False)
    to_bob = _share("s-bob", ws, "bob", Level.OWN)  # alice's
    to_lab = _share("s-lab", ws, "group:lab", Level.OWN)  # alice's, to a group carol is in
    to_dave = _share("s-dave", ws, "dave", Level.READ)  # alice's
    bob_to_erin = _share("s-erin", ws, "erin", Level.OWN, through="s-bob")
    erin_to_fay = _share("s-fay", ws, "fay", Level.READ, through="s-erin")
    shares = [to_bob, to_lab, to_dave, bob_to_erin, erin_to_fay]

    def manages(user: str, share: Share, groups: frozenset[str] = frozenset()) -> bool:
        return manages_share(Principal(user, user, groups), ws, shares, share, MOMENT)

    assert all(manages("alice", s) for s in shares)  # the owner: every share
    # bob: what was made through his share, all the way down; never his own share nor alice's others.
    assert manages("bob", bob_to_erin) and manages("bob", erin_to_fay)
    assert not manages("bob", to_bob) and not manages("bob", to_dave) and not manages("bob", to_lab)
    # erin: only below her share.
    assert manages("erin", erin_to_fay) and not manages("erin", bob_to_erin)
    # carol, own through her group: nothing was made through it.
    assert not any(manages("carol", s, frozenset({"lab"})) for s in shares)
    # A share that has run out grants no management.
    expired = dataclasses.replace(to_bob, expires_at=MOMENT)
    assert not manages_share(
        Principal("bob", "bob", frozenset()), ws, [expired, bob_to_erin], bob_to_erin, MOMENT
    )


def test_only_group_shares_of_workspaces_owned_by_others_need_the_callers_groups() -> None:
    mine = workspace("alice", "data", public=False)
    theirs = workspace("bob", "data", public=False)
    found = Candidates(
        [mine, theirs],
        [
            _share("s1", mine, "group:lab", Level.READ),
            _share("s2", mine, "carol", Level.READ),
            _share("s3", theirs, "group:team", Level.READ),
        ],
        frozenset({"alice", "bob"}),
    )
    # alice owns `data` whatever her groups: only the group on bob's workspace can change a decision.
    assert found.groups_deciding("alice") == {"team"}
    assert found.groups_deciding("carol") == {"lab", "team"}
    assert Candidates([mine], found.shares[:2], frozenset()).groups_deciding("alice") == frozenset()
