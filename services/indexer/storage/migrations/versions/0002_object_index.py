"""The object index (records, tombstones, counters), the crawl ledger and per-workspace index status.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "indexer"

# As in tables.py; a migration keeps its own copy so that later edits there do not rewrite history.
PATH_WORDS_SQL = (
    "to_tsvector('simple'::regconfig, translate("
    "regexp_replace(regexp_replace(regexp_replace(path, "
    "'([[:lower:]])(?=[[:upper:]])', '\\1 ', 'g'), "
    "'([[:alpha:]])(?=[[:digit:]])', '\\1 ', 'g'), "
    "'([[:digit:]])(?=[[:alpha:]])', '\\1 ', 'g'), "
    "'/._-', '    '))"
)


def upgrade() -> None:
    # Trigram operator classes for substring search; the extension lives in the public schema, shared.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    op.create_table(
        "objects",
        sa.Column("node_id", UUID(as_uuid=False), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(collation="C"), nullable=False),
        sa.Column("workspace_id", UUID(as_uuid=False), nullable=False),
        sa.Column("path", sa.Text(collation="C"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(128), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequencer", sa.String(64), nullable=False, server_default=""),
        sa.Column("words", TSVECTOR, sa.Computed(PATH_WORDS_SQL, persisted=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "bucket", "key", name="pk_objects"),
        schema=S,
    )
    # Enough statistics for the planner to tell a rare word, prefix or substring from a common one: it
    # then walks the path index for common ones and collects the matches of rare ones first.
    op.execute(f"ALTER TABLE {S}.objects ALTER COLUMN words SET STATISTICS 1000")
    op.execute(f"ALTER TABLE {S}.objects ALTER COLUMN path SET STATISTICS 1000")
    op.create_index("ix_objects_words", "objects", ["words"], schema=S, postgresql_using="gin")
    op.create_index(
        "ix_objects_path_trgm",
        "objects",
        ["path"],
        schema=S,
        postgresql_using="gin",
        postgresql_ops={"path": "gin_trgm_ops"},
    )
    op.create_index("ix_objects_path", "objects", ["path"], schema=S)
    op.create_index("ix_objects_workspace_id_path", "objects", ["workspace_id", "path"], schema=S)
    op.create_table(
        "tombstones",
        sa.Column("node_id", UUID(as_uuid=False), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(collation="C"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequencer", sa.String(64), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("node_id", "bucket", "key", name="pk_tombstones"),
        schema=S,
    )
    op.create_index("ix_tombstones_deleted_at", "tombstones", ["deleted_at"], schema=S)
    op.create_table(
        "counters",
        sa.Column("workspace_id", UUID(as_uuid=False), nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("objects", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "extension", name="pk_counters"),
        schema=S,
    )
    op.create_table(
        "workspace_counters",
        sa.Column("workspace_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("objects", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.create_table(
        "crawls",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("root_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("node_id", UUID(as_uuid=False), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_after", sa.Text, nullable=False, server_default=""),
        sa.Column("objects", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("added", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("changed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("removed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        schema=S,
    )
    op.create_index(
        "uq_crawls_running_scope",
        "crawls",
        ["kind", "root_id", "workspace_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.execute(f"CREATE SEQUENCE {S}.crawl_generation")
    op.create_table(
        "index_status",
        sa.Column("workspace_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("crawled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drift_added", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("drift_changed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("drift_removed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("state", sa.String(300), nullable=False, server_default="idle"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        schema=S,
    )


def downgrade() -> None:
    for table in ("index_status", "crawls", "workspace_counters", "counters", "tombstones", "objects"):
        op.drop_table(table, schema=S)
    op.execute(f"DROP SEQUENCE {S}.crawl_generation")
