"""The indexer service's tables, all in the `indexer` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.common.outbox import outbox_table

SCHEMA = "indexer"
metadata = MetaData(schema=SCHEMA)

outbox = outbox_table(metadata)
