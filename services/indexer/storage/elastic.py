"""The object index in Elasticsearch 8 or 9 (the official client's async API), behind the ObjectIndex port.

Two indices per deployment, both created from index templates with explicit mappings:
- `<prefix>-objects`: one document per record, id = a hash of node, bucket and key. Besides the record it
  holds the words of the path (the same split as PostgreSQL's, done here), the path again as a `wildcard`
  field for substrings, the crawl generation that last saw it, when it was last written (`updated_at`) and
  the order of the last change applied to it (`event_us`, `sequencer`).
- `<prefix>-tombstones`: one document per deleted key, with the order of the delete, so a late event for
  a key deleted since is recognised as stale.

Every rule that must not race (a record never regresses to an older change, a write counts what it did) runs
as a painless script on the document itself, so it is atomic per document without a read first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout as EsConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import async_streaming_bulk

from services.common.errors import DomainError, Reason
from services.indexer.domain.models import (
    ApplyResult,
    ObjectChange,
    ObjectRecord,
    SearchPage,
    SearchQuery,
    SortField,
    Totals,
    WriteCounts,
)

# A sequencer is compared as a string once left-padded to this width (MinIO's are 16 hex digits).
SEQUENCER_WIDTH = 32
# Extensions returned by a totals query: more distinct extensions than this in one caller's view are
# folded into the others (the answer says so through `sum_other_doc_count`, which is logged as a bound).
MAX_EXTENSIONS = 10_000

_WORD_SPLIT = re.compile(r"[^0-9a-z]+")


def words_of(path: str) -> list[str]:
    """The words a path is searched by: lower case, split on every character that is not a letter or a
    digit (so `/`, `.`, `-`, `_` and spaces separate words)."""
    return [w for w in _WORD_SPLIT.split(path.lower()) if w]


def doc_id(node_id: str, bucket: str, key: str) -> str:
    """A stable id for a key on a node: keys are up to 1,024 bytes, more than an id may hold."""
    return hashlib.sha256(f"{node_id}\0{bucket}\0{key}".encode()).hexdigest()


def _micros(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def _millis(at: datetime) -> int:
    """Elasticsearch sorts dates in milliseconds: the keyset must compare at the same precision."""
    return _micros(at) // 1000


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _sequencer(raw: str) -> str:
    return raw.rjust(SEQUENCER_WIDTH, "0") if raw else ""


OBJECT_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "node_id": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "key": {"type": "keyword"},
        "workspace_id": {"type": "keyword"},
        "path": {"type": "keyword", "fields": {"wild": {"type": "wildcard"}}},
        "name": {"type": "keyword"},
        "extension": {"type": "keyword"},
        "words": {
            "type": "text",
            "analyzer": "wio_words",
            "index_prefixes": {"min_chars": 1, "max_chars": 8},
        },
        "size": {"type": "long"},
        "etag": {"type": "keyword", "index": False},
        "modified_at": {"type": "date"},
        "content_type": {"type": "keyword", "index": False},
        "generation": {"type": "long"},
        "updated_at": {"type": "date"},
        "event_us": {"type": "long", "index": False},
        "sequencer": {"type": "keyword", "index": False},
        # What the last bulk write did to this document (added, changed, unchanged): read back in the
        # bulk answer so counting costs no extra round trip.
        "written": {"type": "keyword", "index": False, "doc_values": False},
    },
}

TOMBSTONE_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "node_id": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "key": {"type": "keyword"},
        "occurred_at": {"type": "date"},
        "event_us": {"type": "long", "index": False},
        "sequencer": {"type": "keyword", "index": False},
    },
}

# The words are split in Python (words_of) and joined with spaces; the analyzer only cuts at spaces.
WORDS_ANALYSIS: dict[str, Any] = {
    "analyzer": {"wio_words": {"type": "custom", "tokenizer": "whitespace", "filter": ["lowercase"]}}
}

# Is the change (params.ev, params.seq) newer than the order a document holds? Ties are not newer, so a
# redelivered event changes nothing.
_NEWER = """
boolean newer(def us, def seq, def theirUs, def theirSeq) {
  long a = ((Number) us).longValue();
  long b = theirUs == null ? Long.MIN_VALUE : ((Number) theirUs).longValue();
  if (a != b) { return a > b; }
  String s = seq == null ? '' : seq;
  String t = theirSeq == null ? '' : theirSeq;
  return s.compareTo(t) > 0;
}
"""

# A listing's record: added, changed (any field of the object differs) or unchanged; each is marked with
# the crawl's generation. A listing also orders the record at its last-modified time, so an event older
# than the listed object is stale, and an event applied since that is newer than the listed object wins.
WRITE_SCRIPT = (
    _NEWER
    + """
