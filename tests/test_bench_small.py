"""Every bench of bench/ in small (a handful of calls, workspaces and objects each), so that they keep
working: the bench's own code runs against a real private stack and prints its figures, which are never
asserted (only that each figure's line was printed). bench.search has its own (test_bench_search.py).

One stack (`wio-dev up --second-node`, with bench.node_outage's short probe interval) serves every bench:
each makes its users and groups under names of its own. bench.node_outage stops and restarts the second
node, so it runs last.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench import (
    accessible,
    auth_under_attack,
    cli_and_whoami,
    crawl,
    credentials,
    gateway_hooks,
    ingest,
    links,
    memory,
    node_outage,
    pages,
    rest,
    search_elastic,
    writes,
)
from bench.stack import Stack, private_stack
from services.indexer.config import ElasticSettings
from tests.test_index_elastic_mock import Answer, MockEsTransport, Sent, mock_node_class

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    probe = {"WIO_NODES_PROBE_INTERVAL_SECONDS": str(node_outage.PROBE_SECONDS)}
    with private_stack("--second-node", extra_env=probe) as started:
        yield started


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr().out
    assert "Traceback" not in out
    return out


def test_accessible(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    accessible.run(stack, 4, 5, names="acc-")
    out = printed(capsys)
    assert "health check: p50 " in out
    assert "full answer, 4 workspaces: p50 " in out
    assert "unchanged:  p50 " in out
    assert "full / unchanged p50: " in out


def test_auth_under_attack(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    auth_under_attack.run(stack, 10, 3, 20.0)
    out = printed(capsys)
    assert "WhoAmI idle:" in out
    assert "(10 calls)" in out
    assert "20 bad exchanges at once, one key id:" in out
    assert "20 bad exchanges at once, 3 key ids:" in out
    # Wrong secrets are refused, whatever the reason given: none is accepted.
    told = [line for line in out.splitlines() if "attackers were told:" in line]
    assert len(told) == 2
    assert all("accepted" not in line for line in told)


def test_cli_and_whoami(stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_and_whoami.run(cli_and_whoami.write_config(stack, tmp_path), 2, 20)
    out = printed(capsys)
    for label in ("python -c 'import typer'", "wio --help ", "wio whoami (cached token)"):
        lines = [line for line in out.splitlines() if line.startswith(label) and " median " in line]
        assert len(lines) == 1 and lines[0].endswith("; 2 runs)")
    assert "wio --help / import typer:" in out
    assert "wio whoami / import typer:" in out
    assert "WhoAmI over gRPC, no CLI:   p50 " in out and "over 20 sequential calls" in out


def test_credentials(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    credentials.run(stack, 5, seconds=0.5, names="cred-")
    out = printed(capsys)
    assert "health check: p50 " in out
    assert "cached: p50 " in out
    assert "cached, through a group share: p50 " in out
    assert "uncached: p50 " in out and "(5 requests)" in out
    assert "  STS:    p50 " in out
    assert "  wio:    p50 " in out
    assert "against STS p50 + 2 x health p50" in out
    assert "throughput, 64 clients: health " in out
    assert "cached credentials " in out


def test_gateway_hooks(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    gateway_hooks.run(stack, 5, 3)
    out = printed(capsys)
    assert "POST /hooks/s3/<node>, one client, 5 requests" in out
    # Every upload's webhook reached the stream.
    assert "S3 PutObject sent -> message in WIO_INGEST, 3 uploads, one at a time:" in out
    assert "never reached WIO_INGEST" not in out


def test_ingest(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    ingest.run(stack, 8, 2)
    out = printed(capsys)
    # Every upload was found in the index.
    assert "event-to-searchable over 8 uploads (2 in flight" in out
    assert "target p95 <= 1.0 s: " in out
    assert "upload -> stored in JetStream (SeaweedFS webhook, gateway): p50 " in out
    assert "stored in JetStream -> searchable (indexer): p50 " in out
    assert "not indexed within" not in out


def test_links(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    links.run(stack, 5)
    out = printed(capsys)
    assert "GET /l/<id>.<secret> -> 302, one client, 5 requests:" in out
    assert "GET with a wrong secret -> 404, 5 requests:" in out
    assert "GET followed to the object (1 KiB) with new connections, 1 requests:" in out
    assert out.count("  p50 ") == 3


def test_pages(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    pages.run(stack, 5, explain=True, many=200, names="pages-")
    out = printed(capsys)
    assert "--- few, first page" in out and "--- many, first page" in out  # the plans
    assert "ListWorkspaces, first page (page_size default), 10 rows of 10 visible: p50 " in out
    assert "ListWorkspaces, first page (page_size default), 100 rows of 200 visible: p50 " in out
    assert "ListWorkspaces, first page (page_size 10), 10 rows of 200 visible: p50 " in out
    assert "ListWorkspaces, page 2 of 200 visible (100 rows): p50 " in out
    assert "its SQL alone, first page of 200 visible: p50 " in out
    assert "page_size default: p50 over 200 visible / p50 over 10 visible: " in out


def test_rest(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    rest.run(stack, 5, 1.0)
    out = printed(capsys)
    for call in ("WhoAmI", "ListWorkspaces", "GetWorkspace"):
        assert f"{call}, 5 calls each, in turns:" in out
    assert out.count("  gRPC: p50 ") == 3 and out.count("  REST: p50 ") == 3
    assert out.count("the gateway adds ") == 3
    assert out.count("gateway CPU per REST call: ") == 3
    assert "GET /v1/auth/whoami, 32 concurrent clients, 1 s:" in out
    assert " requests/s; latency p50 " in out


def test_writes(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    writes.run(stack, 20, 10, creates=5, per_client=3, names="writes-")
    out = printed(capsys)
    assert "one user, creates per block of 500: " in out
    assert "one user at 10-15 workspaces: " in out and "at 20-25: " in out
    assert "single create: p50 " in out and "(10 creates)" in out
    assert "S3 marker write alone: p50 " in out
    assert "create p50 minus marker p50: " in out
    assert "1 client: " in out and "8 clients: " in out
    assert "cached, quiet: p50 " in out
    assert "unrelated share changes/s (" in out


def test_crawl(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # As a first crawl (the index emptied of the uploads' records), then again over the same objects.
    crawl.run(stack, 300, first=True)
    crawl.run(stack, 300)
    out = printed(capsys)
    assert "uploading 300 objects under wio-bench-crawl/data/" in out
    assert "reusing 300 objects under wio-bench-crawl/data/" in out
    assert "records: a first crawl" in out
    assert out.count("objects                                300") == 2
    assert out.count("minio-py ListObjectsV2 alone ") == 2
    crawls = [line for line in out.splitlines() if line.startswith("crawl end to end (IndexRoot)")]
    assert len(crawls) == 2
    assert "300 indexed" in crawls[0]
    assert "300 indexed, 0 added, 0 changed, 0 removed" in crawls[1]
    assert out.count("crawl / listing ") == 2
    assert out.count("indexer resident memory: ") == 2 and "by 75 objects" in out


def test_memory(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    memory.run(stack, 5, names="mem-")
    out = printed(capsys)
    assert "after start:" in out
    assert "after the main flows (5 workspaces shared):" in out
    for service in memory.SERVICES:
        assert out.count(f"  {service:<11} ") == 2
    assert "all services under target" in out or "over target: " in out


def test_node_outage(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # Last: it stops the second node and starts it again.
    node_outage.run(stack, 10)
    out = printed(capsys)
    assert "GetNode(local), every node up:" in out
    assert "spoke stopped: seen offline after " in out
    assert "GetNode(local), while spoke is down:" in out
    assert "ListNodes, while spoke is down:" in out
    assert "spoke restarted (start-up took " in out and "online " in out


@dataclass
class MockEmptyCluster(MockEsTransport):
    """A mock, since no Elasticsearch server can run here: what a cluster with nothing in it would answer,
    and what it was sent. Index actions are acknowledged but not kept, so searches find nothing and totals
    are empty."""

    indexed: int = 0
    workspace_filters: set[int] = field(default_factory=set)

    def answer(self, request: Sent) -> Answer:
        if request.path.endswith("/_bulk"):
            actions = request.ndjson()[::2]
            self.indexed += len(actions)
            items = [{"index": {**a["index"], "status": 201, "result": "created"}} for a in actions]
            return 200, {"took": 1, "errors": False, "items": items}
        if request.path.endswith("/_search"):
            query = request.json()
            granted = query["query"]["bool"]["filter"][0]["terms"]["workspace_id"]
            self.workspace_filters.add(len(granted))
            aggs: dict[str, Any] = {name: {"buckets": []} for name in query.get("aggs", {})}
            return 200, {"hits": {"hits": []}, **({"aggregations": aggs} if aggs else {})}
        if request.method == "DELETE":
            return 200, {"acknowledged": True}
        return super().answer(request)


async def test_search_elastic(capsys: pytest.CaptureFixture[str]) -> None:
    """Against the server named by WIO_TEST_ELASTICSEARCH_URL when there is one; else (no server can run
    on the development machines) against a mock empty cluster in the process, which checks that the
    bench loads its records in bulk, asks with the caller's workspaces and drops its indices."""
    url = os.environ.get("WIO_TEST_ELASTICSEARCH_URL", "")
    settings = ElasticSettings(
        url=url or "http://mock-cluster.invalid:9200",
        api_key=os.environ.get("WIO_TEST_ELASTICSEARCH_API_KEY", ""),
        ca_file=os.environ.get("WIO_TEST_ELASTICSEARCH_CA_FILE", ""),
        index_prefix=f"wio-bench-{uuid.uuid4().hex[:8]}",
        replicas=0,
    )
    cluster = MockEmptyCluster()
    options = {} if url else {"node_class": mock_node_class(cluster), "max_retries": 0}
    await search_elastic.run(settings, 2000, 20, 5, False, **options)
    out = printed(capsys)
    assert "loaded 2,000 records in 40 workspaces" in out
    assert "caller reads 20 workspaces; 5 queries of each kind" in out
    kinds = ("words", "prefixes", "substrings", "two words", "totals by workspace", "totals by extension")
    assert all(f"  {kind} " in out for kind in kinds)
    if not url:
        assert cluster.indexed == 2000
        assert cluster.workspace_filters == {20}
        dropped = {sent.path for sent in cluster.sent if sent.method == "DELETE"}
        assert f"/{settings.index_prefix}-objects,{settings.index_prefix}-tombstones" in dropped
