"""The object index in Elasticsearch 8 or 9 (the official client's async API), behind the ObjectIndex port.

The rules are PostgreSQL's (storage/pg_index.py); the tests of tests/test_index_contract.py hold both.
Two indices, each created from an index template with an explicit mapping:
- `<prefix>-objects`: one document per record, id = a hash of node, bucket and key. Besides the record it
  holds the words of the path (split as PostgreSQL's tsvector is: words_of below), the
  path again as a `wildcard` field for substrings, the crawl generation that last saw it, when its content
  last changed here (`updated_at`) and the mark of the change it holds (`changed_us`, `sequencer`).
- `<prefix>-tombstones`: one document per deleted key with the mark of the delete, so a late event or a
  listing older than the delete does not bring the object back.

A record never goes back in time: each change runs as a painless script on the document itself, which
compares marks and refuses an older change, atomically per document (Elasticsearch retries the script on a
version conflict). Costs, in requests: a listing batch 2 (an mget of its tombstones, one bulk of scripted
upserts that also answers what each did, so counting needs no read); an event 3 (an mget of the record's and
the tombstone's marks, the scripted change, and the clean-up of the other document).

Limits: a delete that lands between a listing batch's tombstone read and its bulk write can be undone by
that write until the next crawl's sweep (PostgreSQL's statement has the same window, shorter); a caller
may read at most 65,536 workspaces (the cluster's `index.max_terms_count`); totals are aggregations over
the records, and modification times sort to the millisecond.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout as EsConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import async_bulk, async_streaming_bulk

from services.common.errors import DomainError, Reason
from services.indexer.config import ElasticSettings
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
from services.indexer.domain.querytext import Term, TermKind, parse, split_words

# Distinct extensions one totals answer can hold (a terms aggregation needs a size).
MAX_EXTENSIONS = 10_000


_NOT_WORD = re.compile(r"[^\w]+")


def words_of(words: Sequence[str]) -> list[str]:
    """Words as the index holds them: split_words's, cut again at any character that is neither a letter
    nor a digit, as PostgreSQL's text parser cuts them in the stored tsvector (`(v3)` is `v`, `3`). Used
    for paths and for the words of a query alike."""
    return [part for word in words for part in _NOT_WORD.split(word) if part]


def doc_id(node_id: str, bucket: str, key: str) -> str:
    """A stable id for a key on a node (keys are up to 1,024 bytes, more than an id may hold)."""
    return hashlib.sha256(f"{node_id}\0{bucket}\0{key}".encode()).hexdigest()


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def micros(at: datetime) -> int:
    """A time as whole microseconds since the epoch: PostgreSQL's precision, exact in a long."""
    at = _utc(at)
    return int(at.replace(microsecond=0).timestamp()) * 1_000_000 + at.microsecond


def _iso(at: datetime) -> str:
    return _utc(at).isoformat()


def _sequencer_order(value: str) -> tuple[int, str]:
    # MinIO's sequencers are hexadecimal: a longer one is a larger number.
    return (len(value), value.upper())


def is_newer(at_us: int, sequencer: str, than_us: int | None, than_sequencer: str) -> bool:
    """Whether a change comes after a mark; the sequencers decide when both have one (PostgreSQL's rule,
    and NEWER_PAINLESS's)."""
    if than_us is None:
        return True
    if sequencer and than_sequencer:
        return _sequencer_order(sequencer) > _sequencer_order(than_sequencer)
    return at_us > than_us


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
        # Prefixes up to 12 characters are indexed, so `word*` is one term lookup, not an expansion.
        "words": {
            "type": "text",
            "analyzer": "wio_words",
            "index_prefixes": {"min_chars": 1, "max_chars": 12},
        },
        "size": {"type": "long"},
        "etag": {"type": "keyword", "index": False},
        "modified_at": {"type": "date"},
        "content_type": {"type": "keyword", "index": False},
        "generation": {"type": "long"},
        "updated_at": {"type": "date"},
        "changed_us": {"type": "long", "index": False},
        "sequencer": {"type": "keyword", "index": False},
        # What the last listing write did to this document (added, changed, unchanged): read back in the
        # bulk answer, so counting costs no read before the write.
        "written": {"type": "keyword", "index": False, "doc_values": False},
    },
}

