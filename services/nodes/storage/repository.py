"""SQL implementation of the nodes repository; node secrets are sealed before they reach a row."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import SessionFactory, execute_unique
from services.common.errors import DomainError, Reason
from services.common.jobs import JobQueue
from services.common.keyset import keyset
from services.common.outbox import Outbox
from services.common.pages import SortKey
from services.common.secrets import SecretBox
from services.common.unit_of_work import SqlTransactions, is_uuid
from services.nodes.domain.models import Capabilities, Creator, Node, NodeSettings, Root
from services.nodes.events.publishers import OutboxNodesEvents
from services.nodes.storage import tables as t


def secret_binding(node_id: str) -> str:
    """What a node's sealed secret key is bound to (migration 0003 wrote the same for existing rows)."""
    return f"node:{node_id}:secret_key"


# Built once: every workspace create confirms its root (and node) with these.
ROOTS = (
    select(t.roots, t.nodes.c.name.label("node_name"))
    .join(t.nodes, t.nodes.c.id == t.roots.c.node_id)
    .order_by(t.roots.c.created_at)
)
ROOT_BY_ID = ROOTS.where(t.roots.c.id == bindparam("root_id"))
NODE_BY_ID = select(t.nodes).where(t.nodes.c.id == bindparam("ref"))
NODE_BY_NAME = select(t.nodes).where(t.nodes.c.name == bindparam("ref"))


