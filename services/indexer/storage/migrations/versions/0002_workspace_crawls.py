"""What the last crawl and verify of each workspace found.

Revision ID: 0002_crawls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_crawls"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "indexer"


def upgrade() -> None:
    op.create_table(
        "workspace_crawls",
        sa.Column("workspace_id", sa.String(64), primary_key=True),
        sa.Column("root_id", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("crawled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drift_added", sa.BigInteger, nullable=False),
        sa.Column("drift_changed", sa.BigInteger, nullable=False),
        sa.Column("drift_removed", sa.BigInteger, nullable=False),
        sa.Column("failure", sa.Text, nullable=False),
        schema=S,
    )
    op.create_index("ix_workspace_crawls_root_id", "workspace_crawls", ["root_id"], schema=S)


def downgrade() -> None:
    op.drop_table("workspace_crawls", schema=S)
