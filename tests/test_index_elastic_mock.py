"""The Elasticsearch backend's requests, with the client's transport replaced by a MOCK node.

No Elasticsearch server can run on these machines, so this test checks what the backend sends: the real
`AsyncElasticsearch` client serializes every request (its own headers, query string and JSON/NDJSON
bodies) and hands it to `MockEsNode`, which records it and answers in Elasticsearch's documented response
shapes. What the backend does with a real server is the contract suite's job (tests/test_index_contract.py,
run when WIO_TEST_ELASTICSEARCH_URL is set)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from elastic_transport import ApiResponseMeta, BaseAsyncNode, HttpHeaders, NodeConfig
from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport._node import NodeApiResponse

from services.common.config import ConfigError
from services.common.errors import DomainError, Reason
from services.indexer.config import ElasticSettings, IndexerSettings, load, load_elastic
from services.indexer.domain.models import (
    ApplyResult,
    ObjectChange,
    ObjectRecord,
    SearchQuery,
    SortField,
    Totals,
    WriteCounts,
)
from services.indexer.server import object_index
from services.indexer.storage.elastic import ElasticObjectIndex, client_for, doc_id

pytestmark = pytest.mark.unit

PREFIX = "wio-mock"
OBJECTS = f"{PREFIX}-objects"
TOMBSTONES = f"{PREFIX}-tombstones"
T0 = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
T0_US = int(T0.replace(microsecond=0).timestamp()) * 1_000_000 + 123456


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes | None

    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        assert self.body is not None
        return [json.loads(line) for line in self.body.decode().splitlines() if line]


Answer = tuple[int, Any]


@dataclass
class MockEsTransport:
    """What the mock node received, and how it answers: `routes` maps (method, path) to a function of the
    request, tried before the defaults below."""

    sent: list[Sent] = field(default_factory=list)
    routes: dict[tuple[str, str], Callable[[Sent], Answer]] = field(default_factory=dict)
    refuse_connections: bool = False

    def answer(self, request: Sent) -> Answer:
        route = self.routes.get((request.method, request.path))
        if route is not None:
            return route(request)
        if request.method == "HEAD":
            return 404, None
        if request.path.endswith("/_mget"):
            # Nothing is stored: every document asked for is not found.
            body = request.json()
            index = request.path.strip("/").removesuffix("_mget").strip("/")
            wanted = [{"_index": index, "_id": i} for i in body.get("ids", [])] or body.get("docs", [])
            return 200, {"docs": [{"_index": d["_index"], "_id": d["_id"], "found": False} for d in wanted]}
        if request.method == "POST" and "/_update/" in request.path:
            index, _, id_ = request.path.strip("/").partition("/_update/")
            return 404, {
                "error": {"type": "document_missing_exception", "reason": f"[{id_}]: document missing"},
                "status": 404,
            }
        if request.method == "GET" and "/_doc/" in request.path:
            index, _, id_ = request.path.strip("/").partition("/_doc/")
            return 404, {"_index": index, "_id": id_, "found": False}
        if request.path.endswith("/_refresh"):
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if request.method == "PUT" and request.path.startswith("/_index_template/"):
            return 200, {"acknowledged": True}
        if request.method == "PUT":
            return 200, {"acknowledged": True, "index": request.path.strip("/")}
        raise AssertionError(f"the mock has no answer for {request.method} {request.path}")

    def of(self, method: str, path: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and s.path == path]


def mock_node_class(mock: MockEsTransport) -> type[BaseAsyncNode]:
    """A node class for the real client that hands each serialized request to `mock` and answers with
    what it says, as a server would (Elasticsearch's product header included)."""

    class MockEsNode(BaseAsyncNode):
        _CLIENT_META_HTTP_CLIENT = ("mock", "1")

        def __init__(self, config: NodeConfig) -> None:
            super().__init__(config)

        async def perform_request(  # type: ignore[override]
            self,
            method: str,
            target: str,
            body: bytes | None = None,
            headers: HttpHeaders | None = None,
            request_timeout: Any = None,
        ) -> NodeApiResponse:
            if mock.refuse_connections:
                raise EsConnectionError("Connection refused")
            url = urlsplit(target)
            all_headers = {k.lower(): v for k, v in {**self.headers, **(headers or {})}.items()}
            request = Sent(method, url.path, dict(parse_qsl(url.query)), all_headers, body)
            mock.sent.append(request)
            status, payload = mock.answer(request)
            meta = ApiResponseMeta(
                status=status,
                http_version="1.1",
                headers=HttpHeaders(
                    {"content-type": "application/json", "x-elastic-product": "Elasticsearch"}
                ),
                duration=0.0,
                node=self.config,
            )
            return NodeApiResponse(meta, b"" if payload is None else json.dumps(payload).encode())

        async def close(self) -> None:  # type: ignore[override]
            return None

    return MockEsNode


@pytest.fixture
def mock_es_transport() -> Iterator[MockEsTransport]:
    yield MockEsTransport()


@pytest.fixture
async def mock_es_index(mock_es_transport: MockEsTransport) -> Any:
    """The backend on a real AsyncElasticsearch client whose node class is the mock."""
    settings = ElasticSettings(
        url="http://mock-es.invalid:9200", api_key="c2VjcmV0OmtleQ==", index_prefix=PREFIX
    )
    client = client_for(settings, node_class=mock_node_class(mock_es_transport), max_retries=0)
    index = ElasticObjectIndex(client, settings)
    yield index
    await index.close()


def rec(key: str, workspace: str = "w1", size: int = 10, etag: str = "e1") -> ObjectRecord:
    path = key.split("/", 2)[-1]
    name = path.rsplit("/", 1)[-1]
    return ObjectRecord(
        node_id="n1",
        bucket="b",
        key=key,
        workspace_id=workspace,
        path=path,
        name=name,
        extension=name.rsplit(".", 1)[-1].lower() if "." in name else "",
        size=size,
        etag=etag,
        modified_at=T0,
        content_type="text/plain",
    )


def hit(record: ObjectRecord) -> dict[str, Any]:
    return {
        "_index": OBJECTS,
        "_id": doc_id(record.node_id, record.bucket, record.key),
        "_source": {
            "node_id": record.node_id,
            "bucket": record.bucket,
            "key": record.key,
            "workspace_id": record.workspace_id,
            "path": record.path,
            "name": record.name,
            "extension": record.extension,
            "size": record.size,
            "etag": record.etag,
            "modified_at": record.modified_at.isoformat(),
            "content_type": record.content_type,
        },
    }


def search_answer(records: list[ObjectRecord]) -> Callable[[Sent], Answer]:
    return lambda _: (200, {"took": 1, "timed_out": False, "hits": {"hits": [hit(r) for r in records]}})


def all_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_keys(v)


async def test_ensure_puts_templates_with_explicit_mappings(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    await mock_es_index.ensure()

    (objects,) = mock_es_transport.of("PUT", f"/_index_template/{OBJECTS}")
    body = objects.json()
    assert body["index_patterns"] == [OBJECTS]
    mapping = body["template"]["mappings"]
    assert mapping["dynamic"] == "strict"
    types = {name: spec["type"] for name, spec in mapping["properties"].items()}
    for keyword in ("node_id", "bucket", "key", "workspace_id", "extension", "path"):
        assert types[keyword] == "keyword", keyword
    assert types["words"] == "text"
    assert mapping["properties"]["words"]["analyzer"] == "wio_words"
    assert mapping["properties"]["path"]["fields"]["wild"]["type"] == "wildcard"
    assert types["size"] == types["generation"] == "long"
    assert types["modified_at"] == types["updated_at"] == "date"
    analysis = body["template"]["settings"]["analysis"]
    assert analysis["analyzer"]["wio_words"] == {"type": "custom", "tokenizer": "wio_spaces"}
    assert analysis["tokenizer"]["wio_spaces"] == {"type": "whitespace", "max_token_length": 1024}

    (tombstones,) = mock_es_transport.of("PUT", f"/_index_template/{TOMBSTONES}")
    assert tombstones.json()["index_patterns"] == [TOMBSTONES]
    assert tombstones.json()["template"]["mappings"]["properties"]["deleted_at"]["type"] == "date"
    # Neither index existed (HEAD answered 404): both are created, after their templates.
    assert [s.path for s in mock_es_transport.sent if s.method == "PUT"] == [
        f"/_index_template/{OBJECTS}",
        f"/{OBJECTS}",
        f"/_index_template/{TOMBSTONES}",
        f"/{TOMBSTONES}",
    ]
    # Every request asks for version 8 compatibility, which Elasticsearch 8 and 9 both serve.
    for sent in mock_es_transport.sent:
        assert "compatible-with=8" in sent.headers["accept"]
        assert sent.headers["authorization"] == "ApiKey c2VjcmV0OmtleQ=="


async def test_ensure_leaves_existing_indices(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("HEAD", f"/{OBJECTS}")] = lambda _: (200, None)
    mock_es_transport.routes[("HEAD", f"/{TOMBSTONES}")] = lambda _: (200, None)
    await mock_es_index.ensure()
    assert not mock_es_transport.of("PUT", f"/{OBJECTS}")
    assert not mock_es_transport.of("PUT", f"/{TOMBSTONES}")
    assert len([s for s in mock_es_transport.sent if s.path.startswith("/_index_template/")]) == 2


def bulk_answer(outcomes: list[str]) -> Callable[[Sent], Answer]:
    """Answers each update line in order with the `written` mark the script would have set."""

    def answer(request: Sent) -> Answer:
        lines = request.ndjson()
        items = []
        for action, outcome in zip(lines[::2], outcomes, strict=True):
            meta = action["update"]
            status = 500 if outcome == "fail" else 201 if outcome == "added" else 200
            item: dict[str, Any] = {"_index": meta["_index"], "_id": meta["_id"], "status": status}
            if outcome == "fail":
                item["error"] = {"type": "illegal_argument_exception", "reason": "x"}
            else:
                item["result"] = "created" if outcome == "added" else "updated"
                item["get"] = {"found": True, "_source": {"written": outcome}}
            items.append({"update": item})
        return 200, {"took": 1, "errors": "fail" in outcomes, "items": items}

    return answer


async def test_write_is_one_bulk_of_scripted_upserts(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    records = [
        rec("ws/a/myReport-2024_final.PDF"),
        rec("ws/a/b/c.txt", size=5),
        rec("ws/a/d.txt", etag="e2"),
        rec("ws/a/Notes - Final (v3), a+b.docx"),
    ]
    mock_es_transport.routes[("PUT", "/_bulk")] = bulk_answer(["added", "unchanged", "changed", "added"])

    counts = await mock_es_index.write(records, generation=7)

    assert counts == WriteCounts(added=2, changed=1, unchanged=1)
    # First the batch's tombstones (a key deleted after the listing saw it stays deleted), then the bulk.
    tombstones, bulk = mock_es_transport.sent
    assert (tombstones.method, tombstones.path) == ("POST", f"/{TOMBSTONES}/_mget")
    assert tombstones.json() == {"ids": [doc_id("n1", "b", r.key) for r in records]}
    assert (bulk.method, bulk.path) == ("PUT", "/_bulk")
    assert bulk.params == {"refresh": "wait_for"}
    assert bulk.headers["content-type"].startswith("application/vnd.elasticsearch+x-ndjson")
    lines = bulk.ndjson()
    assert len(lines) == 2 * len(records)
    for record, action, body in zip(records, lines[::2], lines[1::2], strict=True):
        assert action == {
            "update": {
                "_id": doc_id("n1", "b", record.key),
                "_index": OBJECTS,
                "_source": ["written"],
                "retry_on_conflict": 5,
            }
        }
        assert body["scripted_upsert"] is True
        assert body["upsert"] == {}
        params = body["script"]["params"]
        assert params["generation"] == 7
        assert params["doc"]["key"] == record.key
        assert params["doc"]["workspace_id"] == "w1"
        assert params["doc"]["size"] == record.size
        assert params["doc"]["modified_at"] == "2026-11-30T12:00:00.123456+00:00"
        # The mark a listing gives a record: the object's last-modified time, in microseconds.
        assert params["at"] == T0_US
        assert params["compare"] == ["workspace_id", "path", "size", "etag", "modified_at"]
    # The same split of the path into words as PostgreSQL's (camelCase, letters|digits, separators).
    assert lines[1]["script"]["params"]["doc"]["words"] == "my report 2024 final pdf"
    assert lines[3]["script"]["params"]["doc"]["words"] == "b c txt"
    # Any other character that is neither letter nor digit separates words too, as in PostgreSQL's tsvector.
    assert lines[7]["script"]["params"]["doc"]["words"] == "notes final v 3 a b docx"
    # One script source for every line: Elasticsearch compiles it once.
    assert len({body["script"]["source"] for body in lines[1::2]}) == 1


async def test_a_listing_older_than_a_delete_is_not_written(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    gone, kept = rec("ws/a/gone"), rec("ws/a/kept")

    def tombstones(request: Sent) -> Answer:
        docs = []
        for id_ in request.json()["ids"]:
            if id_ == doc_id("n1", "b", gone.key):
                src = {"changed_us": T0_US + 1, "sequencer": ""}
                docs.append({"_index": TOMBSTONES, "_id": id_, "found": True, "_source": src})
            else:
                docs.append({"_index": TOMBSTONES, "_id": id_, "found": False})
        return 200, {"docs": docs}

    mock_es_transport.routes[("POST", f"/{TOMBSTONES}/_mget")] = tombstones
    mock_es_transport.routes[("PUT", "/_bulk")] = bulk_answer(["added"])
    # `kept` twice: one action per key, the second counts as unchanged (as PostgreSQL's statement).
    assert await mock_es_index.write([gone, kept, kept], generation=1) == WriteCounts(added=1, unchanged=2)
    (bulk,) = mock_es_transport.of("PUT", "/_bulk")
    assert [line["update"]["_id"] for line in bulk.ndjson()[::2]] == [doc_id("n1", "b", kept.key)]


async def test_bulk_load_indexes_whole_documents_with_async_bulk(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    def answer(request: Sent) -> Answer:
        actions = request.ndjson()[::2]
        items = [{"index": {**a["index"], "status": 201, "result": "created"}} for a in actions]
        return 200, {"took": 1, "errors": False, "items": items}

    mock_es_transport.routes[("PUT", "/_bulk")] = answer
    records = [rec(f"ws/a/f{i}.txt") for i in range(5)]
    assert await mock_es_index.bulk_load(records, generation=3, chunk=2) == 5
    bulks = mock_es_transport.of("PUT", "/_bulk")
    assert [len(b.ndjson()) // 2 for b in bulks] == [2, 2, 1]
    action, source = bulks[0].ndjson()[:2]
    assert action == {"index": {"_id": doc_id("n1", "b", "ws/a/f0.txt"), "_index": OBJECTS}}
    assert source["generation"] == 3 and source["changed_us"] == T0_US and source["words"] == "f 0 txt"
    assert mock_es_transport.sent[-1].path == f"/{OBJECTS}/_refresh"


async def test_document_ids_are_stable_and_distinct() -> None:
    assert doc_id("n1", "b", "k") == doc_id("n1", "b", "k")
    assert (
        len({doc_id("n1", "b", "k"), doc_id("n2", "b", "k"), doc_id("n1", "c", "k"), doc_id("n1", "b", "K")})
        == 4
    )
    # The separator keeps node/bucket/key from sliding into each other.
    assert doc_id("n1", "bk", "x") != doc_id("n1", "b", "kx")


async def test_a_refused_bulk_item_fails_the_write(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("PUT", "/_bulk")] = bulk_answer(["added", "fail"])
    with pytest.raises(DomainError) as caught:
        await mock_es_index.write([rec("ws/a/x"), rec("ws/a/y")], generation=1)
    assert caught.value.reason is Reason.DEPENDENCY_UNAVAILABLE
    assert "1 of 2" in caught.value.message


async def test_search_is_granted_only_by_the_callers_workspace_ids(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    found = [rec("ws/a/x.csv"), rec("ws/a/y.csv"), rec("ws/a/z.csv")]
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_search")] = search_answer(found)

    page = await mock_es_index.search(
        SearchQuery(
            workspace_ids=("w1", "w7"),
            text='report rep* myRep* "a*b?" (v3) (',
            extensions=("csv",),
            min_size=1,
            max_size=99,
            modified_after=T0,
            limit=2,
        )
    )

    assert [r.key for r in page.records] == ["ws/a/x.csv", "ws/a/y.csv"]
    assert page.records[0] == found[0]
    assert page.has_more is True
    (sent,) = mock_es_transport.of("POST", f"/{OBJECTS}/_search")
    body = sent.json()
    assert body["size"] == 3  # one more than the page, to know whether another follows
    query = body["query"]
    # Only filters, AND-ed: no `should`, `must_not` or other branch that could widen the workspace filter.
    assert query == {"bool": {"filter": query["bool"]["filter"]}}
    filters = query["bool"]["filter"]
    assert filters[0] == {"terms": {"workspace_id": ["w1", "w7"]}}
    assert list(all_keys(body)).count("workspace_id") == 1
    assert not {"post_filter", "rescore", "knn", "indices_boost", "min_score"} & set(body)
    assert filters[1:7] == [
        {"match_phrase": {"words": "report"}},
        {"prefix": {"words": "rep"}},
        {
            "span_near": {
                "clauses": [
                    {"span_term": {"words": "my"}},
                    {"span_multi": {"match": {"prefix": {"words": {"value": "rep"}}}}},
                ],
                "slop": 0,
                "in_order": True,
            }
        },
        # A quoted substring, its wildcard characters escaped.
        {"wildcard": {"path.wild": {"value": "*a\\*b\\?*", "case_insensitive": True}}},
        {"match_phrase": {"words": "v 3"}},
        {"match_none": {}},  # a term with no word in it matches nothing, as an empty tsquery
    ]
    assert filters[7:] == [
        {"terms": {"extension": ["csv"]}},
        {"range": {"size": {"gte": 1, "lte": 99}}},
        {"range": {"modified_at": {"gte": "2026-11-30T12:00:00.123456+00:00"}}},
    ]
    assert "search_after" not in body
    assert body["sort"] == [{"path": "asc"}, {"node_id": "asc"}, {"bucket": "asc"}, {"key": "asc"}]


async def test_a_malformed_query_sends_nothing(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    with pytest.raises(DomainError) as caught:
        await mock_es_index.search(SearchQuery(workspace_ids=("w1",), text='"open'))
    assert caught.value.reason is Reason.INVALID_ARGUMENT
    assert mock_es_transport.sent == []


async def test_no_workspace_ids_send_no_search(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    page = await mock_es_index.search(SearchQuery(workspace_ids=()))
    assert page.records == [] and page.has_more is False
    assert await mock_es_index.totals([], by_extension=True) == Totals()
    assert mock_es_transport.sent == []


async def test_a_second_page_continues_with_search_after(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_search")] = search_answer([rec("ws/a/z")])
    await mock_es_index.search(
        SearchQuery(workspace_ids=("w1",), limit=2, after=("a/y", "n1", "b", "ws/a/y"))
    )
    modified = T0 + timedelta(microseconds=999)
    page = await mock_es_index.search(
        SearchQuery(
            workspace_ids=("w1",),
            sort=SortField.MODIFIED,
            descending=True,
            limit=2,
            after=(modified, "n1", "b", "ws/a/y"),
        )
    )
    assert page.has_more is False and [r.key for r in page.records] == ["ws/a/z"]
    by_path, by_modified = (s.json() for s in mock_es_transport.of("POST", f"/{OBJECTS}/_search"))
    assert by_path["search_after"] == ["a/y", "n1", "b", "ws/a/y"]
    # Dates sort in milliseconds there: the keyset value is cut to the same precision.
    assert by_modified["search_after"] == [int(T0.timestamp()) * 1000 + 124, "n1", "b", "ws/a/y"]
    assert by_modified["sort"] == [
        {"modified_at": "desc"},
        {"node_id": "desc"},
        {"bucket": "desc"},
        {"key": "desc"},
    ]


async def test_totals_are_aggregations_over_the_callers_workspaces(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    def answer(_: Sent) -> Answer:
        return 200, {
            "hits": {"hits": []},
            "aggregations": {
                "by_workspace": {
                    "sum_other_doc_count": 0,
                    "buckets": [{"key": "w1", "doc_count": 3, "bytes": {"value": 30.0}}],
                },
                "by_extension": {
                    "sum_other_doc_count": 0,
                    "buckets": [
                        {"key": "csv", "doc_count": 2, "bytes": {"value": 20.0}},
                        {"key": "", "doc_count": 1, "bytes": {"value": 10.0}},
                    ],
                },
            },
        }

    mock_es_transport.routes[("POST", f"/{OBJECTS}/_search")] = answer
    totals = await mock_es_index.totals(["w1", "w2", "w3"], by_extension=True)

    assert totals == Totals(by_workspace={"w1": (3, 30)}, by_extension={"csv": (2, 20), "": (1, 10)})
    (sent,) = mock_es_transport.of("POST", f"/{OBJECTS}/_search")
    body = sent.json()
    assert body["size"] == 0
    assert body["query"] == {"bool": {"filter": [{"terms": {"workspace_id": ["w1", "w2", "w3"]}}]}}
    assert body["aggs"]["by_workspace"] == {
        "terms": {"field": "workspace_id", "size": 3, "shard_size": 3},
        "aggs": {"bytes": {"sum": {"field": "size"}}},
    }
    assert body["aggs"]["by_extension"]["terms"]["field"] == "extension"
    assert body["aggs"]["by_extension"]["aggs"] == {"bytes": {"sum": {"field": "size"}}}


async def test_sweep_deletes_by_generation_and_updated_at_under_the_prefix(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_delete_by_query")] = lambda _: (
        200,
        {"deleted": 4, "version_conflicts": 1, "failures": []},
    )
    removed = await mock_es_index.sweep("n1", "b", "ws/a/", generation=9, started_at=T0)
    assert removed == 4
    refresh, sent = mock_es_transport.sent
    # delete_by_query reads refreshed documents only: the index is refreshed first.
    assert (refresh.method, refresh.path) == ("POST", f"/{OBJECTS}/_refresh")
    assert (sent.method, sent.path) == ("POST", f"/{OBJECTS}/_delete_by_query")
    # A record an event rewrites while the sweep runs is a version conflict: skipped, not deleted.
    assert sent.params["conflicts"] == "proceed"
    assert sent.params["refresh"] == "true"
    assert sent.json() == {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"node_id": "n1"}},
                    {"term": {"bucket": "b"}},
                    {"prefix": {"key": "ws/a/"}},
                    {"range": {"generation": {"lt": 9}}},
                    {"range": {"updated_at": {"lt": "2026-11-30T12:00:00.123456+00:00"}}},
                ]
            }
        }
    }


async def test_forgetting_a_workspace_deletes_by_its_id(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_delete_by_query")] = lambda _: (200, {"deleted": 2})
    assert await mock_es_index.forget_workspace("w9") == 2
    (sent,) = mock_es_transport.of("POST", f"/{OBJECTS}/_delete_by_query")
    assert sent.json() == {"query": {"bool": {"filter": [{"term": {"workspace_id": "w9"}}]}}}


async def test_expiring_tombstones_deletes_by_delete_time(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.routes[("POST", f"/{TOMBSTONES}/_delete_by_query")] = lambda _: (200, {"deleted": 5})
    assert await mock_es_index.expire_tombstones(T0) == 5
    assert [s.path for s in mock_es_transport.sent] == [
        f"/{TOMBSTONES}/_refresh",
        f"/{TOMBSTONES}/_delete_by_query",
    ]
    assert mock_es_transport.sent[1].json() == {
        "query": {"bool": {"filter": [{"range": {"deleted_at": {"lt": "2026-11-30T12:00:00.123456+00:00"}}}]}}
    }


def marks_answer(record: tuple[int, str] | None, tomb: tuple[int, str] | None) -> Callable[[Sent], Answer]:
    def answer(request: Sent) -> Answer:
        docs = []
        for wanted, mark in zip(request.json()["docs"], (record, tomb), strict=True):
            doc: dict[str, Any] = {
                "_index": wanted["_index"],
                "_id": wanted["_id"],
                "found": mark is not None,
            }
            if mark is not None:
                doc["_source"] = {"changed_us": mark[0], "sequencer": mark[1]}
            docs.append(doc)
        return 200, {"docs": docs}

    return answer


async def test_an_upsert_event_reads_both_marks_then_clears_an_older_tombstone(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    id_ = doc_id("n1", "b", "ws/a/x")
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_update/{id_}")] = lambda _: (
        201,
        {"_index": OBJECTS, "_id": id_, "result": "created"},
    )
    change = ObjectChange(
        "n1", "b", "ws/a/x", deleted=False, occurred_at=T0, size=10, etag="e1", sequencer="17A2"
    )
    assert await mock_es_index.apply(change, rec("ws/a/x")) is ApplyResult.UPSERTED

    marks, update, untomb = mock_es_transport.sent
    assert (marks.method, marks.path) == ("POST", "/_mget")
    assert marks.json() == {
        "docs": [
            {"_index": OBJECTS, "_id": id_, "_source": ["changed_us", "sequencer"]},
            {"_index": TOMBSTONES, "_id": id_, "_source": ["changed_us", "sequencer"]},
        ]
    }
    assert update.path == f"/{OBJECTS}/_update/{id_}"
    assert update.params == {"refresh": "wait_for", "retry_on_conflict": "5"}
    body = update.json()
    assert body["scripted_upsert"] is True and body["upsert"] == {}
    assert body["script"]["params"]["seq"] == "17A2"
    assert body["script"]["params"]["at"] == T0_US
    assert body["script"]["params"]["doc"]["key"] == "ws/a/x"
    assert "ctx.op = 'noop'" in body["script"]["source"]  # the script refuses an older change itself
    assert untomb.path == f"/{TOMBSTONES}/_update/{id_}"
    assert untomb.json()["script"]["params"] == {"at": T0_US, "seq": "17A2"}
    assert "upsert" not in untomb.json()


async def test_an_event_not_newer_than_a_mark_is_stale_and_writes_nothing(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    change = ObjectChange("n1", "b", "ws/a/x", deleted=False, occurred_at=T0)
    mock_es_transport.routes[("POST", "/_mget")] = marks_answer(None, (T0_US + 1, ""))
    assert await mock_es_index.apply(change, rec("ws/a/x")) is ApplyResult.STALE
    # A tie is stale too (a redelivered event), and with sequencers on both sides they decide.
    mock_es_transport.routes[("POST", "/_mget")] = marks_answer((T0_US, ""), None)
    assert await mock_es_index.apply(change, rec("ws/a/x")) is ApplyResult.STALE
    mock_es_transport.routes[("POST", "/_mget")] = marks_answer((T0_US - 5, "17A3"), None)
    late = ObjectChange("n1", "b", "ws/a/x", deleted=True, occurred_at=T0, sequencer="17A2")
    assert await mock_es_index.apply(late, None) is ApplyResult.STALE
    assert [s.path for s in mock_es_transport.sent] == ["/_mget"] * 3


async def test_a_delete_that_raced_an_upsert_wins(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    id_ = doc_id("n1", "b", "ws/a/x")
    newer_delete = {"changed_us": T0_US + 9, "sequencer": ""}
    mock_es_transport.routes[("POST", f"/{TOMBSTONES}/_update/{id_}")] = lambda _: (
        200,
        {"_index": TOMBSTONES, "_id": id_, "result": "noop"},
    )
    mock_es_transport.routes[("GET", f"/{TOMBSTONES}/_doc/{id_}")] = lambda _: (
        200,
        {"_index": TOMBSTONES, "_id": id_, "found": True, "_source": newer_delete},
    )
    answers = iter(["created", "deleted"])
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_update/{id_}")] = lambda _: (
        200,
        {"_index": OBJECTS, "_id": id_, "result": next(answers)},
    )
    change = ObjectChange("n1", "b", "ws/a/x", deleted=False, occurred_at=T0)
    assert await mock_es_index.apply(change, rec("ws/a/x")) is ApplyResult.STALE
    *_, read, removal = mock_es_transport.sent
    assert (read.method, read.path) == ("GET", f"/{TOMBSTONES}/_doc/{id_}")
    assert removal.path == f"/{OBJECTS}/_update/{id_}"
    assert removal.json()["script"]["params"] == {"at": T0_US + 9, "seq": ""}
    assert "ctx.op = 'delete'" in removal.json()["script"]["source"]


async def test_a_delete_event_writes_its_tombstone_then_removes_an_older_record(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    id_ = doc_id("n1", "b", "ws/a/x")
    mock_es_transport.routes[("POST", f"/{TOMBSTONES}/_update/{id_}")] = lambda _: (
        201,
        {"_index": TOMBSTONES, "_id": id_, "result": "created"},
    )
    mock_es_transport.routes[("POST", f"/{OBJECTS}/_update/{id_}")] = lambda _: (
        200,
        {"_index": OBJECTS, "_id": id_, "result": "deleted"},
    )
    change = ObjectChange("n1", "b", "ws/a/x", deleted=True, occurred_at=T0)
    assert await mock_es_index.apply(change, None) is ApplyResult.DELETED

    marks, tomb, record = mock_es_transport.sent
    assert marks.path == "/_mget"
    assert tomb.path == f"/{TOMBSTONES}/_update/{id_}"
    tomb_body = tomb.json()
    assert tomb_body["scripted_upsert"] is True
    assert tomb_body["script"]["params"]["doc"] == {
        "node_id": "n1",
        "bucket": "b",
        "key": "ws/a/x",
        "deleted_at": "2026-11-30T12:00:00.123456+00:00",
        "changed_us": T0_US,
        "sequencer": "",
    }
    assert record.path == f"/{OBJECTS}/_update/{id_}"
    assert "upsert" not in record.json()  # a delete never creates a record
    assert "ctx.op = 'delete'" in record.json()["script"]["source"]


async def test_an_unreachable_server_is_a_clear_error_without_the_key(
    mock_es_index: ElasticObjectIndex, mock_es_transport: MockEsTransport
) -> None:
    mock_es_transport.refuse_connections = True
    with pytest.raises(DomainError) as caught:
        await mock_es_index.search(SearchQuery(workspace_ids=("w1",)))
    assert caught.value.reason is Reason.DEPENDENCY_UNAVAILABLE
    assert "c2VjcmV0" not in caught.value.message


def test_the_backend_is_postgresql_unless_elasticsearch_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WIO_INDEXER_BACKEND", "WIO_INDEXER_ELASTICSEARCH_URL", "WIO_INDEXER_ELASTICSEARCH_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WIO_SECRET_KEY", "k" * 32)
    settings = load()
    assert (settings.backend, settings.elastic) == ("postgres", None)
    monkeypatch.setenv("WIO_INDEXER_BACKEND", "elasticsearch")
    with pytest.raises(ConfigError, match="WIO_INDEXER_ELASTICSEARCH_URL"):
        load()
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_URL", "https://elastic:s3cret@es.example:9200")
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_API_KEY", "a2V5OnNlY3JldA==")
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_INDEX_PREFIX", "lab-wio")
    settings = load()
    assert settings.backend == "elasticsearch" and settings.elastic is not None
    assert (settings.elastic.index_prefix, settings.elastic.refresh) == ("lab-wio", "wait_for")
    # Settings get logged: neither the URL (it may hold a password) nor the key shows in their repr.
    assert "s3cret" not in repr(settings) and "a2V5" not in repr(settings)
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_INDEX_PREFIX", "Wio/*")
    with pytest.raises(ConfigError, match="INDEX_PREFIX"):
        load_elastic()
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_INDEX_PREFIX", "wio")
    monkeypatch.setenv("WIO_INDEXER_ELASTICSEARCH_CA_FILE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigError, match="CA_FILE"):
        load_elastic()
    monkeypatch.setenv("WIO_INDEXER_BACKEND", "solr")
    with pytest.raises(ConfigError, match="WIO_INDEXER_BACKEND"):
        load()


async def test_an_elasticsearch_that_is_down_stops_the_start_with_a_clear_error() -> None:
    """No mock here: the composition root's backend choice, with the real client against a port where
    nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    elastic = ElasticSettings(url=f"http://127.0.0.1:{port}", api_key="c2VjcmV0OmtleQ==", request_timeout=5.0)
    settings = IndexerSettings(
        common=None,  # type: ignore[arg-type]
        workspaces_address="",
        backend="elasticsearch",
        elastic=elastic,
    )
    runtime = SimpleNamespace(engine=None, read_engine=None, closers=[])
    with pytest.raises(DomainError) as caught:
        await object_index(settings, runtime)  # type: ignore[arg-type]
    assert caught.value.reason is Reason.DEPENDENCY_UNAVAILABLE
    assert "c2VjcmV0" not in str(caught.value)
    assert runtime.closers == []  # the client it opened is closed already
