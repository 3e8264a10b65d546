"""Jobs: bucket creation for new roots, run after the commit instead of inside it.

Revision ID: 0006
"""

from __future__ import annotations

from alembic import op

from services.common.jobs import create_jobs

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "nodes"


def upgrade() -> None:
    create_jobs(S)


def downgrade() -> None:
    op.drop_table("jobs", schema=S)
