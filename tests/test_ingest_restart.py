"""Storage events wait in JetStream while the indexer is down: stop the indexer (its own process, killed),
make 500 changes, start it again, and all 500 arrive in the index. Once with 500 real uploads to a
SeaweedFS whose webhook reaches the gateway, once with 500 bodies published as the gateway publishes
them."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import test_workspaces
from tests.conftest import AuthUnderTest, WorkspacesUnderTest, _service_key, free_port
from tests.hooked_node import HookedNode, hook_gateway, hooked, hooked_workspace
from tests.ingest_support import (
    Gateway,
    gateway_nats,
    health_answers,
    index_engine,
    indexed,
    minio_body,
    until,
)
from tests.service_process import ServiceProcess, service_env
from tests.test_workspaces import Lab, create, person

pytestmark = pytest.mark.integration

lab = test_workspaces.lab
__all__ = ["gateway_nats", "hook_gateway", "hooked", "index_engine", "lab"]

EVENTS = 500


async def indexer_env(
    infra: Any, auth: AuthUnderTest, workspaces: WorkspacesUnderTest, address: str
) -> dict[str, str]:
    return service_env(
        infra,
        "indexer",
        {
            "WIO_AUTH_ADDRESS": auth.address,
            "WIO_WORKSPACES_ADDRESS": workspaces.address,
            "WIO_INDEXER_LISTEN": address,
            "WIO_INDEXER_SERVICE_API_KEY": await _service_key(auth, "indexer"),
        },
    )


async def run_once(address: str, env: dict[str, str], log: Path) -> None:
    """Starts the indexer until it answers (its durable consumer exists from then on), then kills it."""
    first = ServiceProcess("indexer", address, env, log)
    try:
        await first.wait_ready(health_answers)
    finally:
        first.kill()


async def all_arrive(
    address: str, env: dict[str, str], log: Path, index_engine: Any, workspace_id: str, keys: set[str]
) -> None:
    """Starts the indexer again and waits until the workspace's records are exactly `keys`."""
    second = ServiceProcess("indexer", address, env, log)
    try:
        await second.wait_ready(health_answers)

        async def arrived() -> bool:
            return set(await indexed(index_engine, workspace_id)) == keys

        await until(arrived, within=90, what=f"all {len(keys)} records")
    finally:
        second.kill()


async def test_events_published_while_the_indexer_is_down_all_arrive(
    lab: Lab,
    infra: Any,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    gateway_nats: Gateway,
    index_engine: Any,
    tmp_path: Path,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = await indexer_env(infra, auth, workspaces, address)
    owner = await person(auth, "rst")
    ws = await create(workspaces, owner, lab, "private")

    await run_once(address, env, tmp_path / "indexer-1.log")

    now = datetime.now(UTC)
    keys = {f"{ws.prefix}batch/{i:04d}.dat" for i in range(EVENTS)}
    for key in sorted(keys):
        await gateway_nats.publish(ws.node_id, minio_body("s3:ObjectCreated:Put", ws.bucket, key, now, 1))
    assert await indexed(index_engine, ws.id) == {}  # nobody consumed them

    await all_arrive(address, env, tmp_path / "indexer-2.log", index_engine, ws.id, keys)


async def test_uploads_made_while_the_indexer_is_down_all_arrive(
    hooked: HookedNode,
    infra: Any,
    auth: AuthUnderTest,
    workspaces: WorkspacesUnderTest,
    index_engine: Any,
    tmp_path: Path,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = await indexer_env(infra, auth, workspaces, address)
    owner = await person(auth, "rup")
    ws, s3 = await hooked_workspace(workspaces, owner, hooked, "down")

    await run_once(address, env, tmp_path / "indexer-1.log")

    # The uploads, with the owner's brokered credentials, a few at a time.
    keys = {f"{ws.prefix}uploads/{i:04d}.txt" for i in range(EVENTS)}

    def upload(key: str) -> None:
        s3.put_object(Bucket=ws.bucket, Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(upload, key)) for key in sorted(keys)))
    assert await indexed(index_engine, ws.id) == {}  # nobody consumed them

    await all_arrive(address, env, tmp_path / "indexer-2.log", index_engine, ws.id, keys)
