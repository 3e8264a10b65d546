"""A client in another language: tests/node/wio_client.js (Node.js, @grpc/grpc-js and @grpc/proto-loader
from npm, loading protos/ at run time) against the running identity and workspaces services. It exchanges
a key, asks who it is, creates and lists a workspace, gets credentials and reads an error's ErrorInfo
reason; this test then checks each answer against the services and the credentials against SeaweedFS."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError

from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.lab_support import SmallLab, person, small_lab, unique
from wio.workspaces.v1 import workspaces_pb2

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "node" / "wio_client.js"
NODE_PACKAGES = ("@grpc/grpc-js", "@grpc/proto-loader", "protobufjs")
NOT_FOUND, UNAUTHENTICATED = 5, 16  # gRPC status codes as numbers, as grpc-js gives them


@pytest.fixture(scope="module")
async def lab(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> SmallLab:
    return await small_lab(infra, auth, nodes, "njs")


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("`node` is not installed: the Node.js client test needs Node.js")
    missing = [
        name for name in NODE_PACKAGES if not (ROOT / "node_modules" / name / "package.json").is_file()
    ]
    assert not missing, f"node_modules lacks {missing}: run `npm ci` (make test does)"
    return node


def s3_with(credentials: dict[str, Any]) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=credentials["endpoint"],
        region_name=credentials["region"] or "us-east-1",
        aws_access_key_id=credentials["accessKey"],
        aws_secret_access_key=credentials["secretKey"],
        aws_session_token=credentials["sessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return bool(exc.response["Error"]["Code"] == "AccessDenied")
    return False


async def test_a_node_js_client_uses_the_services(
    lab: SmallLab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, infra: Any
) -> None:
    node = node_or_skip()
    alice = await person(auth, "njsa")
    # Someone else's workspace on the same node, which alice's credentials must not reach.
    bob = await person(auth, "njsb")
    other = await workspaces.stub.CreateWorkspace(
        workspaces_pb2.CreateWorkspaceRequest(
            name=unique("other"), type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE, node=lab.node
        ),
        metadata=bob.md,
    )
    name = unique("njs")
    env = {key: value for key, value in os.environ.items() if not key.startswith("WIO_")}
    env.update(
        WIO_NODE_AUTH=auth.address,
        WIO_NODE_WORKSPACES=workspaces.address,
        WIO_NODE_API_KEY=alice.key,
        WIO_NODE_NODE=lab.node,
        WIO_NODE_WORKSPACE=name,
    )
    # The services of the test run listen in plaintext on loopback, as tests/conftest.py starts them; a
    # stack with TLS would pass its CA (and client certificate) as WIO_TLS_CA, WIO_TLS_CERT, WIO_TLS_KEY.
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    result = json.loads(out)

    assert result["me"]["username"] == alice.name and result["me"]["role"] == "ROLE_USER"
    assert result["tokenExpiresAt"]["seconds"]  # a Timestamp, 64-bit seconds as a string
    # The workspace it created is there for the services too, and its listing holds it.
    shown = await workspaces.stub.GetWorkspace(
        workspaces_pb2.GetWorkspaceRequest(workspace=f"{alice.name}/{name}"), metadata=alice.md
    )
    assert result["created"]["id"] == shown.workspace.id
    assert {"id": shown.workspace.id, "name": name, "ownerUsername": alice.name} in result["listed"]
    assert other.workspace.id not in {w["id"] for w in result["listed"]}

    # The error it decoded from grpc-status-details-bin, as the services sent it.
    assert result["notFound"]["grpcCode"] == NOT_FOUND
    assert result["notFound"]["info"]["reason"] == "WORKSPACE_NOT_FOUND"
    assert result["notFound"]["info"]["domain"]
    assert result["forgedToken"]["grpcCode"] == UNAUTHENTICATED
    assert result["forgedToken"]["info"]["reason"] == "TOKEN_INVALID"

    # The credentials it was given work with a real S3 client, for that workspace only.
    credentials = result["credentials"]
    (scope,) = credentials["scopes"]
    assert (scope["bucket"], scope["prefix"]) == (shown.workspace.bucket, shown.workspace.prefix)
    assert scope["permission"] == "PERMISSION_OWN"
    s3 = await asyncio.to_thread(s3_with, credentials)
    key = f"{shown.workspace.prefix}from-node.txt"
    await asyncio.to_thread(s3.put_object, Bucket=shown.workspace.bucket, Key=key, Body=b"hello")
    listed = await asyncio.to_thread(
        s3.list_objects_v2, Bucket=shown.workspace.bucket, Prefix=shown.workspace.prefix
    )
    assert key in {item["Key"] for item in listed.get("Contents", [])}
    outside = other.workspace
    assert await asyncio.to_thread(
        denied, lambda: s3.put_object(Bucket=outside.bucket, Key=f"{outside.prefix}x", Body=b"no")
    )
