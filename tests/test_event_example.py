"""docs/examples/notify_on_share.py does what docs/events.md says: run as an admin, it prints a notification
for a share this test grants, and its durable consumer catches up on a share granted while it was stopped."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.lab_support import Person, SmallLab, person, small_lab, unique
from tests.test_events_cli import admin_config
from wio.workspaces.v1 import workspaces_pb2

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "notify_on_share.py"


@pytest.fixture(scope="module")
async def lab(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> SmallLab:
    return await small_lab(infra, auth, nodes, "ntf")


class Example:
    def __init__(self, env: dict[str, str], durable: str) -> None:
        self.env = env
        self.durable = durable

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            "--durable",
            self.durable,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=ROOT,
        )

    async def waiting(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        assert line.startswith(f"waiting for shares (durable consumer {self.durable})"), line

    @staticmethod
    async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
        try:
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


async def grant(workspaces: WorkspacesUnderTest, owner: Person, workspace: Any, to: Person) -> Any:
    request = workspaces_pb2.CreateShareRequest(
        workspace=f"{owner.name}/{workspace.name}",
        sharee=to.name,
        permission=workspaces_pb2.PERMISSION_READWRITE,
    )
    return (await workspaces.stub.CreateShare(request, metadata=owner.md)).share


async def test_the_example_notifies_of_a_share_and_catches_up_after_a_stop(
    tmp_path: Path,
    infra: Any,
    lab: SmallLab,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
) -> None:
    config = admin_config(tmp_path / "state", infra, auth, nodes, workspaces)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env.update(WIO_CONFIG=str(config), HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    example = Example(env, unique("notify"))
    alice, bob, carol = await person(auth, "ntfa"), await person(auth, "ntfb"), await person(auth, "ntfc")
    workspace = (
        await workspaces.stub.CreateWorkspace(
            workspaces_pb2.CreateWorkspaceRequest(
                name=unique("shared"), type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE, node=lab.node
            ),
            metadata=alice.md,
        )
    ).workspace

    running = await example.start("--count", "1")
    await example.waiting(running)
    to_bob = await grant(workspaces, alice, workspace, bob)
    code, out, err = await example.finish(running)
    assert code == 0, err
    (line,) = out.splitlines()
    assert line.startswith(f"share granted: workspace {workspace.id} to user ")
    assert f"(readwrite) by {alice.name} [share {to_bob.id}, event " in line

    # Stopped: a share granted now waits in the durable consumer and comes on the next start.
    to_carol = await grant(workspaces, alice, workspace, carol)
    running = await example.start("--count", "1")
    code, out, err = await example.finish(running)
    assert code == 0, err
    (line,) = out.splitlines()
    assert f"[share {to_carol.id}, event " in line and to_bob.id not in line

    code, out, err = await example.finish(await example.start("--forget"))
    assert code == 0 and f"removed the durable consumer {example.durable}" in err
    assert "Traceback" not in err
