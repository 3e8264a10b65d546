"""The nodes service's tables, all in the `nodes` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.common.outbox import outbox_table

SCHEMA = "nodes"
metadata = MetaData(schema=SCHEMA)

outbox = outbox_table(metadata)
