"""Compiled session policies against the real SeaweedFS S3/STS node of the test stack: temporary
credentials made with them may do exactly what the grants say, and every compiled policy fits the
node's size limit, which the node really enforces."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from services.common.s3 import S3Endpoint, S3Failure, S3Gateway, TemporaryCredentials
from services.workspaces.domain.policy import CompiledPolicy, Grant, compile_policies

pytestmark = pytest.mark.integration

# SeaweedFS refuses session policies longer than this (tested below).
SEAWEEDFS_POLICY_LIMIT = 2048
CREDENTIAL_SECONDS = 900
DENIED_CODES = {"AccessDenied", "403", "Forbidden"}
UNICODE_FOLDER = "t/été 🐟 (1)/"

# Seeded with the admin keys. The grants below cover some of these folders; the others are the
# places a grant must not reach: a sibling sharing a start, the parent, the bucket root.
OBJECTS = (
    "t/a/x.txt",
    "t/a/sub/y.txt",
    "t/ab/z.txt",
    "t/root.txt",
    "top.txt",
    "t/w/x.txt",
    "t/w/keep.txt",
    "t/n/x.txt",
    "t/n/w/x.txt",
    UNICODE_FOLDER + "f.txt",
    UNICODE_FOLDER[:-1] + "x/f.txt",
)
OTHER_OBJECTS = ("t/a/x.txt", "t/w/x.txt")


def grants_for(bucket: str) -> list[Grant]:
    return [
        Grant(bucket, "t/a/", write=False, label="read"),
        Grant(bucket, "t/w/", write=True, label="write"),
        Grant(bucket, "t/n/", write=False, label="nested-read"),
        Grant(bucket, "t/n/w/", write=True, label="nested-write"),
        Grant(bucket, UNICODE_FOLDER, write=False, label="unicode"),
    ]


def client(s3: Any, access_key: str, secret_key: str, session_token: str | None = None) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=Config(
            connect_timeout=5,
            read_timeout=15,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
        ),
    )


def broker_endpoint(s3: Any) -> S3Endpoint:
    # The broker identity is what the product assumes the role with; a node from the environment
    # may only come with admin keys, which the role trusts too.
    return S3Endpoint(
        endpoint=s3.endpoint,
        region=s3.region,
        access_key=s3.broker_access_key or s3.access_key,
        secret_key=s3.broker_secret_key or s3.secret_key,
        role_arn=s3.role_arn,
    )


def unique_bucket(kind: str) -> str:
    return f"wio-pol-{kind}-{uuid.uuid4().hex[:12]}"


def remove_bucket(admin: Any, bucket: str) -> None:
    for upload in admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        admin.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            admin.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    admin.delete_bucket(Bucket=bucket)


def exists(admin: Any, bucket: str, key: str) -> bool:
    try:
        admin.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


@dataclass
class Scenario:
    bucket: str
    other: str
    admin: Any
    temporary: Any
    policy: CompiledPolicy


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[S3Gateway]:
    gateway = S3Gateway(timeout_seconds=10.0)
    yield gateway
    gateway.close()


@pytest.fixture(scope="module")
def admin(infra: Any) -> Any:
    return client(infra.s3, infra.s3.access_key, infra.s3.secret_key)


@pytest.fixture(scope="module")
def buckets(admin: Any) -> Iterator[tuple[str, str]]:
    bucket, other = unique_bucket("main"), unique_bucket("other")
    admin.create_bucket(Bucket=bucket)
    admin.create_bucket(Bucket=other)
    try:
        for key in OBJECTS:
            admin.put_object(Bucket=bucket, Key=key, Body=f"seeded {key}".encode())
        for key in OTHER_OBJECTS:
            admin.put_object(Bucket=other, Key=key, Body=f"seeded {key}".encode())
        yield bucket, other
    finally:
        remove_bucket(admin, bucket)
        remove_bucket(admin, other)


async def assume(gateway: S3Gateway, infra: Any, policy_text: str) -> TemporaryCredentials:
    return await gateway.assume_role(
        broker_endpoint(infra.s3), policy_text, CREDENTIAL_SECONDS, "wio-policy-test"
    )


@pytest.fixture(scope="module")
async def scenario(gateway: S3Gateway, infra: Any, admin: Any, buckets: tuple[str, str]) -> Scenario:
    bucket, other = buckets
    (policy,) = compile_policies(grants_for(bucket), SEAWEEDFS_POLICY_LIMIT)
    creds = await assume(gateway, infra, policy.text)
    temporary = client(infra.s3, creds.access_key, creds.secret_key, creds.session_token)
    return Scenario(bucket, other, admin, temporary, policy)


# --- Running a request and naming what happened. --------------------------------------------------


def outcome(call: Callable[[], object]) -> str:
    """'allowed', 'denied' (403 AccessDenied) or what else the server answered."""
    try:
        call()
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 403 and code in DENIED_CODES:
            return "denied"
        return f"refused {status} {code}"
    except AssertionError as exc:
        return f"wrong answer: {exc}"
    return "allowed"


def judge(rows: list[tuple[str, str, Callable[[], object]]], title: str) -> None:
    """Run every request, print the table, then fail on any row that did not go as expected.
    'refused' accepts any client error: the request must merely not succeed."""
    results = [(what, expected, outcome(call)) for what, expected, call in rows]
    width = max(len("expected"), *(len(got) for _, _, got in results))
    print(f"\n{title}\n{'expected':<9} {'got':<{width}} request")
    for what, expected, got in results:
        print(f"{expected:<9} {got:<{width}} {what}")
    wrong = [
        (what, expected, got)
        for what, expected, got in results
        if not (got == expected or (expected == "refused" and got != "allowed"))
    ]
    assert not wrong, wrong


def listed(temporary: Any, bucket: str, prefix: str | None, keys: set[str], folders: set[str]) -> None:
    """List with delimiter '/' and check the answer holds exactly `keys` and `folders`."""
    arguments: dict[str, str] = {"Bucket": bucket, "Delimiter": "/"}
    if prefix is not None:
        arguments["Prefix"] = prefix
    answer = temporary.list_objects_v2(**arguments)
    got_keys = {item["Key"] for item in answer.get("Contents", [])}
    got_folders = {item["Prefix"] for item in answer.get("CommonPrefixes", [])}
    assert (got_keys, got_folders) == (keys, folders), (got_keys, got_folders)


def read(temporary: Any, bucket: str, key: str) -> None:
    body = temporary.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == f"seeded {key}".encode(), body


def deleted_in_batch(temporary: Any, bucket: str, key: str) -> None:
    # DeleteObjects answers 200 and reports each key's refusal on its own: surface it as the
    # single-key call would.
    answer = temporary.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    for error in answer.get("Errors", []):
        raise ClientError(
            {"Error": {"Code": error["Code"]}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "DeleteObjects"
        )
    assert [d["Key"] for d in answer.get("Deleted", [])] == [key]


# --- Properties. -----------------------------------------------------------------------------------


def test_one_policy_allows_exactly_its_grants(scenario: Scenario) -> None:
    s, t, b, o = scenario, scenario.temporary, scenario.bucket, scenario.other
    uni = UNICODE_FOLDER
    rows: list[tuple[str, str, Callable[[], object]]] = [
        # Listing inside the grants, the workspace folder itself included.
        ("list t/a/", "allowed", lambda: listed(t, b, "t/a/", {"t/a/x.txt"}, {"t/a/sub/"})),
        ("list t/a/sub/", "allowed", lambda: listed(t, b, "t/a/sub/", {"t/a/sub/y.txt"}, set())),
        ("list t/w/", "allowed", lambda: listed(t, b, "t/w/", {"t/w/x.txt", "t/w/keep.txt"}, set())),
        ("list t/n/", "allowed", lambda: listed(t, b, "t/n/", {"t/n/x.txt"}, {"t/n/w/"})),
        ("list t/n/w/", "allowed", lambda: listed(t, b, "t/n/w/", {"t/n/w/x.txt"}, set())),
        (f"list {uni}", "allowed", lambda: listed(t, b, uni, {uni + "f.txt"}, set())),
        # Reading in every grant.
        ("get t/a/x.txt", "allowed", lambda: read(t, b, "t/a/x.txt")),
        ("get t/a/sub/y.txt", "allowed", lambda: read(t, b, "t/a/sub/y.txt")),
        ("get t/n/x.txt", "allowed", lambda: read(t, b, "t/n/x.txt")),
        ("get t/w/x.txt", "allowed", lambda: read(t, b, "t/w/x.txt")),
        (f"get {uni}f.txt", "allowed", lambda: read(t, b, uni + "f.txt")),
        # Writing in the write grants, the nested one included.
        ("put t/w/new.txt", "allowed", lambda: t.put_object(Bucket=b, Key="t/w/new.txt", Body=b"n")),
        ("delete t/w/x.txt", "allowed", lambda: t.delete_object(Bucket=b, Key="t/w/x.txt")),
        ("put t/n/w/new.txt", "allowed", lambda: t.put_object(Bucket=b, Key="t/n/w/new.txt", Body=b"n")),
        ("batch delete t/n/w/new.txt", "allowed", lambda: deleted_in_batch(t, b, "t/n/w/new.txt")),
        (
            "copy t/a/x.txt to t/w/copy.txt",
            "allowed",
            lambda: t.copy_object(Bucket=b, Key="t/w/copy.txt", CopySource={"Bucket": b, "Key": "t/a/x.txt"}),
        ),
        # The sibling sharing a start, and the name without its '/'.
        ("list t/ab/", "denied", lambda: listed(t, b, "t/ab/", set(), set())),
        ("list t/a", "denied", lambda: listed(t, b, "t/a", set(), set())),
        ("get t/ab/z.txt", "denied", lambda: t.get_object(Bucket=b, Key="t/ab/z.txt")),
        ("head t/ab/z.txt", "denied", lambda: t.head_object(Bucket=b, Key="t/ab/z.txt")),
        ("put t/ab/new.txt", "denied", lambda: t.put_object(Bucket=b, Key="t/ab/new.txt", Body=b"n")),
        (f"get {uni[:-1]}x/f.txt", "denied", lambda: t.get_object(Bucket=b, Key=uni[:-1] + "x/f.txt")),
        (f"list {uni[:-1]}x/", "denied", lambda: listed(t, b, uni[:-1] + "x/", set(), set())),
        # The parent folder and the bucket root.
        ("list t/", "denied", lambda: listed(t, b, "t/", set(), set())),
        ("list bucket root", "denied", lambda: listed(t, b, None, set(), set())),
        ("list prefix ''", "denied", lambda: listed(t, b, "", set(), set())),
        ("get t/root.txt", "denied", lambda: t.get_object(Bucket=b, Key="t/root.txt")),
        ("get top.txt", "denied", lambda: t.get_object(Bucket=b, Key="top.txt")),
        # Writing in the read grants, the read folder around a write grant included.
        ("put t/a/new.txt", "denied", lambda: t.put_object(Bucket=b, Key="t/a/new.txt", Body=b"n")),
        ("delete t/a/x.txt", "denied", lambda: t.delete_object(Bucket=b, Key="t/a/x.txt")),
        ("batch delete t/a/x.txt", "denied", lambda: deleted_in_batch(t, b, "t/a/x.txt")),
        ("put t/n/new.txt", "denied", lambda: t.put_object(Bucket=b, Key="t/n/new.txt", Body=b"n")),
        ("delete t/n/x.txt", "denied", lambda: t.delete_object(Bucket=b, Key="t/n/x.txt")),
        (f"put {uni}new.txt", "denied", lambda: t.put_object(Bucket=b, Key=uni + "new.txt", Body=b"n")),
        (
            "copy t/ab/z.txt to t/w/",
            "denied",
            lambda: t.copy_object(
                Bucket=b, Key="t/w/stolen.txt", CopySource={"Bucket": b, "Key": "t/ab/z.txt"}
            ),
        ),
        # Another bucket with the same folders.
        ("other: list t/a/", "denied", lambda: listed(t, o, "t/a/", set(), set())),
        ("other: get t/a/x.txt", "denied", lambda: t.get_object(Bucket=o, Key="t/a/x.txt")),
        ("other: put t/w/new.txt", "denied", lambda: t.put_object(Bucket=o, Key="t/w/new.txt", Body=b"n")),
        ("other: delete t/w/x.txt", "denied", lambda: t.delete_object(Bucket=o, Key="t/w/x.txt")),
        # Nothing but get, put, delete and multipart, even inside a write grant.
        ("list uploads of bucket", "denied", lambda: t.list_multipart_uploads(Bucket=b)),
        ("get acl t/w/keep.txt", "denied", lambda: t.get_object_acl(Bucket=b, Key="t/w/keep.txt")),
        (
            "tag t/w/keep.txt",
            "denied",
            lambda: t.put_object_tagging(
                Bucket=b, Key="t/w/keep.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
            ),
        ),
        ("delete bucket", "denied", lambda: t.delete_bucket(Bucket=b)),
        ("create bucket", "denied", lambda: t.create_bucket(Bucket=unique_bucket("new"))),
        # '..' in a key that starts inside a grant: whatever the server does, it must not succeed.
        ("get t/a/../ab/z.txt", "refused", lambda: read(t, b, "t/a/../ab/z.txt")),
        ("put t/w/../ab/new.txt", "refused", lambda: t.put_object(Bucket=b, Key="t/w/../ab/n", Body=b"n")),
        # The policy allows this prefix, but S3 prefixes are literal: nothing outside is listed.
        ("list t/a/../ab/ (literal)", "allowed", lambda: listed(t, b, "t/a/../ab/", set(), set())),
    ]
    judge(rows, f"one policy of {len(s.policy.text)} characters, grants {[g.prefix for g in grants_for(b)]}")
    # What was denied left the objects as they were.
    for key in ("t/a/x.txt", "t/n/x.txt", "t/ab/z.txt"):
        assert exists(s.admin, b, key), key
    for key in ("t/a/new.txt", "t/n/new.txt", "t/ab/new.txt", "t/w/stolen.txt", uni + "new.txt"):
        assert not exists(s.admin, b, key), key
    assert exists(s.admin, o, "t/w/x.txt") and not exists(s.admin, o, "t/w/new.txt")
    assert exists(s.admin, b, "t/w/new.txt") and not exists(s.admin, b, "t/w/x.txt")
    # SeaweedFS lets anyone call ListBuckets but shows a session only what it may list: nothing here.
    try:
        names = {item["Name"] for item in t.list_buckets().get("Buckets", [])}
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    else:
        assert not names & {b, o}, names


def test_multipart_upload_only_in_write_grants(scenario: Scenario) -> None:
    t, b, admin = scenario.temporary, scenario.bucket, scenario.admin
    key = "t/n/w/big.bin"

    def upload() -> None:
        upload_id = t.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
        first = t.upload_part(Bucket=b, Key=key, UploadId=upload_id, PartNumber=1, Body=b"a" * 5 * 2**20)
        second = t.upload_part(Bucket=b, Key=key, UploadId=upload_id, PartNumber=2, Body=b"b" * 10)
        parts = t.list_parts(Bucket=b, Key=key, UploadId=upload_id)["Parts"]
        assert [p["PartNumber"] for p in parts] == [1, 2]
        t.complete_multipart_upload(
            Bucket=b,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
            },
        )

    def abort() -> None:
        upload_id = t.create_multipart_upload(Bucket=b, Key="t/w/aborted.bin")["UploadId"]
        t.abort_multipart_upload(Bucket=b, Key="t/w/aborted.bin", UploadId=upload_id)

    # An upload the admin opened in a read grant: the session may not add to, list or abort it.
    opened = admin.create_multipart_upload(Bucket=b, Key="t/a/opened.bin")["UploadId"]
    rows: list[tuple[str, str, Callable[[], object]]] = [
        (f"multipart upload {key}", "allowed", upload),
        ("multipart upload t/w/aborted.bin, then abort", "allowed", abort),
        (
            "start upload t/a/big.bin",
            "denied",
            lambda: t.create_multipart_upload(Bucket=b, Key="t/a/big.bin"),
        ),
        (
            "start upload t/ab/big.bin",
            "denied",
            lambda: t.create_multipart_upload(Bucket=b, Key="t/ab/b.bin"),
        ),
        (
            "upload part to t/a/opened.bin",
            "denied",
            lambda: t.upload_part(Bucket=b, Key="t/a/opened.bin", UploadId=opened, PartNumber=1, Body=b"x"),
        ),
        (
            "list parts t/a/opened.bin",
            "denied",
            lambda: t.list_parts(Bucket=b, Key="t/a/opened.bin", UploadId=opened),
        ),
        (
            "abort t/a/opened.bin",
            "denied",
            lambda: t.abort_multipart_upload(Bucket=b, Key="t/a/opened.bin", UploadId=opened),
        ),
    ]
    judge(rows, "multipart uploads")
    assert admin.head_object(Bucket=b, Key=key)["ContentLength"] == 5 * 2**20 + 10
    assert not exists(admin, b, "t/w/aborted.bin")
    admin.abort_multipart_upload(Bucket=b, Key="t/a/opened.bin", UploadId=opened)


def own_and_foreign(
    t: Any, bucket: str, own: Sequence[Grant], foreign: Sequence[Grant]
) -> list[tuple[str, str, Callable[[], object]]]:
    """The first and last grant of a policy work; those of another policy do not."""
    rows: list[tuple[str, str, Callable[[], object]]] = []
    for grant in (own[0], own[-1]):
        key = grant.prefix + "f"
        put = "allowed" if grant.write else "denied"
        rows += [
            (f"get {key}", "allowed", partial(t.get_object, Bucket=bucket, Key=key)),
            (f"list {grant.prefix}", "allowed", partial(listed, t, bucket, grant.prefix, {key}, set())),
            (f"put {key}", put, partial(t.put_object, Bucket=bucket, Key=key, Body=b"f")),
        ]
    for grant in (foreign[0], foreign[-1]):
        key = grant.prefix + "f"
        rows += [
            (f"get {key}", "denied", partial(t.get_object, Bucket=bucket, Key=key)),
            (f"list {grant.prefix}", "denied", partial(listed, t, bucket, grant.prefix, set(), set())),
        ]
    rows.append(("list m/", "denied", partial(listed, t, bucket, "m/", set(), set())))
    return rows


async def test_many_workspaces_split_under_the_limit(
    gateway: S3Gateway, infra: Any, admin: Any, buckets: tuple[str, str]
) -> None:
    bucket = buckets[0]
    grants = [Grant(bucket, f"m/user{i:03d}/", write=i % 3 == 0, label=f"user{i:03d}") for i in range(40)]
    for grant in grants:
        admin.put_object(Bucket=bucket, Key=grant.prefix + "f", Body=b"f")
    (whole,) = compile_policies(grants, 10**6)
    assert len(whole.text) > SEAWEEDFS_POLICY_LIMIT
    # The limit is real: the unsplit policy is refused.
    with pytest.raises(S3Failure) as refused:
        await assume(gateway, infra, whole.text)
    assert "MalformedPolicyDocument" in refused.value.message

    policies = compile_policies(grants, SEAWEEDFS_POLICY_LIMIT)
    assert len(policies) > 1
    print(f"\n40 workspaces: {[len(p.text) for p in policies]} characters, limit {SEAWEEDFS_POLICY_LIMIT}")
    for index, policy in enumerate(policies):
        assert len(policy.text) <= SEAWEEDFS_POLICY_LIMIT
        creds = await assume(gateway, infra, policy.text)
        temporary = client(infra.s3, creds.access_key, creds.secret_key, creds.session_token)
        elsewhere = policies[(index + 1) % len(policies)].grants
        judge(
            own_and_foreign(temporary, bucket, policy.grants, elsewhere),
            f"policy {index + 1} of {len(policies)}: {len(policy.grants)} grants",
        )


async def test_the_limit_counts_every_character(gateway: S3Gateway, infra: Any) -> None:
    # Compiled policies are kept to text length <= limit; the server must accept exactly that.
    (policy,) = compile_policies([Grant("wio-limit-check", "t/a/", write=False)], SEAWEEDFS_POLICY_LIMIT)
    # Spaces inside the JSON count; the server trims only those around it.
    padded = policy.text.replace(",", "," + " " * (SEAWEEDFS_POLICY_LIMIT - len(policy.text)), 1)
    assert len(padded) == SEAWEEDFS_POLICY_LIMIT
    await assume(gateway, infra, padded)
    with pytest.raises(S3Failure) as refused:
        await assume(gateway, infra, padded.replace(",", ", ", 1))
    assert "MalformedPolicyDocument" in refused.value.message
