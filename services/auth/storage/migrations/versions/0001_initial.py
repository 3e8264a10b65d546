"""Users, groups, memberships, API keys, signing keys and the outbox.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from services.common.outbox import create_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "auth"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("username", sa.String(63), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=True, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_table(
        "groups",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_by", UUID(as_uuid=False), sa.ForeignKey(f"{S}.users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            UUID(as_uuid=False),
            sa.ForeignKey(f"{S}.groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", UUID(as_uuid=False), sa.ForeignKey(f"{S}.users.id"), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"], schema=S)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", UUID(as_uuid=False), sa.ForeignKey(f"{S}.users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        schema=S,
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], schema=S)
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(32), primary_key=True),
        sa.Column("private_key_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    create_outbox(S)


def downgrade() -> None:
    for table in ("outbox", "signing_keys", "api_keys", "group_members", "groups", "users"):
        op.drop_table(table, schema=S)
