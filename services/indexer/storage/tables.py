"""The indexer service's tables, all in the `indexer` schema."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, String, Table, Text

from services.common.db import service_metadata
from services.common.outbox import outbox_table

SCHEMA = "indexer"
metadata = service_metadata(SCHEMA)

outbox = outbox_table(metadata)

# What the last crawl and the last verify of each workspace found (`wio index status`).
workspace_crawls = Table(
    "workspace_crawls",
    metadata,
    Column("workspace_id", String(64), primary_key=True),
    Column("root_id", String(64), nullable=False, index=True),
    Column("node_id", String(64), nullable=False),
    Column("crawled_at", DateTime(timezone=True), nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("drift_added", BigInteger, nullable=False),
    Column("drift_changed", BigInteger, nullable=False),
    Column("drift_removed", BigInteger, nullable=False),
    # "<REASON>: message" of the last crawl covering it that failed; "" once one finished.
    Column("failure", Text, nullable=False),
)
