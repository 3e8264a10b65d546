"""Storage events through the gateway, on a private stack: the hook's latency (token check from the
gateway's short cache, body check, JetStream publish with acknowledgement) and how long an S3 upload to
the local SeaweedFS takes to reach WIO_INGEST through its webhook.

    python -m bench.gateway_hooks [--requests N] [--uploads N]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import nats

from bench.stack import Stack, percentile, percentiles, private_stack

SAMPLE = Path(__file__).parent.parent / "tests" / "data" / "seaweedfs_webhook" / "create_object.json"


def hook_calls(stack: Stack, requests: int) -> list[float]:
    port = int(stack.stack["gateway"]["port"])
    node = stack.stack["local_node"]
    headers = {"Authorization": f"Bearer {node['hook_token']}", "Content-Type": "application/json"}
    body = SAMPLE.read_bytes()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took: list[float] = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            conn.request("POST", f"/hooks/s3/{node['id']}", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            took.append(time.perf_counter() - started)
            assert response.status == 204, response.status
    finally:
        conn.close()
    return took


async def upload_to_ingest(stack: Stack, uploads: int) -> list[float]:
    s3_state = stack.stack["s3"]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_state["endpoint"],
        region_name=s3_state["region"],
        aws_access_key_id=s3_state["access_key"],
        aws_secret_access_key=s3_state["secret_key"],
    )
    nats_state = stack.stack["nats"]
    nc = await nats.connect(nats_state["url"], user="reader", password=nats_state["users"]["reader"])
    arrived: dict[str, float] = {}
    wanted: set[str] = set()
    all_in = asyncio.Event()

    async def seen(msg: Any) -> None:
        key = json.loads(msg.data).get("key", "")
        arrived.setdefault(key, time.perf_counter())
        if wanted and wanted <= set(arrived):
            all_in.set()

    try:
        js = nc.jetstream()
        await js.subscribe("wio.ingest.>", stream="WIO_INGEST", cb=seen, ordered_consumer=True)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        sent: dict[str, float] = {}
        keys = [f"{prefix}/{i}.txt" for i in range(uploads)]
        wanted.update(f"/buckets/wio-private/{key}" for key in keys)
        for key in keys:
            # From the moment the upload is sent: SeaweedFS posts before it answers the upload.
            sent[f"/buckets/wio-private/{key}"] = time.perf_counter()
            await asyncio.to_thread(s3.put_object, Bucket="wio-private", Key=key, Body=b"x")
        try:
            await asyncio.wait_for(all_in.wait(), 60)
        except TimeoutError:
            print(f"  {len(wanted - set(arrived))} of {uploads} uploads never reached WIO_INGEST within 60 s")
        return [arrived[key] - at for key, at in sent.items() if key in arrived]
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_hooks")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=300)
    args = parser.parse_args()
    with private_stack() as stack:
        run(stack, args.requests, args.uploads)


def run(stack: Stack, requests: int, uploads: int) -> None:
    hook_calls(stack, 50)  # warm up: token cached, connections open
    took = hook_calls(stack, requests)
    size = SAMPLE.stat().st_size
    print(f"POST /hooks/s3/<node>, one client, {requests} requests ({size} B body):")
    print(f"  {percentiles(took)}")
    delays = asyncio.run(upload_to_ingest(stack, uploads))
    print(f"S3 PutObject sent -> message in WIO_INGEST, {len(delays)} uploads, one at a time:")
    print(
        f"  p50 {percentile(delays, 0.5) * 1000:.1f} ms, p95 {percentile(delays, 0.95) * 1000:.1f} ms,"
        f" max {max(delays) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
