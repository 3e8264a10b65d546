"""Nodes (secrets sealed) and roots.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "nodes"


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("endpoint", sa.String(500), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("access_key", sa.String(256), nullable=False),
        sa.Column("secret_key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("sts_endpoint", sa.String(500), nullable=False),
        sa.Column("role_arn", sa.String(300), nullable=False),
        sa.Column("max_credential_seconds", sa.Integer, nullable=False),
        sa.Column("policy_size_limit", sa.Integer, nullable=False),
        sa.Column("operator_id", UUID(as_uuid=False), nullable=False),
        sa.Column("operator_username", sa.String(63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_detail", sa.Text, nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        schema=S,
    )
    op.create_index("ix_nodes_operator_id", "nodes", ["operator_id"], schema=S)
    op.create_table(
        "roots",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("node_id", UUID(as_uuid=False), sa.ForeignKey(f"{S}.nodes.id"), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("base_prefix", sa.String(512), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("allowed_creators", sa.JSON, nullable=False),
        sa.Column("created_by", UUID(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_roots_node_id", "roots", ["node_id"], schema=S)


def downgrade() -> None:
    op.drop_table("roots", schema=S)
    op.drop_table("nodes", schema=S)
