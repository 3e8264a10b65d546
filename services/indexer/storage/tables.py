"""The indexer service's tables, all in the `indexer` schema.

Search columns: `words` is a tsvector over the path split into words (see PATH_WORDS_SQL), and `path` has
a trigram index for substrings. Paths and keys use the "C" collation: byte order for keyset pages and
prefix ranges that an index can serve."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Computed,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID

from services.common.db import service_metadata
from services.common.outbox import outbox_table

SCHEMA = "indexer"
metadata = service_metadata(SCHEMA)

outbox = outbox_table(metadata)

# Words of a path: camelCase and digit runs are split ("myFile2024" -> my file 2024), then '/', '.', '_',
# '-' and spaces separate words; the 'simple' configuration lower-cases them and stems nothing, so a word
# matches exactly what was typed. The same rule lives in Python (domain/querytext.py) for queries.
PATH_WORDS_SQL = (
    "to_tsvector('simple'::regconfig, translate("
    "regexp_replace(regexp_replace(regexp_replace(path, "
    "'([[:lower:]])(?=[[:upper:]])', '\\1 ', 'g'), "
    "'([[:alpha:]])(?=[[:digit:]])', '\\1 ', 'g'), "
    "'([[:digit:]])(?=[[:alpha:]])', '\\1 ', 'g'), "
    "'/._-', '    '))"
)

objects = Table(
    "objects",
    metadata,
    Column("node_id", UUID(as_uuid=False), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("key", Text(collation="C"), nullable=False),
    Column("workspace_id", UUID(as_uuid=False), nullable=False),
    Column("path", Text(collation="C"), nullable=False),
    Column("name", Text, nullable=False),
    Column("extension", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(128), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Column("content_type", String(255), nullable=False, server_default=""),
    # The generation of the crawl that last saw the object (0: only events have).
    Column("generation", BigInteger, nullable=False, server_default="0"),
    # When the record's content last changed here (database time): a sweep keeps what changed after its
    # crawl started.
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # What the newest change applied said: its time (the object's last-modified for a listing) and the
    # node's sequencer when it gives one; an older event is stale.
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("sequencer", String(64), nullable=False, server_default=""),
    Column("words", TSVECTOR, Computed(PATH_WORDS_SQL, persisted=True), nullable=False),
    PrimaryKeyConstraint("node_id", "bucket", "key", name="pk_objects"),
    # Room for a crawl's generation marks on the same page (see migration 0002).
    postgresql_with={"fillfactor": 50},
)
# New words go into the tree at once, not into a pending list that every search reads (migration 0004).
Index("ix_objects_words", objects.c.words, postgresql_using="gin", postgresql_with={"fastupdate": "off"})
Index(
    "ix_objects_path_trgm",
    objects.c.path,
    postgresql_using="gin",
    postgresql_ops={"path": "gin_trgm_ops"},
)
# Pages in path order across all readable workspaces: the whole page order, and beside it what every
# search tests on a record (workspace, words, extension), so that walking the index finds a page's
# records without reading the table (see migration 0004).
Index(
    "ix_objects_path_node_id_bucket_key",
    objects.c.path,
    objects.c.node_id,
    objects.c.bucket,
    objects.c.key,
    postgresql_include=["workspace_id", "extension", "words"],
)
# Within one workspace.
Index("ix_objects_workspace_id_path", objects.c.workspace_id, objects.c.path)

# A deleted key, kept for a while so that an older upsert arriving late does not bring it back.
tombstones = Table(
    "tombstones",
    metadata,
    Column("node_id", UUID(as_uuid=False), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("key", Text(collation="C"), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False, index=True),
    Column("sequencer", String(64), nullable=False, server_default=""),
    PrimaryKeyConstraint("node_id", "bucket", "key", name="pk_tombstones"),
)

# Objects and bytes per workspace and extension, changed in the same statement as the records; a
# workspace's totals are the sum of its rows (a few per workspace), never a scan of records.
counters = Table(
    "counters",
    metadata,
    Column("workspace_id", UUID(as_uuid=False), nullable=False),
    Column("extension", String(32), nullable=False),
    Column("objects", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("workspace_id", "extension", name="pk_counters"),
)

# The same per workspace, so that totals of many workspaces read one row each.
workspace_counters = Table(
    "workspace_counters",
    metadata,
    Column("workspace_id", UUID(as_uuid=False), primary_key=True),
    Column("objects", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)

# Crawls and verifies, persisted so that one resumes after a crash from its last checkpoint.
crawls = Table(
    "crawls",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("root_id", String(64), nullable=False),
    Column("workspace_id", String(64), nullable=False),  # "" for a root crawl
    Column("node_id", UUID(as_uuid=False), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("prefix", Text, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # running, finished, failed
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("checkpoint_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # The continuation point: the last key written before the crawl stopped.
    Column("resume_after", Text, nullable=False, server_default=""),
    Column("objects", BigInteger, nullable=False, server_default="0"),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("added", BigInteger, nullable=False, server_default="0"),
    Column("changed", BigInteger, nullable=False, server_default="0"),
    Column("removed", BigInteger, nullable=False, server_default="0"),
    Column("error", Text, nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="1"),
)
# One running crawl per scope: a second begin() resumes it.
Index(
    "uq_crawls_running_scope",
    crawls.c.kind,
    crawls.c.root_id,
    crawls.c.workspace_id,
    unique=True,
    postgresql_where=text("state = 'running'"),
)

# Per workspace: when it was last crawled and verified, the drift the last verify repaired, and its state
# ("idle", "crawling" or "failed: <reason>").
index_status = Table(
    "index_status",
    metadata,
    Column("workspace_id", UUID(as_uuid=False), primary_key=True),
    Column("crawled_at", DateTime(timezone=True), nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("drift_added", BigInteger, nullable=False, server_default="0"),
    Column("drift_changed", BigInteger, nullable=False, server_default="0"),
    Column("drift_removed", BigInteger, nullable=False, server_default="0"),
    Column("state", String(300), nullable=False, server_default="idle"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

# The generation of each new crawl: one sequence, so generations only grow whatever the scope.
GENERATION_SEQUENCE = "crawl_generation"
