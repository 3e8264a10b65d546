"""The workspaces service's tables, all in the `workspaces` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID

from services.common.db import service_metadata
from services.common.jobs import jobs_table
from services.common.outbox import outbox_table

SCHEMA = "workspaces"
metadata = service_metadata(SCHEMA)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("name", String(63), nullable=False, index=True),
    Column("owner_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("owner_username", String(63), nullable=False),
    Column("type", String(16), nullable=False),
    Column("node_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("node_name", String(63), nullable=False),
    Column("root_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("bucket", String(63), nullable=False),
    Column("prefix", String(1024), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # "ready", or "deleting" from the delete until its objects are gone: no credentials, no listing, but
    # its name and prefix stay taken so that a new workspace cannot inherit objects still being removed.
    Column("state", String(16), nullable=False, server_default="ready"),
    UniqueConstraint("owner_id", "name", name="uq_workspaces_owner_name"),
    UniqueConstraint("root_id", "prefix", name="uq_workspaces_root_prefix"),
)

shares = Table(
    "shares",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "workspace_id",
        UUID(as_uuid=False),
        ForeignKey(workspaces.c.id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("sharee_kind", String(8), nullable=False),
    Column("sharee_id", UUID(as_uuid=False), nullable=False, index=True),
    Column("sharee_name", String(63), nullable=False),
    Column("level", Integer, nullable=False),
    Column("created_by", UUID(as_uuid=False), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    # The share its creator managed the workspace through (domain/shares.py): revoked and capped with it.
    Column("granted_through", UUID(as_uuid=False), nullable=True, index=True),
    UniqueConstraint("workspace_id", "sharee_kind", "sharee_id", name="uq_shares_sharee"),
)

# Revocable links (domain/links.py). No foreign key to the workspace: a link outlives nothing, since
# resolving it reads the workspace anew, and its record stays for its creator's listing.
links = Table(
    "links",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    # sha256 of the secret, hex: the secret itself is shown once and kept nowhere.
    Column("secret_hash", String(64), nullable=False),
    Column("creator_id", UUID(as_uuid=False), nullable=False),
    Column("creator_username", String(63), nullable=False),
    Column("workspace_id", UUID(as_uuid=False), nullable=False, index=True),
    # owner/name when the link was made, to show.
    Column("workspace_ref", String(130), nullable=False),
    # The object inside the workspace; its key is the workspace's prefix + path at each use.
    Column("path", String(1024), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_links_creator_created", links.c.creator_id, links.c.created_at)

# Finds the workspaces inside a prefix with a range scan: byte order, whatever the database's collation.
Index("ix_workspaces_root_prefix_bytes", workspaces.c.root_id, workspaces.c.prefix.collate("C"))

# ListWorkspaces walks this in order and stops after a page (services/common/keyset.py).
Index("ix_workspaces_listing", workspaces.c.owner_username, workspaces.c.name, workspaces.c.id)
# ListShares' order.
Index("ix_shares_listing", shares.c.created_at, shares.c.id)

# A counter per scope (domain/revisions.py), advanced in the transaction of each change that affects it.
rights_revisions = Table(
    "rights_revisions",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

outbox = outbox_table(metadata)
jobs = jobs_table(metadata)