TOMBSTONE_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "node_id": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "key": {"type": "keyword"},
        "deleted_at": {"type": "date"},
        "changed_us": {"type": "long", "index": False},
        "sequencer": {"type": "keyword", "index": False},
    },
}

# The words are split and lower-cased in Python (words_of) and joined with spaces: the analyzer only
# cuts at spaces (and keeps words as long as a key), so the index holds exactly the words a query names.
WORDS_ANALYSIS: dict[str, Any] = {
    "tokenizer": {"wio_spaces": {"type": "whitespace", "max_token_length": 1024}},
    "analyzer": {"wio_words": {"type": "custom", "tokenizer": "wio_spaces"}},
}

# is_newer in painless. A tie is not newer: a redelivered event changes nothing.
NEWER_PAINLESS = """
boolean newer(def at, def seq, def theirAt, def theirSeq) {
  if (theirAt == null) { return true; }
  String s = seq == null ? '' : (String) seq;
  String t = theirSeq == null ? '' : (String) theirSeq;
  if (s.length() > 0 && t.length() > 0) {
    if (s.length() != t.length()) { return s.length() > t.length(); }
    return s.toUpperCase().compareTo(t.toUpperCase()) > 0;
  }
  return ((Number) at).longValue() > ((Number) theirAt).longValue();
}
"""

# A listing's record. Its content replaces the record's when it differs and the listed object is not
# older than the change the record holds (an event newer than the listing keeps its content); either way
# the record is marked with the crawl's generation. `written` says which of added/changed/unchanged.
WRITE_SCRIPT = """
def s = ctx._source;
def d = params.doc;
if (!s.containsKey('key')) {
  s.putAll(d);
  s.changed_us = params.at; s.sequencer = ''; s.updated_at = params.now;
  s.generation = params.generation; s.written = 'added';
} else {
  boolean same = true;
  for (String f : params.compare) {
    def a = s[f]; def b = d[f];
    if (a instanceof Number && b instanceof Number) {
      if (((Number) a).longValue() != ((Number) b).longValue()) { same = false; }
    } else if (a != b) { same = false; }
  }
  String contentType = s.content_type;
  if (!same && ((Number) params.at).longValue() >= ((Number) s.changed_us).longValue()) {
    s.putAll(d);
    s.changed_us = params.at; s.sequencer = ''; s.updated_at = params.now; s.written = 'changed';
  } else {
    s.written = 'unchanged';
  }
  s.content_type = d.content_type != '' ? d.content_type : contentType;
  s.generation = Math.max(((Number) s.generation).longValue(), ((Number) params.generation).longValue());
}
"""

# One change reported by a node: upserted unless the record holds a change that is not older.
UPSERT_SCRIPT = (
    NEWER_PAINLESS
    + """
def s = ctx._source;
if (s.containsKey('key') && !newer(params.at, params.seq, s.changed_us, s.sequencer)) {
  ctx.op = 'noop';
} else {
  def generation = s.containsKey('generation') ? s.generation : 0;
  String contentType = s.containsKey('content_type') ? s.content_type : '';
  s.putAll(params.doc);
  if (params.doc.content_type == '') { s.content_type = contentType; }
  s.changed_us = params.at; s.sequencer = params.seq; s.updated_at = params.now;
  s.generation = generation; s.written = 'event';
}
"""
)

# Removes the document (a record or a tombstone) if the mark is newer than the change it holds.
DELETE_OLDER_SCRIPT = (
    NEWER_PAINLESS
    + """
if (newer(params.at, params.seq, ctx._source.changed_us, ctx._source.sequencer)) { ctx.op = 'delete'; }
else { ctx.op = 'noop'; }
"""
)

# Keeps the newest delete of a key.
TOMBSTONE_SCRIPT = (
    NEWER_PAINLESS
    + """
def s = ctx._source;
if (s.containsKey('key') && !newer(params.at, params.seq, s.changed_us, s.sequencer)) {
  ctx.op = 'noop';
} else {
  s.putAll(params.doc);
}
"""
)

