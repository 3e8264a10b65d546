"""Indexes in the listings' orders, so that a page is read in order and the scan stops after it.

Revision ID: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    op.create_index("ix_workspaces_listing", "workspaces", ["owner_username", "name", "id"], schema=S)
    op.create_index("ix_shares_listing", "shares", ["created_at", "id"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_shares_listing", "shares", schema=S)
    op.drop_index("ix_workspaces_listing", "workspaces", schema=S)
