"""The session-policy compiler without a server: refusals, compaction, splitting, and, with hypothesis,
that the compiled policies allow exactly the grants when read by an independent IAM evaluator."""

from __future__ import annotations

import itertools
import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from services.common.errors import DomainError, Reason
from services.workspaces.domain.policy import (
    CompiledPolicy,
    Grant,
    UngrantablePrefix,
    check_grantable,
    compile_policies,
)

pytestmark = pytest.mark.unit

# --- An IAM evaluator written for these tests, sharing nothing with the compiler. -------------------

LIST = "s3:ListBucket"
GET = "s3:GetObject"
WRITE_ONLY = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
# Actions a workspace grant must never give, whatever the resource.
NEVER = (
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListAllMyBuckets",
    "s3:GetObjectAcl",
    "s3:PutObjectAcl",
    "s3:GetObjectVersion",
    "s3:DeleteObjectVersion",
    "s3:GetObjectTagging",
    "s3:PutObjectTagging",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:GetBucketPolicy",
    "s3:CreateBucket",
)
EXPECTED_ACTIONS = {LIST, GET, *WRITE_ONLY}


def like_regex(pattern: str) -> str:
    """IAM StringLike: '*' is any run of characters (also none), '?' exactly one, the rest literal."""
    if "$" in pattern:
        # '${...}' is a policy variable: what it matches depends on the caller, never exact.
        raise AssertionError(f"policy variable syntax in {pattern!r}")
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@cache
def like_any(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{like_regex(p)})" for p in patterns), re.DOTALL)