def s = ctx._source;
def d = params.doc;
if (!s.containsKey('key')) {
  s.putAll(d); s.event_us = params.ev; s.sequencer = ''; s.written = 'added';
} else if (newer(s.event_us, s.sequencer, params.ev, '')) {
  s.written = 'unchanged';
} else {
  boolean same = true;
  for (String f : params.compare) {
    def a = s[f]; def b = d[f];
    if (a instanceof Number && b instanceof Number) {
      if (((Number) a).longValue() != ((Number) b).longValue()) { same = false; }
    } else if (a != b) { same = false; }
  }
  if (!same) { s.putAll(d); s.written = 'changed'; } else { s.written = 'unchanged'; }
  if (newer(params.ev, '', s.event_us, s.sequencer)) { s.event_us = params.ev; s.sequencer = ''; }
}
s.generation = params.generation;
s.updated_at = params.now;
"""
)

# One change reported by a node, upserted unless the document already holds a newer one.
UPSERT_SCRIPT = (
    _NEWER
    + """
def s = ctx._source;
if (s.containsKey('key') && !newer(params.ev, params.seq, s.event_us, s.sequencer)) {
  ctx.op = 'noop';
} else {
  def generation = s.containsKey('generation') ? s.generation : 0;
  s.putAll(params.doc);
  s.event_us = params.ev; s.sequencer = params.seq; s.updated_at = params.now; s.generation = generation;
  s.written = 'event';
}
"""
)

# Remove a record unless it holds a change newer than the delete (a delete wins a tie).
DELETE_SCRIPT = (
    _NEWER
    + """
if (newer(ctx._source.event_us, ctx._source.sequencer, params.ev, params.seq)) { ctx.op = 'noop'; }
else { ctx.op = 'delete'; }
"""
)

# Keep the newest delete of a key.
TOMBSTONE_SCRIPT = (
    _NEWER
    + """
