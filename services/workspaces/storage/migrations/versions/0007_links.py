"""Revocable links: a record per link, its secret kept only as a hash. Links made before this were
pre-signed URLs and have no record; they expire on their own.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("creator_id", UUID(as_uuid=False), nullable=False),
        sa.Column("creator_username", sa.String(63), nullable=False),
        sa.Column("workspace_id", UUID(as_uuid=False), nullable=False),
        sa.Column("workspace_ref", sa.String(130), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index("ix_links_creator_created", "links", ["creator_id", "created_at"], schema=S)
    op.create_index("ix_links_workspace_id", "links", ["workspace_id"], schema=S)


def downgrade() -> None:
    op.drop_table("links", schema=S)
