"""Talking to S3 nodes: clients with hard timeouts, STS AssumeRole, and the one table of S3 failures.

boto3 is blocking, so calls run on a dedicated thread pool with an overall deadline: a node that never
answers costs one thread for the timeout and never blocks the event loop or calls about other nodes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from services.common.errors import DomainError, Reason
from services.common.netguard import AddressRefused, NetworkPolicy, guard_client

T = TypeVar("T")

# boto3 needs a RoleArn; MinIO ignores it.
PLACEHOLDER_ROLE_ARN = "arn:aws:iam::000000000000:role/wio"
MIN_CREDENTIAL_SECONDS = 900
# Where a node that passed its operator's check may be reached: anywhere but link-local and metadata.
CHECKED_NODE_NETWORKS = NetworkPolicy.anything_but_never()


class NodeConnection(Protocol):
    """What any record of a node (its settings, the access another service is given) says about how to
    reach it."""

    @property
    def endpoint(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def sts_endpoint(self) -> str: ...
    @property
    def role_arn(self) -> str: ...


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    sts_endpoint: str = ""
    role_arn: str = ""
    # Checked on every connection (services/common/netguard.py).
    network: NetworkPolicy = CHECKED_NODE_NETWORKS

    @classmethod
    def of(cls, node: NodeConnection, network: NetworkPolicy) -> S3Endpoint:
        """A node's endpoint for a service: the networks are always the caller's choice (the users' or
        the admins', by who set the node up), never a default."""
        return cls(
            endpoint=node.endpoint,
            region=node.region,
            access_key=node.access_key,
            secret_key=node.secret_key,
            sts_endpoint=node.sts_endpoint,
            role_arn=node.role_arn,
            network=network,
        )


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float


class S3FailureKind(StrEnum):
    ADDRESS_REFUSED = "address_refused"  # the endpoint's address is not one wio may connect to
    UNREACHABLE = "unreachable"  # no connection to the endpoint
    TIMED_OUT = "timed_out"  # no answer before the timeout
    CREDENTIALS = "credentials"  # the node refused the key itself
    STS_REFUSED = "sts_refused"  # STS answered and refused (unknown role, policy refused or too large)
    NO_BUCKET = "no_bucket"
    NOT_FOUND = "not_found"
    REFUSED = "refused"  # any other error the node answered with
    NOT_VERIFIED = "not_verified"  # any of the above, told apart to admins only (nodes' checks)


# The one table from an S3 failure to the domain's reason; every caller of a node goes through it.
FAILURE_REASONS: dict[S3FailureKind, Reason] = {
    S3FailureKind.ADDRESS_REFUSED: Reason.NODE_ADDRESS_REFUSED,
    S3FailureKind.UNREACHABLE: Reason.NODE_UNREACHABLE,
    S3FailureKind.TIMED_OUT: Reason.NODE_TIMED_OUT,
    S3FailureKind.CREDENTIALS: Reason.NODE_CREDENTIALS_REFUSED,
    S3FailureKind.STS_REFUSED: Reason.NODE_STS_FAILED,
    S3FailureKind.NO_BUCKET: Reason.BUCKET_NOT_FOUND,
    S3FailureKind.NOT_FOUND: Reason.OBJECT_NOT_FOUND,
    S3FailureKind.REFUSED: Reason.NODE_REFUSED,
    S3FailureKind.NOT_VERIFIED: Reason.NODE_NOT_VERIFIED,
}
UNREACHED = {
    S3FailureKind.ADDRESS_REFUSED,
    S3FailureKind.UNREACHABLE,
    S3FailureKind.TIMED_OUT,
    S3FailureKind.NOT_VERIFIED,
}

# Error codes by which S3 and STS refuse the key that signed the request.
KEY_REFUSED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidToken",
    "ExpiredToken",
}
# On S3 these also mean the key may not do the call; on STS, AccessDenied is a refusal of the role.
S3_ACCESS_REFUSED = {"AccessDenied", "403", "Forbidden"}
NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Failure(Exception):
    """A node failed a call; `kind` says how (S3FailureKind), `message` is safe to show."""

    def __init__(self, kind: S3FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def reason(self) -> Reason:
        return FAILURE_REASONS[self.kind]

    @property
    def reachable(self) -> bool:
        return self.kind not in UNREACHED

    def domain_error(self, context: str = "") -> DomainError:
        return DomainError(self.reason, f"{context}: {self.message}" if context else self.message)


def classify(exc: BaseException, during: str, sts: bool = False) -> S3Failure:
    """The S3Failure for an exception of boto3 (or of the deadline around it) during a call."""
    if isinstance(exc, S3Failure):
        return exc
    refused = exc.kwargs.get("error") if isinstance(exc, HTTPClientError) else exc
    if isinstance(refused, AddressRefused):
        return S3Failure(S3FailureKind.ADDRESS_REFUSED, f"{during}: address refused: {refused}")
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        return S3Failure(S3FailureKind.UNREACHABLE, f"{during}: cannot connect to the endpoint")
    if isinstance(exc, TimeoutError | ReadTimeoutError):
        return S3Failure(S3FailureKind.TIMED_OUT, f"{during}: timed out, no answer before the deadline")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
        if code in KEY_REFUSED or (not sts and code in S3_ACCESS_REFUSED):
            return S3Failure(S3FailureKind.CREDENTIALS, f"{during}: credentials refused ({code})")
        if sts:
            return S3Failure(
                S3FailureKind.STS_REFUSED, f"{during} refused: {code or 'error'} {message}".strip()
            )
        if code == "NoSuchBucket":
            return S3Failure(S3FailureKind.NO_BUCKET, f"{during}: no such bucket")
        if code in NOT_FOUND_CODES:
            return S3Failure(S3FailureKind.NOT_FOUND, f"{during}: not found")
        return S3Failure(S3FailureKind.REFUSED, f"{during}: {code or 'error'} {message}".strip())
    if isinstance(exc, HTTPClientError | BotoConnectionError):
        return S3Failure(S3FailureKind.UNREACHABLE, f"{during}: {type(exc).__name__}")
    return S3Failure(S3FailureKind.REFUSED, f"{during}: {type(exc).__name__}")


class S3Gateway:
    """Builds clients once per endpoint and runs their calls off the event loop with a deadline.

    Every client comes from one boto3 session: a session of its own per client would load and keep its
    own copy of the S3 and STS service models (about 20 MB a node), so memory grew with every node and
    every key ever checked. The clients kept are bounded too (least recently used go first)."""

    MAX_CLIENTS = 64

    def __init__(self, timeout_seconds: float = 5.0, threads: int = 32) -> None:
        self.timeout_seconds = timeout_seconds
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3")
        # Clients are made on the event loop's thread only, so the session is never used concurrently.
        self._session = boto3.session.Session()
        self._clients: OrderedDict[tuple[object, ...], Any] = OrderedDict()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _config(self) -> Config:
        # Hard per-call timeouts and no retries: the caller decides what a failure means.
        return Config(
            connect_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # Connect to the node itself: a proxy from the environment would hide its address.
            proxies={},
        )

    def client(self, service: str, ep: S3Endpoint) -> Any:
        url = ep.sts_endpoint or ep.endpoint if service == "sts" else ep.endpoint
        key = (service, url, ep.region, ep.access_key, ep.secret_key, ep.network)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = self._session.client(
            service,
            endpoint_url=url,
            region_name=ep.region or "us-east-1",
            aws_access_key_id=ep.access_key,
            aws_secret_access_key=ep.secret_key,
            config=self._config(),
        )
        guard_client(client, ep.network)
        self._clients[key] = client
        while len(self._clients) > self.MAX_CLIENTS:
            self._clients.popitem(last=False)
        return client

    def session_client(self, ep: S3Endpoint, access_key: str, secret_key: str, session_token: str) -> Any:
        """An S3 client of the endpoint signing with temporary credentials instead of the node's keys;
        kept like the others (the same credentials are reused for a while)."""
        key = ("s3-session", ep.endpoint, ep.region, access_key, secret_key, session_token, ep.network)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = self._session.client(
            "s3",
            endpoint_url=ep.endpoint,
            region_name=ep.region or "us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=self._config(),
        )
        guard_client(client, ep.network)
        self._clients[key] = client
        while len(self._clients) > self.MAX_CLIENTS:
            self._clients.popitem(last=False)
        return client

    async def get_object_status(
        self, ep: S3Endpoint, credentials: TemporaryCredentials, bucket: str, key: str
    ) -> str:
        """GetObject with temporary credentials, answering only how it went: "ok", "not_found" or
        "denied" (any other failure raises). For probes: the body is never read."""
        client = self._session.client(
            "s3",
            endpoint_url=ep.endpoint,
            region_name=ep.region or "us-east-1",
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.session_token,
            config=self._config(),
        )
        try:
            response = await self.call("probe get", lambda: client.get_object(Bucket=bucket, Key=key))
        except S3Failure as failure:
            if failure.kind in {S3FailureKind.NOT_FOUND, S3FailureKind.NO_BUCKET}:
                return "not_found"
            if failure.kind == S3FailureKind.CREDENTIALS:  # AccessDenied from S3
                return "denied"
            raise
        response["Body"].close()
        return "ok"

    def forget(self, ep: S3Endpoint) -> None:
        """Drop cached clients of an endpoint (its settings changed or it was removed)."""
        for key in [k for k in self._clients if k[1] in {ep.endpoint, ep.sts_endpoint}]:
            self._clients.pop(key, None)

    async def call(self, during: str, fn: Callable[[], T], sts: bool = False) -> T:
        loop = asyncio.get_running_loop()
        try:
            # asyncio.timeout, not wait_for: it never swallows the caller's cancellation (Python 3.11).
            async with asyncio.timeout(self.timeout_seconds + 1):
                return await loop.run_in_executor(self._pool, fn)
        except Exception as exc:
            raise classify(exc, during, sts) from exc

    async def list_buckets(self, ep: S3Endpoint) -> list[str]:
        client = self.client("s3", ep)
        response = await self.call("list buckets", client.list_buckets)
        return [b["Name"] for b in response.get("Buckets", [])]

    async def bucket_exists(self, ep: S3Endpoint, bucket: str) -> bool:
        client = self.client("s3", ep)
        try:
            await self.call("head bucket", lambda: client.head_bucket(Bucket=bucket))
        except S3Failure as failure:
            if failure.kind in {S3FailureKind.NO_BUCKET, S3FailureKind.NOT_FOUND}:
                return False
            raise
        return True

    async def create_bucket(self, ep: S3Endpoint, bucket: str) -> None:
        client = self.client("s3", ep)
        await self.call("create bucket", lambda: client.create_bucket(Bucket=bucket))

    async def assume_role(
        self, ep: S3Endpoint, policy: str, seconds: int, session: str
    ) -> TemporaryCredentials:
        client = self.client("sts", ep)
        response = await self.call(
            "STS AssumeRole",
            lambda: client.assume_role(
                RoleArn=ep.role_arn or PLACEHOLDER_ROLE_ARN,
                RoleSessionName=session[:64],
                Policy=policy,
                DurationSeconds=max(seconds, MIN_CREDENTIAL_SECONDS),
            ),
            sts=True,
        )
        creds = response["Credentials"]
        return TemporaryCredentials(
            access_key=creds["AccessKeyId"],
            secret_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expires_at=creds["Expiration"].timestamp(),
        )


@dataclass(frozen=True)
class NodeCheckResult:
    reachable: bool
    credentials_ok: bool
    sts_ok: bool
    latency_ms: float
    failure: S3Failure | None
    # Whether the node's session policies match object resources ignoring case (probe_case_matching);
    # None when not probed or the probe could not tell.
    object_case_ignored: bool | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


# The smallest useful session policy: read one key that need not exist.
PROBE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::wio-probe/none"]}
    ],
}


