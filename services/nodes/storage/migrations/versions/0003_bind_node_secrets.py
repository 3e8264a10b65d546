"""Node secret keys bound to their row: each is sealed again with its node id and field as associated
data, so a ciphertext copied into another row no longer decrypts. Reads the secret key from the
migration's attributes (services.common.server passes WIO_SECRET_KEY).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.secrets import SecretBox

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# As in services/nodes/storage/repository.py at this revision.
PURPOSE = "node-secrets"


def _binding(node_id: str) -> str:
    return f"node:{node_id}:secret_key"


def _reseal(bind: bool) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, secret_key_sealed FROM nodes.nodes FOR UPDATE")).all()
    if not rows:
        return
    config = op.get_context().config
    secret_key = config.attributes.get("secret_key") if config is not None else None
    if not secret_key:
        raise RuntimeError("re-encrypting node secrets needs WIO_SECRET_KEY (the migration was given none)")
    box = SecretBox(str(secret_key), PURPOSE)
    for node_id, sealed in rows:
        old, new = ("", _binding(str(node_id))) if bind else (_binding(str(node_id)), "")
        connection.execute(
            sa.text("UPDATE nodes.nodes SET secret_key_sealed = :sealed WHERE id = :id"),
            {"sealed": box.seal(box.open(bytes(sealed), old), new), "id": node_id},
        )


def upgrade() -> None:
    _reseal(bind=True)


def downgrade() -> None:
    _reseal(bind=False)
