"""Background health probes: one independent task per node, so a dead node delays nobody else."""

from __future__ import annotations

import asyncio
import logging

from services.common.tasks import cancel_and_wait
from services.nodes.domain.service import NodesService

log = logging.getLogger(__name__)


class HealthMonitor:
    def __init__(self, nodes: NodesService, interval_seconds: float) -> None:
        self.nodes = nodes
        self.interval_seconds = interval_seconds
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def _probe(self, node_id: str) -> None:
        node = await self.nodes.node_access(node_id)
        check = await self.nodes.connector.check(node.settings)
        await self.nodes.record_probe(node_id, check)

    async def probe_all_once(self) -> None:
        """Start a probe for every node that has none running; a slow node is simply skipped a round."""
        for node in await self.nodes.list_nodes():
            running = self._probes.get(node.id)
            if running is not None and not running.done():
                continue
            self._probes[node.id] = asyncio.create_task(
                self._probe_logged(node.id), name=f"probe-{node.name}"
            )
        for node_id in [k for k, t in self._probes.items() if t.done()]:
            self._probes.pop(node_id)

    async def _probe_logged(self, node_id: str) -> None:
        try:
            await self._probe(node_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("health probe of node %s failed: %s", node_id, exc)

    async def run(self) -> None:
        while True:
            try:
                await self.probe_all_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("health round failed: %s", exc)
            await asyncio.sleep(self.interval_seconds)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="node-health")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._probes.values()) if t is not None]
        await asyncio.gather(*(cancel_and_wait(task) for task in tasks))
        self._task = None
        self._probes.clear()
