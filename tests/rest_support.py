"""A small real HTTP client for the gateway's REST side (run off the event loop that serves it), and
`rest_lab`: a node and a private root made over REST by the session's admin."""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.client import Config

from tests.gateway_fixture import GatewayUnderTest


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def reason(self) -> str:
        """The ErrorInfo reason of an error body."""
        for detail in self.json.get("details", []):
            if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
                return str(detail.get("reason", ""))
        return ""


def _request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


async def rest(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str = "",
    api_key: str = "",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if api_key:
        sent["Authorization"] = f"ApiKey {api_key}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    return await asyncio.to_thread(_request, port, method, path, data, sent)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Who:
    name: str
    key: str
    token: str = ""


@dataclass
class RestLab:
    gw: GatewayUnderTest
    admin: Who
    node: str
    bucket: str
    root_id: str

    async def call(
        self, method: str, path: str, body: Any = None, who: Who | None = None, **kw: Any
    ) -> Answer:
        return await rest(self.gw.port, method, path, body, api_key=who.key if who else "", **kw)

    async def user(self, prefix: str) -> Who:
        name = unique(prefix)
        made = await self.call(
            "POST",
            "/v1/users",
            {"username": name, "email": f"{name}@example.org", "role": "ROLE_USER"},
            self.admin,
        )
        assert made.status == 200, made.body
        return Who(name, made.json["apiKeySecret"])


@pytest.fixture(scope="session")
async def rest_lab(infra: Any, auth: Any, rest_gateway: GatewayUnderTest) -> AsyncIterator[RestLab]:
    """A node (the session's SeaweedFS) and a private root, made over REST by an admin."""
    s3 = infra.s3
    admin = Who("admin", auth.admin_key)
    node = unique("rest")
    registered = await rest(
        rest_gateway.port,
        "POST",
        "/v1/nodes",
        {
            "name": node,
            "endpoint": s3.endpoint,
            "region": s3.region,
            "kind": "NODE_KIND_SEAWEEDFS",
            # proto names and lowerCamelCase mixed, as grpc-gateway takes them
            "access_key": s3.access_key,
            "secretKey": s3.secret_key,
            "role_arn": s3.role_arn,
        },
        api_key=admin.key,
    )
    assert registered.status == 200, registered.body
    bucket = unique("rb")
    root = await rest(
        rest_gateway.port,
        "POST",
        "/v1/roots",
        {"node": node, "bucket": bucket, "type": "ROOT_TYPE_PRIVATE"},
        api_key=admin.key,
    )
    assert root.status == 200, root.body
    yield RestLab(rest_gateway, admin, node, bucket, root.json["root"]["id"])


def s3_client(cred: dict[str, Any]) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=cred["endpoint"],
        region_name=cred.get("region") or "us-east-1",
        aws_access_key_id=cred["accessKey"],
        aws_secret_access_key=cred["secretKey"],
        aws_session_token=cred["sessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