# The case probe: a session granted `probe/` in a bucket that need not exist asks for `PROBE/missing`.
CASE_PROBE_BUCKET = "wio-probe"
CASE_PROBE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{CASE_PROBE_BUCKET}/probe/*"],
        }
    ],
}


async def probe_case_matching(gateway: S3Gateway, ep: S3Endpoint) -> bool | None:
    """Whether session-policy object resources match ignoring case, writing nothing: a throw-away session
    granted `probe/` gets `PROBE/missing`. Not found (the grant matched) means case is ignored; access
    denied means it is honoured; anything else (e.g. STS refused) tells nothing."""
    try:
        session = await gateway.assume_role(
            ep, json.dumps(CASE_PROBE_POLICY), MIN_CREDENTIAL_SECONDS, "wio-case-probe"
        )
        outcome = await gateway.get_object_status(ep, session, CASE_PROBE_BUCKET, "PROBE/missing")
    except S3Failure:
        return None
    return {"not_found": True, "ok": True, "denied": False}[outcome]


async def check_node(
    gateway: S3Gateway, ep: S3Endpoint, with_sts: bool = True, probe_case: bool = False
) -> NodeCheckResult:
    """Connect, prove the credentials with ListBuckets, then prove AssumeRole with a tiny session policy;
    with `probe_case`, also find out whether object resources match ignoring case."""
    started = time.perf_counter()
    try:
        await gateway.list_buckets(ep)
    except S3Failure as failure:
        elapsed = (time.perf_counter() - started) * 1000
        return NodeCheckResult(failure.reachable, False, False, elapsed, failure)
    latency = (time.perf_counter() - started) * 1000
    if not with_sts:
        return NodeCheckResult(True, True, False, latency, None)
    try:
        await gateway.assume_role(ep, json.dumps(PROBE_POLICY), MIN_CREDENTIAL_SECONDS, "wio-check")
    except S3Failure as failure:
        # STS may live elsewhere (sts_endpoint), so its failure keeps its own kind: a timeout stays one.
        return NodeCheckResult(True, True, False, latency, failure)
    case_ignored = await probe_case_matching(gateway, ep) if probe_case else None
    return NodeCheckResult(True, True, True, latency, None, case_ignored)
