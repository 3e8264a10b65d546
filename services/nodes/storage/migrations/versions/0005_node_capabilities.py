"""What each node's S3 does with session policies (domain.models.Capabilities). Nodes registered before
this are taken as matching objects ignoring case, the safe reading, until `wio node check` probes them.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "nodes"


def upgrade() -> None:
    op.add_column(
        "nodes",
        sa.Column("capabilities", sa.JSON, nullable=False, server_default=sa.text("'{}'::json")),
        schema=S,
    )
    op.alter_column("nodes", "capabilities", server_default=None, schema=S)


def downgrade() -> None:
    op.drop_column("nodes", "capabilities", schema=S)