def s = ctx._source;
if (s.containsKey('key') && !newer(params.ev, params.seq, s.event_us, s.sequencer)) {
  ctx.op = 'noop';
} else {
  s.putAll(params.doc);
}
"""
)

COMPARED_FIELDS = ("workspace_id", "path", "size", "etag", "modified_at", "content_type")

_SORT_FIELDS = {SortField.PATH: "path", SortField.SIZE: "size", SortField.MODIFIED: "modified_at"}


@dataclass(frozen=True)
class ElasticSettings:
    url: str
    api_key: str = ""
    ca_file: str = ""
    index_prefix: str = "wio"
    # "wait_for": a write returns once its records are searchable (at the next refresh, 1 s by default);
    # "true" forces a refresh per write (tests); "false" returns at once.
    refresh: str = "wait_for"
    shards: int = 1
    replicas: int = 1
    request_timeout: float = 30.0


def client_for(settings: ElasticSettings, **options: Any) -> AsyncElasticsearch:
    """The official async client; `options` reach its constructor (e.g. node_class)."""
    extra: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    if settings.api_key:
        extra["api_key"] = settings.api_key
    if settings.ca_file:
        extra["ca_certs"] = settings.ca_file
    return AsyncElasticsearch(settings.url, **{**extra, **options})


def _unavailable(exc: Exception) -> DomainError:
    # The transport's message names the node and the cause, never the API key.
    return DomainError(
        Reason.DEPENDENCY_UNAVAILABLE, f"the search index is unavailable ({type(exc).__name__})"
    )


class ElasticObjectIndex:
    """ObjectIndex on Elasticsearch. Build with `open_elastic_index` (which creates templates and
    indices) or pass a client and call `ensure()`."""

    def __init__(self, client: AsyncElasticsearch, settings: ElasticSettings) -> None:
        self._es = client
        self._settings = settings
        self.objects = f"{settings.index_prefix}-objects"
        self.tombstones = f"{settings.index_prefix}-tombstones"
        self._refresh: Any = {"wait_for": "wait_for", "true": True, "false": False}[settings.refresh]

    # -- set-up ------------------------------------------------------------------------------------------

    def templates(self) -> dict[str, dict[str, Any]]:
        """Index templates by name: what `ensure` puts."""
        settings = {
            "number_of_shards": self._settings.shards,
            "number_of_replicas": self._settings.replicas,
        }
        return {
            self.objects: {
                "index_patterns": [self.objects],
                "priority": 200,
                "template": {
                    "settings": {**settings, "analysis": WORDS_ANALYSIS},
                    "mappings": OBJECT_MAPPING,
                },
                "meta": {"owner": "wio indexer"},
            },
            self.tombstones: {
                "index_patterns": [self.tombstones],
                "priority": 200,
                "template": {"settings": settings, "mappings": TOMBSTONE_MAPPING},
                "meta": {"owner": "wio indexer"},
            },
        }

    async def ensure(self) -> None:
        """Put the templates and create the indices that do not exist yet (idempotent)."""
        try:
            for name, body in self.templates().items():
                await self._es.indices.put_index_template(name=name, **body)
                if not await self._es.indices.exists(index=name):
                    try:
                        await self._es.indices.create(index=name)
                    except ApiError as exc:
                        if exc.error != "resource_already_exists_exception":
                            raise
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc

    async def drop(self) -> None:
        """Delete both indices and their templates (tests, and an operator switching backends)."""
        await self._es.indices.delete(index=[self.objects, self.tombstones], ignore_unavailable=True)
        for name in (self.objects, self.tombstones):
            await self._es.options(ignore_status=404).indices.delete_index_template(name=name)

    async def close(self) -> None:
        await self._es.close()

    # -- writes ------------------------------------------------------------------------------------------

    def _source(self, record: ObjectRecord) -> dict[str, Any]:
        return {
            "node_id": record.node_id,
            "bucket": record.bucket,
            "key": record.key,
            "workspace_id": record.workspace_id,
            "path": record.path,
            "name": record.name,
            "extension": record.extension,
            "words": " ".join(words_of(record.path)),
            "size": record.size,
            "etag": record.etag,
            "modified_at": _iso(record.modified_at),
            "content_type": record.content_type,
        }

    async def write(self, records: Sequence[ObjectRecord], generation: int) -> WriteCounts:
        """One bulk request of scripted upserts; each answers with the `written` mark its script set, so
        the counts cost no read before the write."""
        if not records:
            return WriteCounts()
        now = _iso(datetime.now(UTC))
        actions = [
            {
                "_op_type": "update",
                "_index": self.objects,
                "_id": doc_id(r.node_id, r.bucket, r.key),
                "_source": ["written"],
                "scripted_upsert": True,
                "upsert": {},
                "retry_on_conflict": 3,
                "script": {
                    "lang": "painless",
                    "source": WRITE_SCRIPT,
                    "params": {
                        "doc": self._source(r),
                        "ev": _micros(r.modified_at),
                        "generation": generation,
                        "now": now,
                        "compare": list(COMPARED_FIELDS),
                    },
                },
            }
            for r in records
        ]
        counts = {"added": 0, "changed": 0, "unchanged": 0}
        failures: list[str] = []
        try:
            async for ok, item in async_streaming_bulk(
                self._es,
                actions,
                chunk_size=len(actions),
                max_chunk_bytes=100 * 1024 * 1024,
                raise_on_error=False,
                max_retries=3,
                initial_backoff=0.5,
                refresh=self._refresh,
            ):
                result = item["update"]
                if not ok:
                    failures.append(str(result.get("error", {}).get("type", result.get("status"))))
                    continue
                written = result.get("get", {}).get("_source", {}).get("written", "changed")
                counts[written if written in counts else "changed"] += 1
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc
        if failures:
            raise DomainError(
                Reason.DEPENDENCY_UNAVAILABLE,
                f"the search index refused {len(failures)} of {len(actions)} records ({failures[0]})",
            )
        return WriteCounts(**counts)

    async def _tombstone(self, id_: str) -> tuple[int, str] | None:
        try:
            found = await self._es.get(
                index=self.tombstones, id=id_, source_includes=["event_us", "sequencer"]
            )
        except NotFoundError:
            return None
        src = found["_source"]
        return int(src["event_us"]), str(src.get("sequencer", ""))

    async def apply(self, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
        """An event, ordered by (occurred_at in microseconds, sequencer). An upsert checks the key's
        tombstone, upserts with a script that refuses to go back in time, then checks the tombstone
        again: a delete that raced it (wrote its tombstone after our first check and found nothing to
        delete) is then honoured here. A delete keeps the newest tombstone and removes the record unless
        it holds a newer change."""
        ev, seq = _micros(change.occurred_at), _sequencer(change.sequencer)
        id_ = doc_id(change.node_id, change.bucket, change.key)
        try:
            if record is None or change.deleted:
                return await self._apply_delete(id_, change, ev, seq)
            return await self._apply_upsert(id_, record, ev, seq)
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc

    async def _apply_upsert(self, id_: str, record: ObjectRecord, ev: int, seq: str) -> ApplyResult:
        tomb = await self._tombstone(id_)
        if tomb is not None and tomb >= (ev, seq):
            return ApplyResult.STALE
        answer = await self._es.update(
            index=self.objects,
            id=id_,
            script={
                "lang": "painless",
                "source": UPSERT_SCRIPT,
                "params": {
                    "doc": self._source(record),
                    "ev": ev,
                    "seq": seq,
                    "now": _iso(datetime.now(UTC)),
                },
            },
            upsert={},
            scripted_upsert=True,
            retry_on_conflict=3,
            refresh=self._refresh,
        )
        if answer["result"] == "noop":
            return ApplyResult.STALE
        tomb = await self._tombstone(id_)
        if tomb is not None and tomb >= (ev, seq):
            await self._delete_record(id_, *tomb)
            return ApplyResult.STALE
        return ApplyResult.UPSERTED

    async def _delete_record(self, id_: str, ev: int, seq: str) -> bool:
        try:
            answer = await self._es.update(
                index=self.objects,
                id=id_,
                script={"lang": "painless", "source": DELETE_SCRIPT, "params": {"ev": ev, "seq": seq}},
                retry_on_conflict=3,
                refresh=self._refresh,
            )
        except NotFoundError:
            return False
        return bool(answer["result"] == "deleted")

    async def _apply_delete(self, id_: str, change: ObjectChange, ev: int, seq: str) -> ApplyResult:
        tomb = {
            "node_id": change.node_id,
            "bucket": change.bucket,
            "key": change.key,
            "occurred_at": _iso(change.occurred_at),
            "event_us": ev,
            "sequencer": seq,
        }
        answer = await self._es.update(
            index=self.tombstones,
            id=id_,
            script={
                "lang": "painless",
                "source": TOMBSTONE_SCRIPT,
                "params": {"doc": tomb, "ev": ev, "seq": seq},
            },
            upsert={},
            scripted_upsert=True,
            retry_on_conflict=3,
        )
        # Even a stale delete removes a record older than itself: a record can only be older than a
        # delete if it lost a race with it.
        removed = await self._delete_record(id_, ev, seq)
        return ApplyResult.DELETED if removed or answer["result"] != "noop" else ApplyResult.STALE

    # -- removals ----------------------------------------------------------------------------------------

    async def _delete_by_query(self, index: str, filters: list[dict[str, Any]]) -> int:
        try:
            answer = await self._es.delete_by_query(
                index=index,
                query={"bool": {"filter": filters}},
                conflicts="proceed",
                refresh=True,
                slices="auto",
            )
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc
        return int(answer["deleted"])

    @staticmethod
    def _under(node_id: str, bucket: str, prefix: str) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [{"term": {"node_id": node_id}}, {"term": {"bucket": bucket}}]
        if prefix:
            filters.append({"prefix": {"key": prefix}})
        return filters

    async def sweep(
        self, node_id: str, bucket: str, prefix: str, generation: int, started_at: datetime
    ) -> int:
        """Records under the prefix that this crawl did not see (an older generation) and that no event
        wrote since it started. A record an event changes while this runs is skipped (a version
        conflict, `conflicts=proceed`), never deleted."""
        return await self._delete_by_query(
            self.objects,
            [
                *self._under(node_id, bucket, prefix),
                {"range": {"generation": {"lt": generation}}},
                {"range": {"updated_at": {"lt": _iso(started_at)}}},
            ],
        )

    async def forget_workspace(self, workspace_id: str) -> int:
        return await self._delete_by_query(self.objects, [{"term": {"workspace_id": workspace_id}}])

    async def forget_node(self, node_id: str) -> int:
        await self._delete_by_query(self.tombstones, [{"term": {"node_id": node_id}}])
        return await self._delete_by_query(self.objects, [{"term": {"node_id": node_id}}])

    async def forget_prefix(self, node_id: str, bucket: str, prefix: str) -> int:
        await self._delete_by_query(self.tombstones, self._under(node_id, bucket, prefix))
        return await self._delete_by_query(self.objects, self._under(node_id, bucket, prefix))

    async def expire_tombstones(self, older_than: datetime) -> int:
        return await self._delete_by_query(
            self.tombstones, [{"range": {"occurred_at": {"lt": _iso(older_than)}}}]
        )

    # -- questions ---------------------------------------------------------------------------------------

    def search_body(self, query: SearchQuery) -> dict[str, Any]:
        """The request body of a search: the caller's workspace ids are the only thing that grants a
        result (a `terms` filter); everything else narrows."""
        filters: list[dict[str, Any]] = [{"terms": {"workspace_id": list(query.workspace_ids)}}]
        if query.extensions:
            filters.append({"terms": {"extension": list(query.extensions)}})
        size: dict[str, int] = {}
        if query.min_size is not None:
            size["gte"] = query.min_size
        if query.max_size is not None:
            size["lte"] = query.max_size
        if size:
            filters.append({"range": {"size": size}})
        modified: dict[str, str] = {}
        if query.modified_after is not None:
            modified["gte"] = _iso(query.modified_after)
        if query.modified_before is not None:
            modified["lt"] = _iso(query.modified_before)
        if modified:
            filters.append({"range": {"modified_at": modified}})
        must = text_clauses(query.text)
        order = "desc" if query.descending else "asc"
        sort = [{_SORT_FIELDS[query.sort]: order}, {"node_id": order}, {"bucket": order}, {"key": order}]
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters, **({"must": must} if must else {})}},
            "sort": sort,
            "size": query.limit + 1,
            "track_total_hits": False,
            "_source": {
                "excludes": ["words", "generation", "updated_at", "event_us", "sequencer", "written"]
            },
        }
        if query.after is not None:
            value, node_id, bucket, key = query.after
            if query.sort is SortField.MODIFIED and isinstance(value, datetime):
                value = _millis(value)
            body["search_after"] = [value, node_id, bucket, key]
        return body

    async def search(self, query: SearchQuery) -> SearchPage:
        if not query.workspace_ids:
            return SearchPage(records=[], has_more=False)
        try:
            answer = await self._es.search(index=self.objects, body=self.search_body(query))
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc
        hits = answer["hits"]["hits"]
        records = [_record(hit["_source"]) for hit in hits[: query.limit]]
        return SearchPage(records=records, has_more=len(hits) > query.limit)

    def totals_body(self, workspace_ids: Sequence[str], by_extension: bool) -> dict[str, Any]:
        bytes_ = {"bytes": {"sum": {"field": "size"}}}
        aggs: dict[str, Any] = {
            "by_workspace": {
                "terms": {
                    "field": "workspace_id",
                    "size": len(workspace_ids),
                    "shard_size": len(workspace_ids),
                },
                "aggs": bytes_,
            }
        }
        if by_extension:
            aggs["by_extension"] = {"terms": {"field": "extension", "size": MAX_EXTENSIONS}, "aggs": bytes_}
        return {
            "query": {"bool": {"filter": [{"terms": {"workspace_id": list(workspace_ids)}}]}},
            "size": 0,
            "track_total_hits": False,
            "aggs": aggs,
        }

    async def totals(self, workspace_ids: Sequence[str], by_extension: bool) -> Totals:
        """Aggregations: a terms bucket per workspace (exact: its size is the number of ids asked) and,
        when asked, per extension, each with the sum of sizes."""
        if not workspace_ids:
            return Totals()
        try:
            answer = await self._es.search(
                index=self.objects, body=self.totals_body(workspace_ids, by_extension)
            )
        except (EsConnectionError, EsConnectionTimeout) as exc:
            raise _unavailable(exc) from exc
        aggs = answer["aggregations"]

        def buckets(name: str) -> dict[str, tuple[int, int]]:
            return {
                str(b["key"]): (int(b["doc_count"]), int(b["bytes"]["value"])) for b in aggs[name]["buckets"]
            }

        return Totals(
            by_workspace=buckets("by_workspace"),
            by_extension=buckets("by_extension") if by_extension else {},
        )


def _escape_wildcard(text: str) -> str:
    return re.sub(r"([\\*?])", r"\\\1", text)


def text_clauses(text: str) -> list[dict[str, Any]]:
    """Each term of the text must match (AND): `word` a whole word, `pre*` a word prefix, and any term
    as a substring of the path (case ignored)."""
    clauses: list[dict[str, Any]] = []
    for term in text.split():
        lowered = term.lower()
        if lowered.endswith("*") and len(lowered) > 1:
            words = words_of(lowered[:-1])
            if not words:
                continue
            *whole, last = words
            clauses.append(
                {
                    "bool": {
                        "filter": [
                            *({"term": {"words": w}} for w in whole),
                            {"prefix": {"words": last}},
                        ]
                    }
                }
            )
            continue
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"match_phrase": {"words": " ".join(words_of(lowered))}}
                        if words_of(lowered)
                        else {"match_none": {}},
                        {
                            "wildcard": {
                                "path.wild": {
                                    "value": f"*{_escape_wildcard(term)}*",
                                    "case_insensitive": True,
                                }
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return clauses


def _record(src: dict[str, Any]) -> ObjectRecord:
    return ObjectRecord(
        node_id=src["node_id"],
        bucket=src["bucket"],
        key=src["key"],
        workspace_id=src["workspace_id"],
        path=src["path"],
        name=src["name"],
        extension=src["extension"],
        size=int(src["size"]),
        etag=src["etag"],
        modified_at=datetime.fromisoformat(src["modified_at"]),
        content_type=src.get("content_type", ""),
    )


async def open_elastic_index(settings: ElasticSettings, **client_options: Any) -> ElasticObjectIndex:
    """A ready index: the client, the templates and the indices."""
    index = ElasticObjectIndex(client_for(settings, **client_options), settings)
    try:
        await index.ensure()
    except BaseException:
        await index.close()
        raise
    return index