class SqlNodesRepository:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.s = session
        self.box = box
        self.jobs = JobQueue(t.jobs)

    async def add_job(self, kind: str, payload: Mapping[str, Any]) -> str:
        return await self.jobs.add(self.s, kind, payload)

    def _node(self, row: Any) -> Node:
        settings = NodeSettings(
            name=row.name,
            endpoint=row.endpoint,
            region=row.region,
            kind=row.kind,
            access_key=row.access_key,
            secret_key=self.box.open(row.secret_key_sealed, secret_binding(str(row.id))).decode(),
            sts_endpoint=row.sts_endpoint,
            role_arn=row.role_arn,
            max_credential_seconds=row.max_credential_seconds,
            policy_size_limit=row.policy_size_limit,
            admin_networks=row.admin_networks,
        )
        return Node(
            id=str(row.id),
            settings=settings,
            operator_id=str(row.operator_id),
            operator_username=row.operator_username,
            created_at=row.created_at,
            status=row.status,
            status_detail=row.status_detail,
            last_seen_at=row.last_seen_at,
            latency_ms=row.latency_ms,
            capabilities=Capabilities(**row.capabilities),
        )

    def _settings_values(self, node_id: str, s: NodeSettings) -> dict[str, Any]:
        return {
            "name": s.name,
            "endpoint": s.endpoint,
            "region": s.region,
            "kind": s.kind,
            "access_key": s.access_key,
            "secret_key_sealed": self.box.seal(s.secret_key.encode(), secret_binding(node_id)),
            "sts_endpoint": s.sts_endpoint,
            "role_arn": s.role_arn,
            "max_credential_seconds": s.max_credential_seconds,
            "policy_size_limit": s.policy_size_limit,
            "admin_networks": s.admin_networks,
        }

    async def add_node(self, node: Node) -> None:
        await execute_unique(
            self.s,
            insert(t.nodes).values(
                id=node.id,
                operator_id=node.operator_id,
                operator_username=node.operator_username,
                created_at=node.created_at,
                status=node.status,
                status_detail=node.status_detail,
                last_seen_at=node.last_seen_at,
                latency_ms=node.latency_ms,
                capabilities=dataclasses.asdict(node.capabilities),
                **self._settings_values(node.id, node.settings),
            ),
            lambda _: self._name_taken(node.name),
        )

    @staticmethod
    def _name_taken(name: str) -> DomainError:
        return DomainError(Reason.NODE_NAME_TAKEN, f"node {name!r} exists")

    async def node(self, ref: str) -> Node | None:
        statement = NODE_BY_ID if is_uuid(ref) else NODE_BY_NAME
        row = (await self.s.execute(statement, {"ref": ref})).first()
        return self._node(row) if row else None

    async def node_by_id(self, node_id: str) -> Node | None:
        if not is_uuid(node_id):
            return None
        row = (await self.s.execute(NODE_BY_ID, {"ref": node_id})).first()
        return self._node(row) if row else None

    async def list_nodes(self) -> list[Node]:
        rows = (await self.s.execute(select(t.nodes).order_by(t.nodes.c.created_at))).all()
        return [self._node(r) for r in rows]

    async def page_nodes(self, after: SortKey | None, limit: int) -> list[Node]:
        order = (t.nodes.c.created_at, t.nodes.c.id)
        return [
            self._node(r) for r in (await self.s.execute(keyset(select(t.nodes), order, after, limit))).all()
        ]

    async def set_hook_token(self, node_id: str, token_hash: str) -> None:
        query = update(t.nodes).where(t.nodes.c.id == node_id).values(hook_token_hash=token_hash)
        await self.s.execute(query)

    async def hook_token(self, ref: str) -> tuple[str, str | None] | None:
        column = t.nodes.c.id if is_uuid(ref) else t.nodes.c.name
        query = select(t.nodes.c.id, t.nodes.c.hook_token_hash).where(column == ref)
        row = (await self.s.execute(query)).first()
        return (str(row.id), row.hook_token_hash) if row else None

    async def update_settings(self, node_id: str, settings: NodeSettings) -> Node:
        result = await execute_unique(
            self.s,
            update(t.nodes)
            .where(t.nodes.c.id == node_id)
            .values(**self._settings_values(node_id, settings))
            .returning(*t.nodes.c),
            lambda _: self._name_taken(settings.name),
        )
        return self._node(result.one())

    async def set_status(
        self, node_id: str, status: str, detail: str, latency_ms: float, seen: datetime | None
    ) -> None:
        await self.s.execute(
            update(t.nodes)
            .where(t.nodes.c.id == node_id)
            .values(status=status, status_detail=detail[:1000], latency_ms=latency_ms, last_seen_at=seen)
        )

    async def set_capabilities(self, node_id: str, capabilities: Capabilities) -> None:
        await self.s.execute(
            update(t.nodes)
            .where(t.nodes.c.id == node_id)
            .values(capabilities=dataclasses.asdict(capabilities))
        )

    async def lock_endpoint(self, endpoint_key: str) -> None:
        await self.s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"endpoint:{endpoint_key}"))))

    async def delete_node(self, node_id: str) -> None:
        await self.s.execute(delete(t.nodes).where(t.nodes.c.id == node_id))

    async def lock_node_roots(self, node_id: str) -> None:
        await self.s.execute(select(t.nodes.c.id).where(t.nodes.c.id == node_id).with_for_update())

    @staticmethod
    def _root(row: Any) -> Root:
        return Root(
            id=str(row.id),
            node_id=str(row.node_id),
            node_name=row.node_name,
            bucket=row.bucket,
            base_prefix=row.base_prefix,
            type=row.type,
            created_by=str(row.created_by),
            created_at=row.created_at,
            allowed_creators=tuple(Creator(c["kind"], c["id"], c["name"]) for c in row.allowed_creators),
        )

    async def add_root(self, root: Root) -> None:
        await self.s.execute(
            insert(t.roots).values(
                id=root.id,
                node_id=root.node_id,
                bucket=root.bucket,
                base_prefix=root.base_prefix,
                type=root.type,
                allowed_creators=[
                    {"kind": c.kind, "id": c.id, "name": c.name} for c in root.allowed_creators
                ],
                created_by=root.created_by,
                created_at=root.created_at,
            )
        )

    async def root(self, root_id: str) -> Root | None:
        if not is_uuid(root_id):
            return None
        row = (await self.s.execute(ROOT_BY_ID, {"root_id": root_id})).first()
        return self._root(row) if row else None

    async def list_roots(self, node_id: str | None) -> list[Root]:
        query = ROOTS
        if node_id is not None:
            query = query.where(t.roots.c.node_id == node_id)
        return [self._root(r) for r in (await self.s.execute(query)).all()]

    async def page_roots(self, node_id: str | None, after: SortKey | None, limit: int) -> list[Root]:
        query = ROOTS.order_by(None)
        if node_id is not None:
            query = query.where(t.roots.c.node_id == node_id)
        order = (t.roots.c.created_at, t.roots.c.id)
        return [self._root(r) for r in (await self.s.execute(keyset(query, order, after, limit))).all()]

    async def delete_root(self, root_id: str) -> None:
        await self.s.execute(delete(t.roots).where(t.roots.c.id == root_id))


def transactions(
    sessions: SessionFactory, outbox: Outbox, box: SecretBox, reads: SessionFactory | None = None
) -> SqlTransactions[SqlNodesRepository, OutboxNodesEvents]:
    return SqlTransactions(
        sessions, outbox, lambda session: SqlNodesRepository(session, box), OutboxNodesEvents, reads
    )
