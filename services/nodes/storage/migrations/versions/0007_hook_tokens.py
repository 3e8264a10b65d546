"""Each node's storage-event hook token, kept as a SHA-256 hash (domain/hooks.py). Nodes registered
before this have none: their hook is refused until the operator rotates one (`wio node hook-token`).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

S = "nodes"


def upgrade() -> None:
    op.add_column("nodes", sa.Column("hook_token_hash", sa.String(64), nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("nodes", "hook_token_hash", schema=S)
