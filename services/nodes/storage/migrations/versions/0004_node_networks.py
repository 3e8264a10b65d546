"""Which networks a node may be on: `admin_networks` is true when an admin last set its connection.

Nodes registered before this revision keep working where they are (true): each passed a full S3 and STS
check when it was registered. A later change of their endpoint by a non-admin sets it to false.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "nodes",
        sa.Column("admin_networks", sa.Boolean, nullable=False, server_default=sa.true()),
        schema="nodes",
    )
    op.alter_column("nodes", "admin_networks", server_default=None, schema="nodes")


def downgrade() -> None:
    op.drop_column("nodes", "admin_networks", schema="nodes")