def as_list(value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else list(value)
    assert values and all(isinstance(v, str) for v in values)
    return tuple(values)


@dataclass(frozen=True)
class Request:
    action: str
    bucket: str
    key: str | None = None  # object requests
    prefix: str | None = None  # the s3:prefix of a listing; None when the request has none

    @property
    def resource(self) -> str:
        if self.key is None:
            return f"arn:aws:s3:::{self.bucket}"
        return f"arn:aws:s3:::{self.bucket}/{self.key}"


@dataclass
class Evaluator:
    """Allow if some statement matches action, resource and every condition; nothing else allows."""

    document: dict[str, Any]
    statements: list[tuple[re.Pattern[str], re.Pattern[str], dict[str, re.Pattern[str]]]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        assert set(self.document) == {"Version", "Statement"}
        assert self.document["Version"] == "2012-10-17"
        for statement in self.document["Statement"]:
            # Only plain Allow statements: no Deny, NotAction, NotResource or Principal to reason about.
            assert set(statement) <= {"Effect", "Action", "Resource", "Condition"}
            assert statement["Effect"] == "Allow"
            conditions: dict[str, re.Pattern[str]] = {}
            for operator, block in statement.get("Condition", {}).items():
                assert operator == "StringLike", f"unexpected condition operator {operator}"
                for key, values in block.items():
                    conditions[key] = like_any(as_list(values))
            self.statements.append(
                (like_any(as_list(statement["Action"])), like_any(as_list(statement["Resource"])), conditions)
            )

    def allows(self, request: Request) -> bool:
        context = {} if request.prefix is None else {"s3:prefix": request.prefix}
        for action, resource, conditions in self.statements:
            if not action.fullmatch(request.action) or not resource.fullmatch(request.resource):
                continue
            # A condition key the request does not carry fails the condition.
            if all(k in context and m.fullmatch(context[k]) for k, m in conditions.items()):
                return True
        return False


def intended(grants: Iterable[Grant], request: Request) -> bool:
    """What the grants mean, straight from the product's definition."""
    for g in grants:
        if g.bucket != request.bucket:
            continue
        if request.action == LIST and request.key is None:
            if request.prefix is not None and request.prefix.startswith(g.prefix):
                return True
        elif (
            request.key is not None
            and request.key.startswith(g.prefix)
            and (request.action == GET or (request.action in WRITE_ONLY and g.write))
        ):
            return True
    return False


def parent(prefix: str) -> str:
    head = prefix[:-1].rpartition("/")[0]
    return head + "/" if head else ""


def probes(prefixes: Iterable[str], buckets: Iterable[str]) -> list[Request]:
    """Requests inside, beside, above and around each prefix, in each bucket."""
    requests: list[Request] = []
    for bucket in buckets:
        requests += [Request(LIST, bucket), Request(LIST, bucket, prefix="")]
        requests += [Request(action, bucket) for action in NEVER]
        for p in prefixes:
            stem = p[:-1]
            keys = [
                p + "x",  # inside
                p + "sub/deeper.txt",  # deeper inside
                p,  # the folder marker itself
                stem,  # the folder name without '/'
                stem + "b/x",  # a sibling sharing its start: 'ws/alice/ab/x' next to 'ws/alice/a/'
                stem + "/",  # same
                parent(p) + "x",  # the parent folder
                p.swapcase() + "x",  # another case
                "x" + p + "x",  # the name further down
            ]
            for key in keys:
                requests += [Request(action, bucket, key=key) for action in (GET, *WRITE_ONLY, *NEVER[:4])]
            for listed in (p, p + "sub/", stem, stem + "b/", parent(p), p.swapcase(), "x" + p):
                requests.append(Request(LIST, bucket, prefix=listed))
                requests.append(Request("s3:ListBucketMultipartUploads", bucket, prefix=listed))
    return requests


def check_shape(policy: CompiledPolicy, limit: int) -> None:
    """Structure every compiled policy must have, whatever the grants."""
    assert len(policy.text) <= limit
    assert policy.text.isascii()  # characters == bytes, whichever a server counts
    assert json.loads(policy.text) == policy.document
    assert policy.text == json.dumps(policy.document, separators=(",", ":"))
    for statement in policy.document["Statement"]:
        actions = as_list(statement["Action"])
        assert set(actions) <= EXPECTED_ACTIONS
        assert len(set(actions)) == len(actions)
        resources = as_list(statement["Resource"])
        assert len(set(resources)) == len(resources)
        if LIST in actions:
            assert actions == (LIST,)
            assert len(resources) == 1 and "/" not in resources[0]
            values = as_list(statement["Condition"]["StringLike"]["s3:prefix"])
            assert set(statement["Condition"]) == {"StringLike"}
            assert set(statement["Condition"]["StringLike"]) == {"s3:prefix"}
            patterns = values
        else:
            assert "Condition" not in statement
            assert all(r.count("/") >= 1 for r in resources)
            patterns = resources
        for pattern in patterns:
            # Exactly one wildcard, right after the folder's '/'.
            assert pattern.endswith("/*") and pattern.count("*") == 1
            assert "?" not in pattern and "$" not in pattern
        # Compaction: nothing listed inside something else listed in the same statement.
        stems = sorted(p[:-1] for p in patterns)
        for a, b in itertools.pairwise(stems):
            assert not b.startswith(a), (a, b)


def check_exact(
    policies: Sequence[CompiledPolicy], grants: Sequence[Grant], requests: Sequence[Request]
) -> None:
    evaluators = [Evaluator(p.document) for p in policies]
    for request in requests:
        want_all = intended(grants, request)
        got_all = False
        for policy, evaluator in zip(policies, evaluators, strict=True):
            got = evaluator.allows(request)
            # Each policy reaches exactly the grants it lists: its credentials stand on their own.
            assert got == intended(policy.grants, request), (request, policy.text)
            got_all = got_all or got
        assert got_all == want_all, request


def check_once(policies: Sequence[CompiledPolicy], grants: Sequence[Grant]) -> None:
    served = Counter(g for p in policies for g in p.grants)
    assert set(served) == set(grants)
    assert all(n == 1 for n in served.values()), served


# --- Strategies. ---------------------------------------------------------------------------------------

BUCKETS = ("wio-private", "wio-public", "lab.data-2020")
# Probed but never granted: nothing may reach it.
ELSEWHERE = "wio-elsewhere"
# A small pool makes nested, duplicate and sibling prefixes common.
NAMED_SEGMENTS = (
    *("ws", "alice", "bob", "a", "ab", "b", "project", "Project", "Fish Data (2020)"),
    *("été", "e\u0301te", "日本", "🐟", "x'y", 'q"r', "<&>", "%41", "a+b", " lead", "trail "),
    *("{x}", "[ab]", "(a|b)", "..a", ".hidden", "a.b", "x%2F", "\u200b", "${aws", "username}", "ﬁ"),
)
SAFE_CHARS = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/*?$\\")
segments = st.one_of(
    st.sampled_from([s for s in NAMED_SEGMENTS if "$" not in s]),
    st.text(SAFE_CHARS, min_size=1, max_size=12).filter(lambda s: s not in {".", ".."}),
)
prefixes = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/".join(parts) + "/")
grants_st = st.builds(
    Grant,
    bucket=st.sampled_from(BUCKETS),
    prefix=prefixes,
    write=st.booleans(),
    label=st.text(max_size=8),
)
limits = st.integers(min_value=600, max_value=4000)


def with_nested(base: list[Grant]) -> st.SearchStrategy[list[Grant]]:
    """`base` plus grants inside some of its folders, read or write either way round: independent
    prefixes rarely nest, and nesting is where compaction could drop or widen something."""
    if not base:
        return st.just(base)
    nested = st.builds(
        lambda outer, tail, write, label: Grant(outer.bucket, outer.prefix + tail, write, label),
        st.sampled_from(base),
        prefixes,
        st.booleans(),
        st.text(max_size=8),
    )
    return st.lists(nested, max_size=len(base)).map(lambda extra: base + extra)


def grant_lists(min_size: int, max_size: int) -> st.SearchStrategy[list[Grant]]:
    """Between min_size and twice max_size grants, about half of them nested in others."""
    return st.lists(grants_st, min_size=min_size, max_size=max_size).flatmap(with_nested)


# What a caller might send: policy syntax, traversal, control characters, missing or doubled slashes.
UNSAFE_SEGMENTS = (
    *("*", "?", "$", "${aws:username}", "${*}", "a*b", "x?", "$HOME", "..", ".", ""),
    *("\\", "a\\b", "x\x00", "\n", "\x7f", "\x85", "\ud800"),
)
raw_prefixes = st.tuples(
    st.sampled_from(["", "", "/"]),
    st.lists(st.one_of(segments, st.sampled_from(UNSAFE_SEGMENTS)), min_size=1, max_size=4),
    st.sampled_from(["/", "/", "", "//"]),
).map(lambda t: t[0] + "/".join(t[1]) + t[2])
raw_grants = st.builds(
    Grant,
    bucket=st.sampled_from(BUCKETS),
    prefix=st.one_of(prefixes, raw_prefixes),
    write=st.booleans(),
    label=st.text(max_size=8),
)


def compile_or_explain(grants: Sequence[Grant], limit: int) -> list[CompiledPolicy] | None:
    """The policies, or None when some grant alone is over the limit (and then it must be)."""
    try:
        return compile_policies(grants, limit)
    except DomainError as exc:
        assert exc.reason is Reason.INVALID_ARGUMENT
        too_big = []
        for g in grants:
            try:
                compile_policies([g], limit)
            except DomainError:
                too_big.append(g)
        assert too_big, "refused although every grant fits alone"
        return None


def sample(values: Sequence[str], count: int, seed: int) -> list[str]:
    if len(values) <= count:
        return list(values)
    return random.Random(seed).sample(list(values), count)


# --- Properties. ---------------------------------------------------------------------------------------


def heavy(max_examples: int) -> settings:
    """Settings for properties whose examples are large: hypothesis takes one settings object per test."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@heavy(120)
@given(grant_lists(0, 24), limits, st.integers(0, 2**16))
@example([Grant("wio-private", "ws/alice/a/", False), Grant("wio-private", "ws/alice/ab/", True)], 600, 0)
@example([Grant("wio-private", "ws/", False), Grant("wio-private", "ws/a/", True)], 600, 0)
@example(
    [
        Grant("wio-private", "ws/", False),
        Grant("wio-private", "ws/a/", True),
        Grant("wio-private", "b/", False),
    ],
    600,
    0,
)
@example([Grant("wio-private", "ws/", True), Grant("wio-private", "ws/a/", False, "inner")], 600, 0)
def test_policies_allow_exactly_the_grants(grants: list[Grant], limit: int, seed: int) -> None:
    policies = compile_or_explain(grants, limit)
    assume(policies is not None)
    assert policies is not None
    for policy in policies:
        check_shape(policy, limit)
    check_once(policies, grants)
    prefixes_seen = sorted({g.prefix for g in grants} | {"ws/alice/a/", "Fish Data (2020)/"})
    check_exact(policies, grants, probes(sample(prefixes_seen, 30, seed), (*BUCKETS, ELSEWHERE)))


@heavy(12)
@given(st.integers(70, 110).flatmap(lambda n: grant_lists(n, n)), limits)
def test_many_workspaces_split_exactly(grants: list[Grant], limit: int) -> None:
    policies = compile_or_explain(grants, limit)
    assume(policies is not None)
    assert policies is not None
    for policy in policies:
        check_shape(policy, limit)
    check_once(policies, grants)
    prefixes_seen = sorted({g.prefix for g in grants})
    check_exact(policies, grants, probes(sample(prefixes_seen, 12, len(grants)), (*BUCKETS, ELSEWHERE)))


@heavy(40)
@given(grant_lists(0, 20), limits, st.randoms(use_true_random=False))
def test_output_is_deterministic_and_order_free(grants: list[Grant], limit: int, rnd: random.Random) -> None:
    first = compile_or_explain(grants, limit)
    assume(first is not None)
    assert first is not None
    shuffled = grants + grants[: len(grants) // 2]  # duplicates change nothing either
    rnd.shuffle(shuffled)
    second = compile_policies(shuffled, limit)
    assert [p.text for p in first] == [p.text for p in second]
    assert [p.grants for p in first] == [p.grants for p in second]


@heavy(40)
@given(grant_lists(2, 40), st.integers(600, 1500))
def test_each_policy_but_the_last_is_full(grants: list[Grant], limit: int) -> None:
    policies = compile_or_explain(grants, limit)
    assume(policies is not None and len(policies) > 1)
    assert policies is not None
    for current, following in itertools.pairwise(policies):
        merged = compile_policies([*current.grants, following.grants[0]], 10**6)
        assert len(merged) == 1 and len(merged[0].text) > limit


def acceptable(prefix: str) -> bool:
    """The grantable prefixes, as the product defines them."""
    return (
        prefix != ""
        and prefix.endswith("/")
        and not prefix.startswith("/")
        and not any(c in "*?$\\" for c in prefix)
        and all(unicodedata.category(c) not in {"Cc", "Cs"} for c in prefix)
        and all(s not in {"", ".", ".."} for s in prefix[:-1].split("/"))
        and len(prefix.encode()) <= 1024
    )


def refused(prefix: str) -> bool:
    try:
        check_grantable(prefix)
    except UngrantablePrefix as exc:
        assert exc.reason is Reason.INVALID_PREFIX
        assert isinstance(exc, DomainError)
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        prefixes,
        st.text(SAFE_CHARS, min_size=1000, max_size=1100).map(lambda s: s + "/"),
    )
)
def test_check_grantable_accepts_exactly_the_safe_prefixes(prefix: str) -> None:
    assert refused(prefix) != acceptable(prefix)


@settings(max_examples=300, deadline=None)
@given(
    prefixes,
    st.sampled_from(
        [
            "*",
            "?",
            "$",
            "${aws:username}",
            "${*}",
            "\\",
            "\x00",
            "\n",
            "\x7f",
            "\x85",
            "\ud800",
            "//",
            "/./",
            "/../",
        ]
    ),
    st.integers(0, 200),
)
def test_unsafe_prefixes_always_raise(prefix: str, bad: str, at: int) -> None:
    at = at % len(prefix)
    unsafe = prefix[:at] + bad + prefix[at:]
    assert refused(unsafe)
    # Never skipped or widened: a whole request with one bad grant fails.
    with pytest.raises(UngrantablePrefix):
        compile_policies([Grant("wio-private", "ws/ok/", True), Grant("wio-private", unsafe, False)], 4000)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9.-]{1,64}", fullmatch=True)))
def test_bucket_names_follow_s3_rules(bucket: str) -> None:
    valid = (
        re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) is not None
        and not any(bad in bucket for bad in ("..", ".-", "-."))
        and re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", bucket) is None
    )
    try:
        compile_policies([Grant(bucket, "ws/a/", False)], 4000)
    except DomainError as exc:
        assert exc.reason is Reason.INVALID_BUCKET
        assert not valid
    else:
        assert valid


@heavy(150)
@given(st.lists(raw_grants, max_size=12), limits)
@example([Grant("wio-private", "ws/ok/", True), Grant("wio-private", "ws/${aws:username}/", False)], 2048)
@example([Grant("wio-private", "ws/*/", False)], 2048)
@example([Grant("wio-private", "ws/a", False)], 2048)
@example([Grant("wio-private", "ws/../b/", True)], 2048)
def test_adversarial_grants_are_exact_or_refused_whole(grants: list[Grant], limit: int) -> None:
    unsafe = [g.prefix for g in grants if not acceptable(g.prefix)]
    event("refused" if unsafe else "compiled")
    if unsafe:
        # One bad prefix refuses the whole request: nothing is compiled, skipped or widened.
        with pytest.raises(UngrantablePrefix) as raised:
            compile_policies(grants, limit)
        assert raised.value.reason is Reason.INVALID_PREFIX
        assert raised.value.prefix in unsafe
        return
    policies = compile_or_explain(grants, limit)
    assume(policies is not None)
    assert policies is not None
    for policy in policies:
        check_shape(policy, limit)
    check_once(policies, grants)
    check_exact(policies, grants, probes(sorted({g.prefix for g in grants}), (*BUCKETS, ELSEWHERE)))


@settings(max_examples=60, deadline=None)
@given(st.text(SAFE_CHARS, min_size=200, max_size=1000), st.integers(600, 4000))
def test_very_long_prefixes_fit_or_are_named(name: str, limit: int) -> None:
    grant = Grant("wio-private", f"ws/{name}/", True, label="the-long-one")
    assume(acceptable(grant.prefix))
    try:
        (policy,) = compile_policies([grant], limit)
    except DomainError as exc:
        assert exc.reason is Reason.INVALID_ARGUMENT
        assert "the-long-one" in exc.message
    else:
        check_shape(policy, limit)
        check_exact([policy], [grant], probes([grant.prefix], (BUCKETS[0], ELSEWHERE)))


# --- Examples. -----------------------------------------------------------------------------------------


def test_no_grants_no_policies() -> None:
    assert compile_policies([], 2048) == []


def test_read_and_write_documents() -> None:
    (policy,) = compile_policies(
        [
            Grant("wio-private", "ws/bob/p/", True, "bob/p"),
            Grant("wio-private", "ws/alice/a/", False, "alice/a"),
        ],
        2048,
    )
    assert policy.document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": ["arn:aws:s3:::wio-private"],
                "Condition": {"StringLike": {"s3:prefix": ["ws/alice/a/*", "ws/bob/p/*"]}},
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::wio-private/ws/alice/a/*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                ],
                "Resource": ["arn:aws:s3:::wio-private/ws/bob/p/*"],
            },
        ],
    }
    assert [g.label for g in policy.grants] == ["alice/a", "bob/p"]


def test_covered_grants_are_dropped_but_reported() -> None:
    grants = [
        Grant("b-one", "ws/", False, "top"),
        Grant("b-one", "ws/a/", False, "nested-read"),
        Grant("b-one", "ws/a/b/", True, "nested-write"),
        Grant("b-one", "ws/a/b/c/", False, "under-write"),
        Grant("b-one", "ws/a/b/", True, "same-again"),
        Grant("b-one", "ws/a/b/", True, "same-again"),
    ]
    (policy,) = compile_policies(grants, 2048)
    listed, read, write = policy.document["Statement"]
    assert listed["Condition"]["StringLike"]["s3:prefix"] == ["ws/*"]
    assert read["Resource"] == ["arn:aws:s3:::b-one/ws/*"]
    assert write["Resource"] == ["arn:aws:s3:::b-one/ws/a/b/*"]
    assert sorted(g.label for g in policy.grants) == [
        "nested-read",
        "nested-write",
        "same-again",
        "top",
        "under-write",
    ]


def test_write_covers_nested_read() -> None:
    (policy,) = compile_policies([Grant("b-one", "ws/a/", True), Grant("b-one", "ws/a/b/", False)], 2048)
    assert [s["Action"][0] for s in policy.document["Statement"]] == [
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
    ]


def test_siblings_sharing_a_start_stay_apart() -> None:
    (policy,) = compile_policies(
        [Grant("b-one", "ws/alice/a/", False), Grant("b-one", "ws/alice/ab/", False)], 2048
    )
    assert policy.document["Statement"][0]["Condition"]["StringLike"]["s3:prefix"] == [
        "ws/alice/a/*",
        "ws/alice/ab/*",
    ]
    evaluator = Evaluator(policy.document)
    assert not evaluator.allows(Request(LIST, "b-one", prefix="ws/alice/"))
    assert not evaluator.allows(Request(GET, "b-one", key="ws/alice/abc/x"))


def test_buckets_keep_their_own_listing() -> None:
    (policy,) = compile_policies([Grant("b-one", "ws/a/", False), Grant("b-two", "ws/b/", True)], 2048)
    evaluator = Evaluator(policy.document)
    assert evaluator.allows(Request(LIST, "b-one", prefix="ws/a/"))
    assert not evaluator.allows(Request(LIST, "b-one", prefix="ws/b/"))
    assert not evaluator.allows(Request(LIST, "b-two", prefix="ws/a/"))
    assert not evaluator.allows(Request("s3:PutObject", "b-one", key="ws/b/x"))


def test_unicode_and_quotes_are_escaped_in_ascii_text() -> None:
    prefix = 'Fish Data (2020) "été" 🐟/'
    (policy,) = compile_policies([Grant("lab.data-2020", prefix, False)], 2048)
    assert policy.text.isascii()
    assert "\\u00e9t\\u00e9" in policy.text and '\\"' in policy.text
    assert Evaluator(policy.document).allows(Request(GET, "lab.data-2020", key=prefix + "f.txt"))


def test_split_at_the_exact_limit() -> None:
    grants = [Grant("wio-private", f"ws/user{i:02d}/project/", i % 2 == 0, f"user{i:02d}") for i in range(40)]
    (whole,) = compile_policies(grants, 10**6)
    one = compile_policies(grants[:1], 10**6)[0]
    assert compile_policies(grants, len(whole.text)) == [whole]  # a text of exactly the limit fits
    assert compile_policies(grants[:1], len(one.text))[0].text == one.text
    with pytest.raises(DomainError) as raised:
        compile_policies(grants[:1], len(one.text) - 1)
    assert raised.value.reason is Reason.INVALID_ARGUMENT and "user00" in raised.value.message
    parts = compile_policies(grants, 2048)
    assert len(parts) > 1 and all(len(p.text) <= 2048 for p in parts)
    check_once(parts, grants)


def test_too_big_grant_is_named_by_location_without_label() -> None:
    with pytest.raises(DomainError) as raised:
        compile_policies([Grant("wio-private", "ws/" + "x" * 900 + "/", False)], 600)
    assert raised.value.reason is Reason.INVALID_ARGUMENT
    assert "wio-private/ws/xxx" in raised.value.message
    assert len(raised.value.message) < 300


def test_limit_must_be_positive() -> None:
    with pytest.raises(DomainError) as raised:
        compile_policies([Grant("wio-private", "ws/a/", False)], 0)
    assert raised.value.reason is Reason.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "/",
        "ws",
        "ws/a",
        "/ws/a/",
        "ws//a/",
        "ws/./a/",
        "ws/../a/",
        "./",
        "../",
        "ws/a*/",
        "ws/a?/",
        "ws/${aws:username}/",
        "ws/${*}/",
        "ws/$HOME/",
        "ws/a\\b/",
        "ws/a\tb/",
        "ws/a\x00/",
        "ws/\x85/",
        "ws/\ud83d/",
        "ws/" + "x" * 1100 + "/",
        "ws/" + "é" * 520 + "/",
    ],
)
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(UngrantablePrefix) as raised:
        check_grantable(prefix)
    assert raised.value.reason is Reason.INVALID_PREFIX
    assert raised.value.metadata == {"field": "prefix"}
    assert len(raised.value.message) < 200


