"""Auth's tables, all in the `auth` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, LargeBinary, String, Table, Text
from sqlalchemy.dialects.postgresql import UUID

from services.common.db import service_metadata
from services.common.outbox import outbox_table

SCHEMA = "auth"
metadata = service_metadata(SCHEMA)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("username", String(63), nullable=False, unique=True),
    Column("email", String(254), nullable=True, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

groups = Table(
    "groups",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", UUID(as_uuid=False), ForeignKey(users.c.id), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", UUID(as_uuid=False), ForeignKey(groups.c.id, ondelete="CASCADE"), primary_key=True),
    Column("user_id", UUID(as_uuid=False), ForeignKey(users.c.id), primary_key=True, index=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", UUID(as_uuid=False), ForeignKey(users.c.id), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(32), primary_key=True),
    # PKCS8 PEM sealed with WIO_SECRET_KEY (services.common.secrets).
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
