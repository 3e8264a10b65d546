"""Rights revisions per scope (a workspace name, a user, a group, public workspaces) instead of one row for
everything, and an index that finds the workspaces inside a prefix without reading the whole root.

Plans cached before the upgrade name the old single revision and are simply made again.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "workspaces"


def upgrade() -> None:
    op.create_table(
        "rights_revisions",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.drop_table("rights_revision", schema=S)
    op.create_index(
        "ix_workspaces_root_prefix_bytes",
        "workspaces",
        ["root_id", sa.text('prefix COLLATE "C"')],
        schema=S,
    )


def downgrade() -> None:
    op.drop_index("ix_workspaces_root_prefix_bytes", "workspaces", schema=S)
    table = op.create_table(
        "rights_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_rights_revision_one_row"),
        schema=S,
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])
    op.drop_table("rights_revisions", schema=S)
