"""The workspaces schema's outbox.

Revision ID: 0001
"""

from __future__ import annotations

from alembic import op

from services.common.outbox import create_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    create_outbox(S)


def downgrade() -> None:
    op.drop_table("outbox", schema=S)
