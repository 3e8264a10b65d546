"""Jobs (folder markers, removing a deleted workspace's objects) and the workspace state that marks a
workspace being deleted.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.jobs import create_jobs

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    create_jobs(S)
    op.add_column(
        "workspaces", sa.Column("state", sa.String(16), nullable=False, server_default="ready"), schema=S
    )


def downgrade() -> None:
    op.drop_column("workspaces", "state", schema=S)
    op.drop_table("jobs", schema=S)
