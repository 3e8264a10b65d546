"""Compile workspace grants into IAM session policies that allow exactly those workspaces.

A grant is a folder (prefix ending in '/') in a bucket, read-only or writable. Read means listing inside
the folder and getting objects; write adds put, delete and multipart upload. Nothing else is granted.

Exactness rests on three rules:
- Prefixes holding policy syntax ('*', '?', '$') are refused: servers such as SeaweedFS do not honour
  the IAM escapes, so such a prefix cannot be granted without widening it.
- Every prefix ends in '/', so `<prefix>*` never reaches a sibling folder sharing its start
  (`ws/a/*` does not match `ws/ab/x`), and '*' matching the empty string covers listing the folder itself.
- s3:ListBucketMultipartUploads is left out: it takes no s3:prefix condition on AWS or MinIO, so granting
  it would reveal the keys of uploads in progress anywhere in the bucket. Uploading does not need it.

The JSON text is ASCII (non-ASCII is escaped), so its length in characters is also its length in bytes,
whichever of the two a server counts against its session policy limit.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.errors import DomainError, Reason

POLICY_VERSION = "2012-10-17"
LIST_ACTIONS = ("s3:ListBucket",)
READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
ALLOWED_ACTIONS = frozenset(LIST_ACTIONS + READ_ACTIONS + WRITE_ACTIONS)

# S3 keys are at most 1,024 bytes: a longer prefix can hold no object.
MAX_PREFIX_BYTES = 1024
# '*' and '?' are wildcards and '$' starts a policy variable in IAM patterns. A backslash is turned into
# '/' in keys by SeaweedFS, so a grant naming one would mean another folder there.
_FORBIDDEN = {"*": "a '*'", "?": "a '?'", "$": "a '$'", "\\": "a backslash"}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


class UngrantablePrefix(DomainError):
    """A prefix that no session policy can grant exactly."""

    def __init__(self, prefix: str, problem: str) -> None:
        super().__init__(
            Reason.INVALID_PREFIX,
            f"the prefix {_shown(prefix)} cannot be granted: {problem}",
            field="prefix",
        )
        self.prefix = prefix


@dataclass(frozen=True)
class Grant:
    bucket: str
    prefix: str  # the workspace folder: non-empty, ends with '/', no leading '/'
    write: bool  # False = read only
    label: str = ""  # the caller's name for it, carried through untouched


@dataclass(frozen=True)
class CompiledPolicy:
    document: dict[str, Any]
    text: str  # the compact JSON actually sent
    grants: tuple[Grant, ...]  # every grant this policy serves, including those a broader one covers


def _shown(prefix: str) -> str:
    # Error messages stay short whatever the caller passed.
    return repr(prefix if len(prefix) <= 80 else prefix[:77] + "...")


def check_grantable(prefix: str) -> None:
    """Raise UngrantablePrefix unless `prefix` can be granted exactly as a workspace folder."""
    if not prefix:
        raise UngrantablePrefix(prefix, "it is empty")
    if prefix.startswith("/"):
        raise UngrantablePrefix(prefix, "it starts with '/'")
    if not prefix.endswith("/"):
        # Without the '/', listing grants would also reach sibling folders sharing its start.
        raise UngrantablePrefix(prefix, "it does not end with '/'")
    for char, name in _FORBIDDEN.items():
        if char in prefix:
            raise UngrantablePrefix(prefix, f"it holds {name}, which S3 servers do not read literally")
    for char in prefix:
        category = unicodedata.category(char)
        if category == "Cc":
            raise UngrantablePrefix(prefix, "it holds a control character")
        if category == "Cs":
            # A lone surrogate is no character at all; servers would read it as U+FFFD.
            raise UngrantablePrefix(prefix, "it holds an unpaired surrogate")
    if any(segment in {"", ".", ".."} for segment in prefix[:-1].split("/")):
        raise UngrantablePrefix(prefix, "it has an empty, '.' or '..' segment")
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise UngrantablePrefix(prefix, f"it is longer than {MAX_PREFIX_BYTES} bytes")


def _check_bucket(bucket: str) -> None:
    if (
        not _BUCKET_RE.fullmatch(bucket)
        or ".." in bucket
        or ".-" in bucket
        or "-." in bucket
        or _IPV4_RE.fullmatch(bucket)
    ):
        raise DomainError(
            Reason.INVALID_BUCKET,
            f"{bucket[:70]!r} is not a valid bucket name: use 3-63 lowercase letters, digits, '.' or '-', "
            "starting and ending with a letter or digit",
            field="bucket",
        )


def _covers(outer: Grant, inner: Grant) -> bool:
    """Whether `outer` already allows everything `inner` does."""
    return (
        outer.bucket == inner.bucket
        and inner.prefix.startswith(outer.prefix)
        and (outer.write or not inner.write)
    )


def _topmost(prefixes: Iterable[str]) -> list[str]:
    """Sorted prefixes, without those nested in another one."""
    kept: list[str] = []
    # In sorted order a prefix comes right after any prefix holding it or after its own nested ones,
    # so comparing with the last kept one is enough.
    for prefix in sorted(set(prefixes)):
        if kept and prefix.startswith(kept[-1]):
            continue
        kept.append(prefix)
    return kept


def _object_arn(bucket: str, prefix: str) -> str:
    return f"arn:aws:s3:::{bucket}/{prefix}*"


def _document(grants: Sequence[Grant]) -> dict[str, Any]:
    buckets = sorted({g.bucket for g in grants})
    statements: list[dict[str, Any]] = []
    # Listing is the same for read and write, so one statement per bucket lists all its folders.
    # It cannot be shared between buckets: the prefixes of one would become listable in the other.
    for bucket in buckets:
        listed = _topmost(g.prefix for g in grants if g.bucket == bucket)
        statements.append(
            {
                "Effect": "Allow",
                "Action": list(LIST_ACTIONS),
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in listed]}},
            }
        )
    # Object ARNs name their bucket, so one statement per permission serves every bucket.
    written: list[str] = []
    read: list[str] = []
    for bucket in buckets:
        writable = _topmost(g.prefix for g in grants if g.bucket == bucket and g.write)
        readable = _topmost(g.prefix for g in grants if g.bucket == bucket)
        written += [_object_arn(bucket, p) for p in writable]
        # Write includes GetObject, so a folder inside a writable one needs no read entry.
        read += [_object_arn(bucket, p) for p in readable if not any(p.startswith(w) for w in writable)]
    if read:
        statements.append({"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": read})
    if written:
        statements.append({"Effect": "Allow", "Action": list(WRITE_ACTIONS), "Resource": written})
    return {"Version": POLICY_VERSION, "Statement": statements}


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _compiled(grants: Sequence[Grant]) -> CompiledPolicy:
    document = _document(grants)
    return CompiledPolicy(document=document, text=_text(document), grants=tuple(sorted(grants, key=_order)))


def _order(grant: Grant) -> tuple[str, str, bool, str]:
    return (grant.bucket, grant.prefix, not grant.write, grant.label)


def _root_order(grant: Grant) -> tuple[int, tuple[str, str, bool, str]]:
    # Shortest prefix first, then write before read.
    return (len(grant.prefix), _order(grant))


def _units(grants: Sequence[Grant]) -> list[tuple[Grant, list[Grant]]]:
    """Each grant grouped under the broadest grant covering it, so the two always share a policy and
    the covered one costs nothing. Returns (that broadest grant, its group) pairs."""
    by_bucket: dict[str, list[Grant]] = {}
    for grant in grants:
        by_bucket.setdefault(grant.bucket, []).append(grant)
    units: dict[Grant, list[Grant]] = {}
    for grant in grants:
        # The chosen one is covered by nothing else: whatever covered it would cover `grant` too and
        # sort before it.
        root = min((g for g in by_bucket[grant.bucket] if _covers(g, grant)), key=_root_order)
        units.setdefault(root, []).append(grant)
    return [(root, units[root]) for root in sorted(units, key=_order)]


def listing_policy(bucket: str, prefix: str) -> CompiledPolicy:
    """A session policy that allows listing `bucket` under `prefix` and nothing else: no object is read,
    written or deleted (the indexer's crawl). An empty prefix lists the whole bucket."""
    _check_bucket(bucket)
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(LIST_ACTIONS),
        "Resource": [f"arn:aws:s3:::{bucket}"],
    }
    if prefix:
        check_grantable(prefix)
        statement["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    document = {"Version": POLICY_VERSION, "Statement": [statement]}
    return CompiledPolicy(document=document, text=_text(document), grants=())


def object_policy(bucket: str, key: str) -> CompiledPolicy:
    """A session policy that allows GetObject on exactly `bucket`/`key` and nothing else (a link's
    download). The key must hold no policy syntax, so that the resource names that one object."""
    _check_bucket(bucket)
    if not key or key.endswith("/"):
        raise DomainError(Reason.INVALID_ARGUMENT, "name one object", field="object")
    check_grantable(key + "/")  # the same characters and segments as a prefix
    statement = {
        "Effect": "Allow",
        "Action": list(READ_ACTIONS),
        "Resource": [f"arn:aws:s3:::{bucket}/{key}"],
    }
    document = {"Version": POLICY_VERSION, "Statement": [statement]}
    return CompiledPolicy(document=document, text=_text(document), grants=())


def compile_policies(grants: Sequence[Grant], size_limit: int) -> list[CompiledPolicy]:
    """Session policies that together allow exactly `grants`, each at most `size_limit` characters.

    Grants go into as few policies as greedy packing gives; each grant lands in exactly one policy,
    together with any broader grant covering it. The result does not depend on the order of `grants`.
    """
    if size_limit <= 0:
        raise DomainError(
            Reason.INVALID_ARGUMENT, "the policy size limit must be positive", field="size_limit"
        )
    for grant in grants:
        _check_bucket(grant.bucket)
        check_grantable(grant.prefix)
    distinct = sorted(set(grants), key=_order)
    policies: list[CompiledPolicy] = []
    current: list[Grant] = []
    current_compiled: CompiledPolicy | None = None  # `current` compiled, kept so it is done once
    for root, unit in _units(distinct):
        candidate = _compiled(current + unit)
        if len(candidate.text) <= size_limit:
            current += unit
            current_compiled = candidate
            continue
        alone = _compiled(unit)
        if len(alone.text) > size_limit:
            name = root.label or f"{root.bucket}/{root.prefix}"
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                f"the grant {_shown(name)} alone needs a policy of {len(alone.text)} characters, "
                f"over the limit of {size_limit}",
                field="grants",
                bucket=root.bucket,
                prefix=root.prefix,
            )
        if current_compiled is not None:
            policies.append(current_compiled)
        current, current_compiled = list(unit), alone
    if current_compiled is not None:
        policies.append(current_compiled)
    return policies
