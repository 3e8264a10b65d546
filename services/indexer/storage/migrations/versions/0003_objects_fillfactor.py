"""Records on half-full pages.

A crawl that finds a record unchanged only marks its generation; with room on the page that new version
stays there (a HOT update) and touches no index. Measured on 1,000 unchanged records: 91 ms instead of
744 ms with full pages, for twice the table's size. Pages written before this keep their old fill until
rewritten.

Revision ID: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "indexer"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.objects SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.objects RESET (fillfactor)")
