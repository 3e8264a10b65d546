"""The crawl against a bare listing: 100,000 real objects in the local SeaweedFS, one minio-py
ListObjectsV2 stream alone over them (objects/s), then the indexer's end-to-end crawl of the same objects
(objects/s, target >= 0.8 x the listing), and the indexer's resident memory during the crawl, sampled
(target: flat, not growing with the count; printed at 25% and at 100% of the objects).

Runs its own stack (`wio-dev up`) on ports kept in its state folder, so the objects (tiny, uploaded in
parallel the first time, which takes a minute or two) are reused by later runs; `--fresh` starts over.
A later run's crawl finds every record unchanged; `--first` empties the index of them before the crawl,
which then writes them all, as a first crawl does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from minio import Minio

from bench.memory import memory_mb
from bench.stack import Stack, stack_env, wio_dev
from wio.indexer.v1 import indexer_pb2, indexer_pb2_grpc
from wio.nodes.v1 import nodes_pb2, nodes_pb2_grpc
from wio.workspaces.v1 import workspaces_pb2, workspaces_pb2_grpc

DEFAULT_STATE = Path(tempfile.gettempdir()) / "wio-bench-crawl"
BUCKET = "wio-bench-crawl"
TARGET_RATIO = 0.8


@contextmanager
def kept_stack(folder: Path) -> Iterator[Stack]:
    """`wio-dev up` with its state (and so SeaweedFS's data) in `folder`, on the ports chosen the first
    time; `down` on the way out, the data stays."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)
    ports_file = folder / "env.json"
    if ports_file.exists():
        env = {**stack_env(folder / "state"), **json.loads(ports_file.read_text())}
    else:
        env = stack_env(folder / "state")
        ports_file.write_text(json.dumps({k: v for k, v in env.items() if k.startswith("WIO_DEV_")}))
    wio_dev(env, "up")
    try:
        state = Path(env["WIO_DEV_STATE"])
        stack = json.loads((state / "stack.json").read_text())
        config = tomllib.loads((state / "cli" / "config.toml").read_text())
        yield Stack(env, stack, config)
    finally:
        wio_dev(env, "down")


def s3_access(stack: Stack) -> dict[str, Any]:
    return dict(stack.stack["s3"])


def admin_s3(stack: Stack) -> Any:
    s3 = s3_access(stack)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=s3["access_key"],
        aws_secret_access_key=s3["secret_key"],
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=32, retries={"max_attempts": 3}),
    )


def bare_listing(stack: Stack, prefix: str) -> tuple[int, float]:
    """One ListObjectsV2 stream with minio-py, nothing else: (objects, seconds)."""
    s3 = s3_access(stack)
    endpoint = s3["endpoint"].split("://", 1)[1]
    client = Minio(
        endpoint,
        access_key=s3["access_key"],
        secret_key=s3["secret_key"],
        secure=s3["endpoint"].startswith("https"),
        region=s3.get("region") or "us-east-1",
    )
    started = time.perf_counter()
    count = sum(1 for _ in client.list_objects(BUCKET, prefix=prefix, recursive=True))
    return count, time.perf_counter() - started


def count_objects(client: Any, prefix: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(page.get("KeyCount", 0) for page in pages)


def ensure_objects(stack: Stack, prefix: str, count: int) -> None:
    client = admin_s3(stack)
    have = count_objects(client, prefix)
    if have >= count:
        print(f"reusing {have:,} objects under {BUCKET}/{prefix}")
        return
    print(f"uploading {count - have:,} objects under {BUCKET}/{prefix} (once; later runs reuse them)")
    started = time.perf_counter()
    # Keys in a few hundred folders, as data usually is; the missing ones are simply written again.
    keys = [f"{prefix}d{i // 500:04d}/obj-{i:06d}.dat" for i in range(count)]

    def put(key: str) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=32) as pool:
        for done, _ in enumerate(pool.map(put, keys), 1):
            if done % 20000 == 0:
                print(f"  {done:,} uploaded ({done / (time.perf_counter() - started):,.0f}/s)")


def setup_root(stack: Stack) -> tuple[str, str]:
    """An unmanaged root on the local node over the bench bucket with one workspace `data/`, made once;
    answers (root id, the workspace's prefix)."""
    admin = stack.bearer(stack.admin_key)
    client = admin_s3(stack)
    try:
        client.head_bucket(Bucket=BUCKET)
    except Exception:
        client.create_bucket(Bucket=BUCKET)
    nodes = nodes_pb2_grpc.NodesServiceStub(stack.channel("nodes"))
    roots = nodes.ListRoots(nodes_pb2.ListRootsRequest(node="local"), metadata=admin).roots
    root = next((r for r in roots if r.bucket == BUCKET), None)
    if root is None:
        root = nodes.CreateRoot(
            nodes_pb2.CreateRootRequest(node="local", bucket=BUCKET, type=nodes_pb2.ROOT_TYPE_UNMANAGED),
            metadata=admin,
        ).root
    workspaces = workspaces_pb2_grpc.WorkspacesServiceStub(stack.channel("workspaces"))
    mine = workspaces.ListWorkspaces(workspaces_pb2.ListWorkspacesRequest(), metadata=admin).workspaces
    if not any(w.name == "bench-data" for w in mine):
        workspaces.CreateWorkspace(
            workspaces_pb2.CreateWorkspaceRequest(
                name="bench-data",
                type=workspaces_pb2.WORKSPACE_TYPE_UNMANAGED,
                root=root.id,
                prefix="data/",
            ),
            metadata=admin,
        )
    return root.id, "data/"