# What makes a listed object differ from its record (name and extension follow from the path), as in
# PostgreSQL.
COMPARED_FIELDS = ("workspace_id", "path", "size", "etag", "modified_at")

_SORT_FIELDS = {SortField.PATH: "path", SortField.SIZE: "size", SortField.MODIFIED: "modified_at"}
_MARK_FIELDS = ["changed_us", "sequencer"]
_REFRESH = {"wait_for": "wait_for", "true": True, "false": False}


def client_for(settings: ElasticSettings, **options: Any) -> AsyncElasticsearch:
    """The official async client; `options` reach its constructor (e.g. a node_class)."""
    config: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    if settings.api_key:
        config["api_key"] = settings.api_key
    if settings.ca_file:
        config["ca_certs"] = settings.ca_file
    return AsyncElasticsearch(settings.url, **{**config, **options})


def _unavailable(exc: Exception) -> DomainError:
    # Named by its type only: the transport's message may carry the URL, and a URL may carry credentials.
    return DomainError(
        Reason.DEPENDENCY_UNAVAILABLE, f"the search index is unavailable ({type(exc).__name__})"
    )


_UNREACHABLE = (EsConnectionError, EsConnectionTimeout)


def term_query(term: Term) -> dict[str, Any]:
    """One parsed term as a filter: words in a row (the last one a prefix for `word*`) over the split
    path, or a substring of the path with case ignored."""
    if term.kind is TermKind.SUBSTRING:
        escaped = re.sub(r"([\\*?])", r"\\\1", term.substring)
        return {"wildcard": {"path.wild": {"value": f"*{escaped}*", "case_insensitive": True}}}
    words = words_of(term.words)
    if not words:
        return {"match_none": {}}
    if term.kind is TermKind.WORD:
        return {"match_phrase": {"words": " ".join(words)}}
    *whole, last = words
    if not whole:
        return {"prefix": {"words": last}}
    return {
        "span_near": {
            "clauses": [
                *({"span_term": {"words": word}} for word in whole),
                {"span_multi": {"match": {"prefix": {"words": {"value": last}}}}},
            ],
            "slop": 0,
            "in_order": True,
        }
    }