@pytest.mark.parametrize(
    "prefix",
    [
        "ws/alice/a/",
        "Fish Data (2020)/",
        "été/日本/🐟/",
        "a'b\"c<d>&e/",
        "[ab]/(a|b)/{2}/^x/",
        "..a/.hidden/",
        "x%41y/",
    ],
)
def test_odd_but_safe_prefixes_are_granted_exactly(prefix: str) -> None:
    check_grantable(prefix)
    (policy,) = compile_policies([Grant("wio-private", prefix, True)], 4000)
    check_exact([policy], [Grant("wio-private", prefix, True)], probes([prefix], ["wio-private"]))


@pytest.mark.parametrize(
    "bucket",
    [
        "",
        "ab",
        "A-bucket",
        "bucket_name",
        "-bucket",
        "bucket-",
        "a..b",
        "a.-b",
        "192.168.0.1",
        "x" * 64,
        "wio*",
        "wio/x",
    ],
)
def test_invalid_buckets_are_refused(bucket: str) -> None:
    with pytest.raises(DomainError) as raised:
        compile_policies([Grant(bucket, "ws/a/", False)], 4000)
    assert raised.value.reason is Reason.INVALID_BUCKET


def test_bucket_with_trailing_newline_is_refused() -> None:
    # The newline would reach the Resource ARN of a policy for a bucket that does not exist.
    with pytest.raises(DomainError) as raised:
        compile_policies([Grant("wio-private\n", "ws/a/", False)], 4000)
    assert raised.value.reason is Reason.INVALID_BUCKET


def test_evaluator_reads_wildcards_like_iam() -> None:
    # The evaluator itself: '*' any run, '?' one character, everything else literal, case matters.
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::b/a?c/*.txt"]}],
    }
    evaluator = Evaluator(document)
    assert evaluator.allows(Request("s3:GetObject", "b", key="abc/x/y.txt"))
    assert evaluator.allows(Request("s3:GetObject", "b", key="a/c/.txt"))
    assert not evaluator.allows(Request("s3:GetObject", "b", key="ac/x.txt"))
    assert not evaluator.allows(Request("s3:GetObject", "b", key="ABC/x.txt"))
    assert not evaluator.allows(Request("s3:PutObject", "b", key="abc/x.txt"))
    with pytest.raises(AssertionError):
        like_regex("${aws:username}")