class MemorySampler:
    """The indexer's resident memory every 20 ms, and the peak seen by each object count reported."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.objects = 0
        self.marks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory_mb(self.pid)[0])
            time.sleep(0.02)

    def __enter__(self) -> MemorySampler:
        self.start_mb = memory_mb(self.pid)[0]
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def seen(self, objects: int, marks: list[int]) -> None:
        for mark in marks:
            if objects >= mark and mark not in self.marks:
                self.marks[mark] = self.peak


def empty_index(stack: Stack, prefix: str) -> int:
    """Removes the bench workspace's records from the index (its counters follow), so that the crawl
    after it writes every record, as a first crawl does; answers how many went."""
    import asyncio

    from services.common.db import make_engine
    from services.indexer.storage.pg_index import PgObjectIndex

    node_id = str(stack.stack["local_node"]["id"])

    async def forget() -> int:
        engine = make_engine(str(stack.stack["postgres"]["url"]), pool_size=1)
        try:
            return await PgObjectIndex(engine).forget_prefix(node_id, BUCKET, prefix)
        finally:
            await engine.dispose()

    return asyncio.run(forget())


def crawl(stack: Stack, root_id: str, total: int) -> tuple[Any, float, MemorySampler]:
    admin = stack.bearer(stack.admin_key)
    indexer = indexer_pb2_grpc.IndexerServiceStub(stack.channel("indexer"))
    pid = int(stack.stack["services"]["indexer"]["process"]["pid"])
    marks = [total // 4, total]
    last: Any = None
    with MemorySampler(pid) as sampler:
        started = time.perf_counter()
        for reply in indexer.IndexRoot(indexer_pb2.IndexRootRequest(root=root_id), metadata=admin):
            last = reply.progress
            sampler.seen(last.objects, marks)
        seconds = time.perf_counter() - started
        sampler.seen(last.objects, marks)
    return last, seconds, sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--fresh", action="store_true", help="remove the kept stack and its objects first")
    parser.add_argument(
        "--first",
        action="store_true",
        help="empty the index of these objects first: the crawl writes them all",
    )
    args = parser.parse_args()
    if args.fresh and args.state.exists():
        shutil.rmtree(args.state)
    with kept_stack(args.state) as stack:
        run(stack, args.objects, args.first)


def run(stack: Stack, objects: int, first: bool = False) -> None:
    root_id, prefix = setup_root(stack)
    ensure_objects(stack, prefix, objects)
    # The listing alone before and after the crawl: the machine's speed drifts, the two bracket it.
    listed, before_seconds = bare_listing(stack, prefix)
    if first:
        print(f"index emptied of {empty_index(stack, prefix):,} records: a first crawl")
    progress, crawl_seconds, memory = crawl(stack, root_id, listed)
    _again, after_seconds = bare_listing(stack, prefix)
    list_seconds = (before_seconds + after_seconds) / 2
    if progress.phase != indexer_pb2.CRAWL_PHASE_FINISHED:
        raise SystemExit(f"the crawl did not finish: {progress.error}")
    list_rate, crawl_rate = listed / list_seconds, progress.objects / crawl_seconds
    ratio = crawl_rate / list_rate
    print(f"objects                         {listed:>10,}")
    print(
        f"minio-py ListObjectsV2 alone    {list_rate:>10,.0f} objects/s  (mean of {before_seconds:.2f} s "
        f"before and {after_seconds:.2f} s after the crawl)"
    )
    print(
        f"crawl end to end (IndexRoot)    {crawl_rate:>10,.0f} objects/s  ({crawl_seconds:.2f} s; "
        f"{progress.objects:,} indexed, {progress.added:,} added, {progress.changed:,} changed, "
        f"{progress.removed:,} removed)"
    )
    verdict = "ok" if ratio >= TARGET_RATIO else f"UNDER {TARGET_RATIO}"
    print(f"crawl / listing                 {ratio:>10.2f}  (target >= {TARGET_RATIO}: {verdict})")
    quarter, full = listed // 4, listed
    at_quarter, at_full = memory.marks.get(quarter, 0.0), memory.marks.get(full, memory.peak)
    print(
        f"indexer resident memory: {memory.start_mb:.1f} MB before, peak {at_quarter:.1f} MB by "
        f"{quarter:,} objects, peak {at_full:.1f} MB by {full:,} objects"
    )


if __name__ == "__main__":
    main()
