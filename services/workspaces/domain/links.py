"""Pre-signed links to one object of a workspace the caller can read."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.workspaces.domain.ports import Nodes, ObjectStore
from services.workspaces.domain.references import References

DEFAULT_LINK_SECONDS = 3600
MAX_LINK_SECONDS = 7 * 24 * 3600


class Links:
    def __init__(self, references: References, nodes: Nodes, store: ObjectStore) -> None:
        self.references = references
        self.nodes = nodes
        self.store = store

    async def create(self, caller: Caller, reference: str, seconds: int) -> tuple[str, datetime]:
        seconds = seconds or DEFAULT_LINK_SECONDS
        if not 1 <= seconds <= MAX_LINK_SECONDS:
            raise DomainError(
                Reason.INVALID_EXPIRY,
                "a link lasts from one second to seven days",
                field="expires_in_seconds",
            )
        resolved = await self.references.resolve(await self.references.principal(caller), reference)
        if not resolved.path or resolved.path.endswith("/"):
            raise DomainError(
                Reason.INVALID_ARGUMENT,
                "name one object inside the workspace, e.g. ws/path/file",
                field="object",
            )
        workspace = resolved.workspace
        _root, access = await self.nodes.root(workspace.root_id)
        key = workspace.prefix + resolved.path
        if not await self.store.exists(access, workspace.bucket, key):
            raise DomainError(Reason.OBJECT_NOT_FOUND, f"no object {workspace.ref}/{resolved.path}")
        url = await self.store.presign_get(access, workspace.bucket, key, seconds)
        return url, datetime.fromtimestamp(time.time() + seconds, UTC)
