"""A counter that every change to workspaces or shares advances, so cached credential plans know when the
rights behind them may have changed.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    table = op.create_table(
        "rights_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_rights_revision_one_row"),
        schema=S,
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("rights_revision", schema=S)
