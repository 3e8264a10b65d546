"""The nodes service's tables, all in the `nodes` schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import UUID

from services.common.db import service_metadata
from services.common.jobs import jobs_table
from services.common.outbox import outbox_table

SCHEMA = "nodes"
metadata = service_metadata(SCHEMA)

nodes = Table(
    "nodes",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("endpoint", String(500), nullable=False),
    Column("region", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("access_key", String(256), nullable=False),
    # AES-GCM with a key derived from WIO_SECRET_KEY (services.common.secrets).
    Column("secret_key_sealed", LargeBinary, nullable=False),
    Column("sts_endpoint", String(500), nullable=False),
    Column("role_arn", String(300), nullable=False),
    Column("max_credential_seconds", Integer, nullable=False),
    Column("policy_size_limit", Integer, nullable=False),
    # The connection settings were last set by an admin (NodeSettings.admin_networks).
    Column("admin_networks", Boolean, nullable=False),
    Column("operator_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("operator_username", String(63), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_detail", Text, nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=True),
    Column("latency_ms", Float, nullable=False),
    # domain.models.Capabilities as a JSON object: probed or per-kind facts about session policies.
    Column("capabilities", JSON, nullable=False),
    # SHA-256 (hex) of the storage-event hook token (domain/hooks.py); NULL: none yet, the hook is refused.
    Column("hook_token_hash", String(64), nullable=True),
)

roots = Table(
    "roots",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("node_id", UUID(as_uuid=False), ForeignKey(nodes.c.id), nullable=False, index=True),
    Column("bucket", String(63), nullable=False),
    Column("base_prefix", String(512), nullable=False),
    Column("type", String(16), nullable=False),
    # [{"kind": "user"|"group", "id": ..., "name": ...}]
    Column("allowed_creators", JSON, nullable=False),
    Column("created_by", UUID(as_uuid=False), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
jobs = jobs_table(metadata)
