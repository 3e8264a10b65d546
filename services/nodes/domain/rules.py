"""Rules for nodes and roots: names, endpoints, per-kind defaults, prefixes and overlap."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from services.common.errors import DomainError, Reason
from services.common.names import NAME_RE, check_name
from services.nodes.domain.models import KINDS, Capabilities, NodeSettings, Root

# Kinds whose STS needs a role ARN; MinIO's AssumeRole takes none.
ROLE_REQUIRED = {"aws", "seaweedfs", "ceph"}
DEFAULT_MAX_CREDENTIAL_SECONDS = 3600
MIN_CREDENTIAL_SECONDS = 900
MAX_CREDENTIAL_SECONDS = 43200
# Session policies over 2,048 characters are refused by AWS, Ceph and SeaweedFS alike; MinIO allows the same.
DEFAULT_POLICY_SIZE_LIMIT = 2048
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Prefix segments may hold anything S3 keys can, except what would make paths ambiguous.
MAX_PREFIX = 512


def check_node_settings(s: NodeSettings) -> NodeSettings:
    check_name(s.name, Reason.INVALID_NODE_NAME, "name")
    endpoint = _check_url(s.endpoint, "endpoint")
    sts_endpoint = _check_url(s.sts_endpoint, "sts_endpoint") if s.sts_endpoint else ""
    if s.kind not in KINDS:
        raise DomainError(Reason.INVALID_ARGUMENT, f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not s.access_key or not s.secret_key:
        raise DomainError(
            Reason.INVALID_ARGUMENT, "the access key and secret are required", field="access_key"
        )
    if s.kind in ROLE_REQUIRED and not s.role_arn:
        raise DomainError(
            Reason.INVALID_ARGUMENT, f"a {s.kind} node needs a role ARN for STS", field="role_arn"
        )
    if s.role_arn and not s.role_arn.startswith("arn:"):
        raise DomainError(Reason.INVALID_ARGUMENT, "the role ARN must start with 'arn:'", field="role_arn")
    max_seconds = s.max_credential_seconds or DEFAULT_MAX_CREDENTIAL_SECONDS
    if not MIN_CREDENTIAL_SECONDS <= max_seconds <= MAX_CREDENTIAL_SECONDS:
        raise DomainError(
            Reason.INVALID_ARGUMENT,
            f"the maximum credential lifetime must lie between {MIN_CREDENTIAL_SECONDS} "
            f"and {MAX_CREDENTIAL_SECONDS} s",
            field="max_credential_seconds",
        )
    limit = s.policy_size_limit or DEFAULT_POLICY_SIZE_LIMIT
    if not 256 <= limit <= 1_000_000:
        raise DomainError(
            Reason.INVALID_ARGUMENT,
            "the policy size limit must lie between 256 and 1,000,000",
            field="policy_size_limit",
        )
    return NodeSettings(
        name=s.name,
        endpoint=endpoint,
        region=s.region.strip() or "us-east-1",
        kind=s.kind,
        access_key=s.access_key.strip(),
        secret_key=s.secret_key,
        sts_endpoint=sts_endpoint,
        role_arn=s.role_arn.strip(),
        max_credential_seconds=max_seconds,
        policy_size_limit=limit,
        admin_networks=s.admin_networks,
    )


def _check_url(value: str, field: str) -> str:
    value = value.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise DomainError(Reason.INVALID_ENDPOINT, f"{field}: {value!r} is not a URL", field=field) from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise DomainError(Reason.INVALID_ENDPOINT, f"{field}: give an http(s)://host[:port] URL", field=field)
    if parts.username or parts.password:
        raise DomainError(
            Reason.INVALID_ENDPOINT, f"{field}: put credentials in the key fields, not the URL", field=field
        )
    return value


# Per kind: whether IAM escapes (${*}, ${?}, ${$}) in policy resources are honoured (AWS documents them;
# SeaweedFS 4.48 was measured not to; the others are not measured here, so taken as not), and the
# shortest session STS issues. Policies never rely on escapes: the workspaces service refuses such
# prefixes (its domain/policy.py).
ESCAPES_HONOURED = {"aws": True}
MIN_SESSION_SECONDS = 900


def capabilities_after(kind: str, probed_case_ignored: bool | None, before: Capabilities) -> Capabilities:
    """A node's capabilities once a probe answered: its kind's facts, and the case matching the probe
    found; a probe that could not tell keeps what was known."""
    if probed_case_ignored is None:
        case_ignored, probed = before.object_case_ignored, before.case_probed
    else:
        case_ignored, probed = probed_case_ignored, True
    return Capabilities(
        object_case_ignored=case_ignored,
        case_probed=probed,
        escapes_honoured=ESCAPES_HONOURED.get(kind, False),
        min_credential_seconds=MIN_SESSION_SECONDS,
    )


def endpoint_key(endpoint: str) -> str:
    """An endpoint as compared with others: scheme and host lowercased, the default port made explicit,
    no trailing slash. `HTTP://S3.Example.org/` and `http://s3.example.org:80` are one server."""
    parts = urlsplit(endpoint.strip())
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def check_bucket(bucket: str) -> str:
    if not BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise DomainError(Reason.INVALID_BUCKET, f"{bucket!r} is not a valid bucket name", field="bucket")
    return bucket


def normalize_prefix(prefix: str) -> str:
    """'' or 'a/b/' : no leading '/', exactly one trailing '/', no empty or dot segments."""
    prefix = prefix.strip()
    if not prefix or prefix == "/":
        return ""
    if len(prefix) > MAX_PREFIX:
        raise DomainError(Reason.INVALID_PREFIX, "the base prefix is too long", field="base_prefix")
    segments = prefix.strip("/").split("/")
    if prefix.startswith("/") or any(seg in {"", ".", ".."} for seg in segments):
        raise DomainError(
            Reason.INVALID_PREFIX, f"{prefix!r} has an empty, '.' or '..' segment", field="base_prefix"
        )
    if any(ord(ch) < 32 for ch in prefix):
        raise DomainError(
            Reason.INVALID_PREFIX, "the base prefix holds control characters", field="base_prefix"
        )
    return "/".join(segments) + "/"


def prefixes_overlap(a: str, b: str) -> bool:
    """Normalized prefixes overlap when one contains the other ('' contains everything)."""
    return a.startswith(b) or b.startswith(a)


def find_overlap(
    bucket: str, base_prefix: str, existing: list[Root], case_ignored: bool = False
) -> Root | None:
    """A root over the same folders. Where the node matches objects ignoring case, prefixes equal
    ignoring case are the same folders to it."""
    for root in existing:
        theirs, mine = root.base_prefix, base_prefix
        if case_ignored:
            theirs, mine = theirs.lower(), mine.lower()
        if root.bucket == bucket and prefixes_overlap(theirs, mine):
            return root
    return None


def could_name_node(ref: str) -> bool:
    """Whether `ref` could be a node's name or id at all (anything else is looked up in vain)."""
    if NAME_RE.fullmatch(ref):
        return True
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True
