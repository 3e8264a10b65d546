"""Revocable links on a private stack: `GET /l/<id>.<secret>` on the gateway until its 302 (ResolveLink:
the link's record, the creator's status from auth, the permission decision, the one-object session from
the credential cache, the pre-signing), a refused link's 404, and the redirect followed to the object.

    python -m bench.links [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import time
import urllib.parse
import uuid

import boto3

from bench.stack import Stack, percentiles, private_stack
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc


def make_link(stack: Stack) -> str:
    md = stack.bearer(stack.admin_key)
    stub = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    name = f"bench-{uuid.uuid4().hex[:8]}"
    workspace = stub.CreateWorkspace(workspaces_pb2.CreateWorkspaceRequest(name=name), metadata=md).workspace
    s3_state = stack.stack["s3"]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_state["endpoint"],
        region_name=s3_state["region"],
        aws_access_key_id=s3_state["access_key"],
        aws_secret_access_key=s3_state["secret_key"],
    )
    s3.put_object(Bucket=workspace.bucket, Key=f"{workspace.prefix}file.bin", Body=b"x" * 1024)
    request = workspaces_pb2.CreateLinkRequest(object=f"{name}/file.bin")
    return str(stub.CreateLink(request, metadata=md).url)


def gets(url: str, requests: int, want: int) -> list[float]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    took: list[float] = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            conn.request("GET", parts.path)
            response = conn.getresponse()
            response.read()
            took.append(time.perf_counter() - started)
            assert response.status == want, response.status
    finally:
        conn.close()
    return took


def followed(url: str, requests: int) -> list[float]:
    took: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        status, location = 0, url
        while True:
            parts = urllib.parse.urlsplit(location)
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            try:
                conn.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
                response = conn.getresponse()
                response.read()
                status, location = response.status, response.getheader("Location") or ""
            finally:
                conn.close()
            if status != 302:
                break
        took.append(time.perf_counter() - started)
        assert status == 200, status
    return took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.links")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.requests)


def run(stack: Stack, requests: int) -> None:
    url = make_link(stack)
    gets(url, 20, 302)  # warm up: the gateway's token, the one-object session cached
    print(f"GET /l/<id>.<secret> -> 302, one client, {requests} requests:")
    print(f"  {percentiles(gets(url, requests, 302))}")
    base, secret = url.rsplit(".", 1)
    wrong = f"{base}.{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"
    print(f"GET with a wrong secret -> 404, {requests} requests:")
    print(f"  {percentiles(gets(wrong, requests, 404))}")
    count = max(1, requests // 5)
    print(f"GET followed to the object (1 KiB) with new connections, {count} requests:")
    print(f"  {percentiles(followed(url, count))}")


if __name__ == "__main__":
    main()
