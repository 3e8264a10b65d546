"""Talking to S3 nodes: clients with hard timeouts, STS AssumeRole, and failure classification.

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
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

T = TypeVar("T")

# boto3 needs a RoleArn; MinIO ignores it.
PLACEHOLDER_ROLE_ARN = "arn:aws:iam::000000000000:role/wio"
MIN_CREDENTIAL_SECONDS = 900

CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidToken",
    "ExpiredToken",
}


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    sts_endpoint: str = ""
    role_arn: str = ""


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float


class S3Failure(Exception):
    """A node failed a call. `kind` is one of unreachable, credentials, sts, not_found, refused."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def classify(exc: BaseException, during: str) -> S3Failure:
    if isinstance(exc, S3Failure):
        return exc
    if isinstance(exc, TimeoutError | ConnectTimeoutError | ReadTimeoutError):
        return S3Failure("unreachable", f"{during}: no answer before the timeout")
    if isinstance(exc, EndpointConnectionError):
        return S3Failure("unreachable", f"{during}: cannot connect to the endpoint")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
        if code == "NoSuchBucket":
            return S3Failure("not_found", f"{during}: no such bucket")
        if code in {"NoSuchKey", "404", "NotFound"}:
            return S3Failure("not_found", f"{during}: not found")
        if code in CREDENTIAL_ERRORS or code in {"403", "Forbidden"}:
            return S3Failure("credentials", f"{during}: credentials refused ({code})")
        return S3Failure("refused", f"{during}: {code or 'error'} {message}".strip())
    if isinstance(exc, BotoCoreError):
        return S3Failure("unreachable", f"{during}: {type(exc).__name__}")
    return S3Failure("refused", f"{during}: {type(exc).__name__}")


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
        self._clients: OrderedDict[tuple[str, ...], Any] = OrderedDict()

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
        )

    def client(self, service: str, ep: S3Endpoint) -> Any:
        url = ep.sts_endpoint or ep.endpoint if service == "sts" else ep.endpoint
        key = (service, url, ep.region, ep.access_key, ep.secret_key)
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
        self._clients[key] = client
        while len(self._clients) > self.MAX_CLIENTS:
            self._clients.popitem(last=False)
        return client

    def forget(self, ep: S3Endpoint) -> None:
        """Drop cached clients of an endpoint (its settings changed or it was removed)."""
        for key in [k for k in self._clients if k[1] in {ep.endpoint, ep.sts_endpoint}]:
            self._clients.pop(key, None)

    async def call(self, during: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            # asyncio.timeout, not wait_for: it never swallows the caller's cancellation (Python 3.11).
            async with asyncio.timeout(self.timeout_seconds + 1):
                return await loop.run_in_executor(self._pool, fn)
        except Exception as exc:
            raise classify(exc, during) from exc

    async def list_buckets(self, ep: S3Endpoint) -> list[str]:
        client = self.client("s3", ep)
        response = await self.call("list buckets", client.list_buckets)
        return [b["Name"] for b in response.get("Buckets", [])]

    async def bucket_exists(self, ep: S3Endpoint, bucket: str) -> bool:
        client = self.client("s3", ep)
        try:
            await self.call("head bucket", lambda: client.head_bucket(Bucket=bucket))
        except S3Failure as failure:
            if failure.kind == "not_found":
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


async def check_node(gateway: S3Gateway, ep: S3Endpoint, with_sts: bool = True) -> NodeCheckResult:
    """Connect, prove the credentials with ListBuckets, then prove AssumeRole with a tiny session policy."""
    started = time.perf_counter()
    try:
        await gateway.list_buckets(ep)
    except S3Failure as failure:
        reachable = failure.kind != "unreachable"
        return NodeCheckResult(reachable, False, False, (time.perf_counter() - started) * 1000, failure)
    latency = (time.perf_counter() - started) * 1000
    if not with_sts:
        return NodeCheckResult(True, True, False, latency, None)
    try:
        await gateway.assume_role(ep, json.dumps(PROBE_POLICY), MIN_CREDENTIAL_SECONDS, "wio-check")
    except S3Failure as failure:
        return NodeCheckResult(
            True, True, False, latency, S3Failure("sts", f"STS AssumeRole refused: {failure.message}")
        )
    return NodeCheckResult(True, True, True, latency, None)