class ElasticObjectIndex:
    """ObjectIndex on Elasticsearch. `open_elastic_index` builds one ready to use (templates and indices
    in place)."""

    def __init__(self, client: AsyncElasticsearch, settings: ElasticSettings) -> None:
        self._es = client
        self._settings = settings
        self.objects = f"{settings.index_prefix}-objects"
        self.tombstones = f"{settings.index_prefix}-tombstones"
        self._refresh: Any = _REFRESH[settings.refresh]

    # -- set-up ------------------------------------------------------------------------------------------

    def templates(self) -> dict[str, dict[str, Any]]:
        """The index templates, by name (each matches exactly its index)."""
        settings = {
            "number_of_shards": self._settings.shards,
            "number_of_replicas": self._settings.replicas,
        }
        meta = {"owner": "wio indexer"}
        return {
            self.objects: {
                "index_patterns": [self.objects],
                "priority": 200,
                "template": {
                    "settings": {**settings, "analysis": WORDS_ANALYSIS},
                    "mappings": OBJECT_MAPPING,
                },
                "meta": meta,
            },
            self.tombstones: {
                "index_patterns": [self.tombstones],
                "priority": 200,
                "template": {"settings": settings, "mappings": TOMBSTONE_MAPPING},
                "meta": meta,
            },
        }

    async def ensure(self) -> None:
        """Puts the templates and creates the indices that do not exist yet (idempotent)."""
        try:
            for name, body in self.templates().items():
                await self._es.indices.put_index_template(name=name, **body)
                if not await self._es.indices.exists(index=name):
                    try:
                        await self._es.indices.create(index=name)
                    except ApiError as exc:
                        if exc.error != "resource_already_exists_exception":
                            raise
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc

    async def drop(self) -> None:
        """Deletes both indices and their templates (tests; an operator leaving this backend)."""
        await self._es.indices.delete(index=[self.objects, self.tombstones], ignore_unavailable=True)
        for name in (self.objects, self.tombstones):
            await self._es.options(ignore_status=404).indices.delete_index_template(name=name)

    async def close(self) -> None:
        await self._es.close()

    # -- listings ----------------------------------------------------------------------------------------

    @staticmethod
    def _source(record: ObjectRecord) -> dict[str, Any]:
        return {
            "node_id": record.node_id,
            "bucket": record.bucket,
            "key": record.key,
            "workspace_id": record.workspace_id,
            "path": record.path,
            "name": record.name,
            "extension": record.extension,
            "words": " ".join(words_of(split_words(record.path))),
            "size": record.size,
            "etag": record.etag,
            "modified_at": _iso(record.modified_at),
            "content_type": record.content_type,
        }

    async def _deleted_after_listing(self, records: Sequence[ObjectRecord]) -> set[str]:
        """Ids of records whose key was deleted after the listing saw the object."""
        ids = [doc_id(r.node_id, r.bucket, r.key) for r in records]
        answer = await self._es.mget(index=self.tombstones, ids=ids, source_includes=_MARK_FIELDS)
        deleted_us = {d["_id"]: int(d["_source"]["changed_us"]) for d in answer["docs"] if d.get("found")}
        return {
            id_
            for id_, r in zip(ids, records, strict=True)
            if id_ in deleted_us and deleted_us[id_] > micros(r.modified_at)
        }

    async def write(self, records: Sequence[ObjectRecord], generation: int) -> WriteCounts:
        """One bulk request of scripted upserts (after an mget of the batch's tombstones); each item of its
        answer carries the `written` mark its script set, which is what is counted."""
        if not records:
            return WriteCounts()
        # One action per key (the last wins), as PostgreSQL's statement; the rest count as unchanged.
        unique = list({(r.node_id, r.bucket, r.key): r for r in records}.values())
        now = _iso(datetime.now(UTC))
        counts = {"added": 0, "changed": 0, "unchanged": 0}
        failures: list[str] = []
        try:
            skipped = await self._deleted_after_listing(unique)
            actions = [
                {
                    "_op_type": "update",
                    "_index": self.objects,
                    "_id": id_,
                    "_source": ["written"],
                    "retry_on_conflict": 5,
                    "scripted_upsert": True,
                    "upsert": {},
                    "script": {
                        "lang": "painless",
                        "source": WRITE_SCRIPT,
                        "params": {
                            "doc": self._source(r),
                            "at": micros(r.modified_at),
                            "generation": generation,
                            "now": now,
                            "compare": list(COMPARED_FIELDS),
                        },
                    },
                }
                for r in unique
                if (id_ := doc_id(r.node_id, r.bucket, r.key)) not in skipped
            ]
            if actions:
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
                    written = result.get("get", {}).get("_source", {}).get("written")
                    if written not in counts:
                        failures.append(f"unexpected answer {written!r}")
                        continue
                    counts[written] += 1
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc
        if failures:
            raise DomainError(
                Reason.DEPENDENCY_UNAVAILABLE,
                f"the search index refused {len(failures)} of {len(records)} records ({failures[0]})",
            )
        counts["unchanged"] = len(records) - counts["added"] - counts["changed"]
        return WriteCounts(**counts)

    async def bulk_load(self, records: Sequence[ObjectRecord], generation: int, chunk: int = 5000) -> int:
        """Bulk load for benchmarks and tests of scale (helpers.async_bulk of plain index actions, then a
        refresh): PostgreSQL's copy_records. Not for a live index: no marks compared, no tombstones read,
        nothing counted."""
        now = _iso(datetime.now(UTC))
        actions = (
            {
                "_op_type": "index",
                "_index": self.objects,
                "_id": doc_id(r.node_id, r.bucket, r.key),
                "_source": {
                    **self._source(r),
                    "generation": generation,
                    "updated_at": now,
                    "changed_us": micros(r.modified_at),
                    "sequencer": "",
                    "written": "added",
                },
            }
            for r in records
        )
        loaded, _ = await async_bulk(self._es, actions, chunk_size=chunk, max_retries=3, initial_backoff=0.5)
        await self._es.indices.refresh(index=self.objects)
        return loaded

    # -- events ------------------------------------------------------------------------------------------

    async def _marks(self, id_: str) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
        """The marks of the record and of the tombstone of a key (None where there is none)."""
        answer = await self._es.mget(
            docs=[
                {"_index": self.objects, "_id": id_, "_source": _MARK_FIELDS},
                {"_index": self.tombstones, "_id": id_, "_source": _MARK_FIELDS},
            ]
        )
        marks: list[tuple[int, str] | None] = []
        for doc in answer["docs"]:
            src = doc.get("_source") if doc.get("found") else None
            marks.append((int(src["changed_us"]), str(src.get("sequencer", ""))) if src else None)
        return marks[0], marks[1]

    async def _tombstone(self, id_: str) -> tuple[int, str] | None:
        try:
            found = await self._es.get(index=self.tombstones, id=id_, source_includes=_MARK_FIELDS)
        except NotFoundError:
            return None
        return int(found["_source"]["changed_us"]), str(found["_source"].get("sequencer", ""))

    async def _delete_older(self, index: str, id_: str, at: int, seq: str, refresh: Any) -> str:
        """Deletes the document unless it holds a newer change: "deleted", "noop" or "missing"."""
        try:
            answer = await self._es.update(
                index=index,
                id=id_,
                script={
                    "lang": "painless",
                    "source": DELETE_OLDER_SCRIPT,
                    "params": {"at": at, "seq": seq},
                },
                retry_on_conflict=5,
                refresh=refresh,
            )
        except NotFoundError:
            return "missing"
        return str(answer["result"])

    async def apply(self, change: ObjectChange, record: ObjectRecord | None) -> ApplyResult:
        """A change, stale unless newer than both the record's mark and the tombstone's (is_newer)."""
        at, seq = micros(change.occurred_at), change.sequencer
        id_ = doc_id(change.node_id, change.bucket, change.key)
        try:
            record_mark, tomb_mark = await self._marks(id_)
            for mark in (record_mark, tomb_mark):
                if mark is not None and not is_newer(at, seq, *mark):
                    return ApplyResult.STALE
            if change.deleted or record is None:
                return await self._apply_delete(id_, change, at, seq)
            return await self._apply_upsert(id_, record, at, seq)
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc

    async def _apply_upsert(self, id_: str, record: ObjectRecord, at: int, seq: str) -> ApplyResult:
        answer = await self._es.update(
            index=self.objects,
            id=id_,
            script={
                "lang": "painless",
                "source": UPSERT_SCRIPT,
                "params": {
                    "doc": self._source(record),
                    "at": at,
                    "seq": seq,
                    "now": _iso(datetime.now(UTC)),
                },
            },
            upsert={},
            scripted_upsert=True,
            retry_on_conflict=5,
            refresh=self._refresh,
        )
        if answer["result"] == "noop":
            return ApplyResult.STALE  # a newer change reached the record since the marks were read
        # The create clears an older tombstone. A tombstone that is not older is a delete that raced this
        # change (it found no record to remove, or the one this change replaced): it wins.
        if await self._delete_older(self.tombstones, id_, at, seq, refresh=False) == "noop":
            tomb = await self._tombstone(id_)
            if (
                tomb is not None
                and await self._delete_older(self.objects, id_, *tomb, refresh=self._refresh) == "deleted"
            ):
                return ApplyResult.STALE
        return ApplyResult.UPSERTED

    async def _apply_delete(self, id_: str, change: ObjectChange, at: int, seq: str) -> ApplyResult:
        tomb = {
            "node_id": change.node_id,
            "bucket": change.bucket,
            "key": change.key,
            "deleted_at": _iso(change.occurred_at),
            "changed_us": at,
            "sequencer": seq,
        }
        await self._es.update(
            index=self.tombstones,
            id=id_,
            script={
                "lang": "painless",
                "source": TOMBSTONE_SCRIPT,
                "params": {"doc": tomb, "at": at, "seq": seq},
            },
            upsert={},
            scripted_upsert=True,
            retry_on_conflict=5,
        )
        # Written before the record goes: a create racing this delete then finds the tombstone.
        await self._delete_older(self.objects, id_, at, seq, refresh=self._refresh)
        return ApplyResult.DELETED

    # -- removals ----------------------------------------------------------------------------------------

    async def _delete_by_query(self, index: str, filters: list[dict[str, Any]]) -> int:
        """Deletes what matches, seen after a refresh (delete_by_query reads only refreshed documents,
        and tombstones are written without one); refreshed again after, so searches agree at once."""
        try:
            await self._es.indices.refresh(index=index)
            answer = await self._es.delete_by_query(
                index=index,
                query={"bool": {"filter": filters}},
                conflicts="proceed",
                refresh=True,
            )
        except _UNREACHABLE as exc:
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
        """Records under the prefix that this crawl did not see (an older generation) and whose content
        did not change since it started. A record that changes while the delete runs is a version
        conflict, skipped (`conflicts=proceed`), never deleted."""
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
        gone = await self._delete_by_query(self.objects, [{"term": {"node_id": node_id}}])
        await self._delete_by_query(self.tombstones, [{"term": {"node_id": node_id}}])
        return gone

    async def forget_prefix(self, node_id: str, bucket: str, prefix: str) -> int:
        return await self._delete_by_query(self.objects, self._under(node_id, bucket, prefix))

    async def expire_tombstones(self, older_than: datetime) -> int:
        return await self._delete_by_query(
            self.tombstones, [{"range": {"deleted_at": {"lt": _iso(older_than)}}}]
        )

    # -- questions ---------------------------------------------------------------------------------------

    def search_body(self, query: SearchQuery) -> dict[str, Any]:
        """A search request: only the `terms` filter on the caller's workspace ids grants a result; every
        other clause is a filter too, so it can only narrow."""
        filters: list[dict[str, Any]] = [{"terms": {"workspace_id": list(query.workspace_ids)}}]
        filters.extend(term_query(term) for term in parse(query.text))
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
        order = "desc" if query.descending else "asc"
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters}},
            "sort": [
                {_SORT_FIELDS[query.sort]: order},
                {"node_id": order},
                {"bucket": order},
                {"key": order},
            ],
            "size": query.limit + 1,
            "track_total_hits": False,
            "_source": {"includes": list(_RECORD_FIELDS)},
        }
        if query.after is not None:
            value, node_id, bucket, key = query.after
            if isinstance(value, datetime):
                # Dates sort in milliseconds there: the keyset value is cut to the same precision.
                value = micros(value) // 1000
            body["search_after"] = [value, node_id, bucket, key]
        return body

    async def search(self, query: SearchQuery) -> SearchPage:
        if not query.workspace_ids:
            return SearchPage(records=[], has_more=False)
        body = self.search_body(query)
        try:
            answer = await self._es.search(index=self.objects, body=body)
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc
        hits = answer["hits"]["hits"]
        records = [_record(hit["_source"]) for hit in hits[: query.limit]]
        return SearchPage(records=records, has_more=len(hits) > query.limit)

    @staticmethod
    def totals_body(workspace_ids: Sequence[str], by_extension: bool) -> dict[str, Any]:
        """Sums over the caller's workspaces: a terms bucket per workspace (exact: sized to the ids asked
        for) and, when asked, per extension, each with the sum of sizes."""
        bytes_ = {"bytes": {"sum": {"field": "size"}}}
        n = len(workspace_ids)
        aggs: dict[str, Any] = {
            "by_workspace": {"terms": {"field": "workspace_id", "size": n, "shard_size": n}, "aggs": bytes_}
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
        if not workspace_ids:
            return Totals()
        try:
            answer = await self._es.search(
                index=self.objects, body=self.totals_body(workspace_ids, by_extension)
            )
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc
        aggs = answer["aggregations"]

        def buckets(name: str) -> dict[str, tuple[int, int]]:
            return {
                str(b["key"]): (int(b["doc_count"]), round(b["bytes"]["value"]))
                for b in aggs[name]["buckets"]
            }

        return Totals(
            by_workspace=buckets("by_workspace"),
            by_extension=buckets("by_extension") if by_extension else {},
        )


_RECORD_FIELDS = (
    "node_id",
    "bucket",
    "key",
    "workspace_id",
    "path",
    "name",
    "extension",
    "size",
    "etag",
    "modified_at",
    "content_type",
)


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
