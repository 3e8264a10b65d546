"""The indexer service's tables, all in the `indexer` schema."""

from __future__ import annotations

from services.common.db import service_metadata
from services.common.outbox import outbox_table

SCHEMA = "indexer"
metadata = service_metadata(SCHEMA)

outbox = outbox_table(metadata)
