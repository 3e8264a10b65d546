"""Shares remember the `own` share their creator made them through, so that they are revoked and capped
with it. Shares made before this have none and stay as they are.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    op.add_column("shares", sa.Column("granted_through", UUID(as_uuid=False), nullable=True), schema=S)
    op.create_index("ix_shares_granted_through", "shares", ["granted_through"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_shares_granted_through", "shares", schema=S)
    op.drop_column("shares", "granted_through", schema=S)
