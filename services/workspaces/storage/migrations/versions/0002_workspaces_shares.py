"""Workspaces and shares.

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

S = "workspaces"


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("owner_id", UUID(as_uuid=False), nullable=False),
        sa.Column("owner_username", sa.String(63), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("node_id", UUID(as_uuid=False), nullable=False),
        sa.Column("node_name", sa.String(63), nullable=False),
        sa.Column("root_id", UUID(as_uuid=False), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("prefix", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner_id", "name", name="uq_workspaces_owner_name"),
        sa.UniqueConstraint("root_id", "prefix", name="uq_workspaces_root_prefix"),
        schema=S,
    )
    for column in ("name", "owner_id", "node_id", "root_id"):
        op.create_index(f"ix_workspaces_{column}", "workspaces", [column], schema=S)
    op.create_table(
        "shares",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column(
            "workspace_id",
            UUID(as_uuid=False),
            sa.ForeignKey(f"{S}.workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sharee_kind", sa.String(8), nullable=False),
        sa.Column("sharee_id", UUID(as_uuid=False), nullable=False),
        sa.Column("sharee_name", sa.String(63), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("created_by", UUID(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("workspace_id", "sharee_kind", "sharee_id", name="uq_shares_sharee"),
        schema=S,
    )
    op.create_index("ix_shares_sharee_id", "shares", ["sharee_id"], schema=S)
    op.create_index("ix_shares_workspace_id", "shares", ["workspace_id"], schema=S)


def downgrade() -> None:
    op.drop_table("shares", schema=S)
    op.drop_table("workspaces", schema=S)
