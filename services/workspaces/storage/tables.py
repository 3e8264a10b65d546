"""The workspaces service's tables, all in the `workspaces` schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.common.outbox import outbox_table

SCHEMA = "workspaces"
metadata = MetaData(schema=SCHEMA)

outbox = outbox_table(metadata)
