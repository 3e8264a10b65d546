"""`wio events tail` as an admin runs it: the installed CLI in its own process, with the config the
launcher writes for the admin (deploy/cli_config.py, holding the read-only NATS login), against the real
services and NATS JetStream. It prints the events of a workspace and a share this test makes."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli import errors
from cli.commands.events import parse_since, render, stream_filters
from deploy.cli_config import write_cli_config
from deploy.nats import READER
from tests.conftest import AuthUnderTest, NodesUnderTest, WorkspacesUnderTest
from tests.lab_support import SmallLab, person, small_lab, unique
from tests.test_cli_nodes import Cli
from wio.workspaces.v1 import events_pb2, workspaces_pb2

WIO = str(Path(sys.executable).with_name("wio"))


# Without servers ---------------------------------------------------------------------------------------


@pytest.mark.unit
def test_patterns_become_one_consumer_per_stream() -> None:
    assert stream_filters([]) == {
        "WIO_AUTH": ["wio.auth.>"],
        "WIO_NODES": ["wio.nodes.>"],
        "WIO_WORKSPACES": ["wio.workspaces.>"],
        "WIO_INDEXER": ["wio.indexer.>"],
    }
    assert stream_filters(["wio.*.workspace.created", "wio.workspaces.share.*"]) == {
        "WIO_AUTH": ["wio.auth.workspace.created"],
        "WIO_NODES": ["wio.nodes.workspace.created"],
        "WIO_WORKSPACES": ["wio.workspaces.workspace.created", "wio.workspaces.share.*"],
        "WIO_INDEXER": ["wio.indexer.workspace.created"],
    }
    # Raw storage reports are not events: read only when named.
    assert stream_filters(["wio.ingest.>"]) == {"WIO_INGEST": ["wio.ingest.>"]}
    # A pattern another one covers is dropped: a consumer's filters may not overlap.
    assert stream_filters(["wio.workspaces.share.granted", "wio.workspaces.>"]) == {
        "WIO_WORKSPACES": ["wio.workspaces.>"]
    }
    for bad in ("wio.nope.user.created", "other.thing", "wio.auth", "wio.a>.b", "wio..x", "wio.>.x"):
        with pytest.raises(errors.CliError) as refused:
            stream_filters([bad])
        assert refused.value.exit_code == errors.EXIT_USAGE


@pytest.mark.unit
def test_since_takes_durations_and_times() -> None:
    now = 1_800_000_000.0
    assert parse_since("90s", now) == now - 90
    assert parse_since("1h30m", now) == now - 5400
    assert parse_since("2d", now) == now - 172800
    assert parse_since("2027-01-15T08:00:00Z", now) == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    assert parse_since("2027-01-15T08:00:00", now) == parse_since("2027-01-15T08:00:00+00:00", now)
    with pytest.raises(errors.CliError):
        parse_since("yesterday", now)


@pytest.mark.unit
def test_unknown_subjects_are_printed_not_dropped() -> None:
    line = json.loads(render("wio.later.thing.happened", "WIO_LATER", 3, b"\x01\x02", as_json=True))
    assert line == {
        "subject": "wio.later.thing.happened",
        "stream": "WIO_LATER",
        "sequence": 3,
        "type": None,
        "payload_base64": "AQI=",
    }
    raw = json.loads(render("wio.ingest.s3.n1", "WIO_INGEST", 4, b'{"Records": []}', as_json=True))
    assert raw["type"] == "raw" and raw["event"] == {"body": {"Records": []}}
    event = events_pb2.ShareChangedEvent(share_id="s1", workspace_id="w1", sharee_kind="user")
    event.meta.actor.username = "alice"
    plain = render("wio.workspaces.share.granted", "WIO_WORKSPACES", 7, event.SerializeToString(), False)
    assert plain.startswith("[-] wio.workspaces.share.granted WIO_WORKSPACES#7 by alice {")
    assert '"share_id":"s1"' in plain


@pytest.mark.unit
def test_the_launcher_puts_the_reader_login_in_the_admin_config_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data: dict[str, Any] = {
        "ports": {name: 1000 + at for at, name in enumerate(("auth", "nodes", "workspaces", "indexer"))},
        "nats": {
            "external": False,
            "url": "nats://127.0.0.1:4333",
            "users": {READER: "pw", "auth": "svc-pw"},
        },
    }
    path, _wrote = write_cli_config(tmp_path, data, "wio_key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = tomllib.loads(path.read_text())
    assert written["nats"] == {"url": "nats://127.0.0.1:4333", "user": READER, "password": "pw"}
    # Only the reader's password: no service's NATS login.
    assert "svc-pw" not in path.read_text()
    # A NATS the stack did not start has no login the launcher knows.
    data["nats"] = {"external": True, "url": "nats://10.0.0.1:4222"}
    path, _wrote = write_cli_config(tmp_path, data, "wio_key")
    assert "nats" not in tomllib.loads(path.read_text())


# Against the services ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def lab(
    infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> SmallLab:
    return await small_lab(infra, auth, nodes, "evt")


def admin_config(
    folder: Path, infra: Any, auth: AuthUnderTest, nodes: NodesUnderTest, workspaces: WorkspacesUnderTest
) -> Path:
    """The admin's config as the launcher writes it, pointing at this run's services and NATS."""
    user, password = infra.nats_login(READER)
    port = {"auth": auth.address, "nodes": nodes.address, "workspaces": workspaces.address, "indexer": "x:1"}
    data = {
        "ports": {name: int(address.rsplit(":", 1)[1]) for name, address in port.items()},
        "nats": {"external": False, "url": infra.nats_url, "users": {READER: password}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path, _wrote = write_cli_config(folder, data, auth.admin_key)
    if user != READER:  # a NATS from the environment: its one user
        path.write_text(path.read_text().replace(f'user = "{READER}"', f'user = "{user}"'))
    return path


@pytest.fixture
def admin(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    infra: Any,
    auth: AuthUnderTest,
    nodes: NodesUnderTest,
    workspaces: WorkspacesUnderTest,
) -> Cli:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # write_cli_config also fills a missing user config
    return Cli(tmp_path / "home", admin_config(tmp_path / "state", infra, auth, nodes, workspaces))


def read_text(path: str) -> str:
    return Path(path).read_text()


async def new_workspace(workspaces: WorkspacesUnderTest, lab: SmallLab, who: Any) -> Any:
    request = workspaces_pb2.CreateWorkspaceRequest(
        name=unique("evt"), type=workspaces_pb2.WORKSPACE_TYPE_PRIVATE, node=lab.node
    )
    return (await workspaces.stub.CreateWorkspace(request, metadata=who.md)).workspace


@pytest.mark.integration
async def test_tail_since_prints_the_workspace_this_test_created(
    admin: Cli, lab: SmallLab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice = await person(auth, "evta")
    # Earlier tests' events are published within milliseconds of their commit: after this pause, the
    # first workspace.created event from `since` on is this test's own.
    await asyncio.sleep(0.5)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    workspace = await new_workspace(workspaces, lab, alice)
    code, out, err = await admin(
        "events", "tail", "wio.workspaces.workspace.created", "--since", since, "--count", "1", "--json"
    )
    assert code == 0, err
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["subject"] == "wio.workspaces.workspace.created"
    assert record["stream"] == "WIO_WORKSPACES" and record["sequence"] >= 1
    assert record["type"] == "wio.workspaces.v1.WorkspaceCreatedEvent"
    event = record["event"]
    assert event["workspace_id"] == workspace.id and event["name"] == workspace.name
    assert event["type"] == "WORKSPACE_TYPE_PRIVATE"
    assert event["meta"]["actor"]["username"] == alice.name
    assert "Traceback" not in err


@pytest.mark.integration
async def test_live_tail_shows_a_share_as_it_is_granted_and_stops_on_ctrl_c(
    admin: Cli, lab: SmallLab, auth: AuthUnderTest, workspaces: WorkspacesUnderTest
) -> None:
    alice, bob = await person(auth, "evtb"), await person(auth, "evtc")
    workspace = await new_workspace(workspaces, lab, alice)
    process = await asyncio.create_subprocess_exec(
        WIO,
        "events",
        "tail",
        "wio.workspaces.share.*",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=admin.env,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        ready = await asyncio.wait_for(process.stderr.readline(), 30)
        assert ready.decode().startswith("watching wio.workspaces.share.*"), ready
        share = (
            await workspaces.stub.CreateShare(
                workspaces_pb2.CreateShareRequest(
                    workspace=f"{alice.name}/{workspace.name}",
                    sharee=bob.name,
                    permission=workspaces_pb2.PERMISSION_READ,
                ),
                metadata=alice.md,
            )
        ).share
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        # The plain form: time, subject, stream#sequence, actor, the event without its meta.
        assert " wio.workspaces.share.granted WIO_WORKSPACES#" in line and f" by {alice.name} " in line
        body = json.loads(line.split(f" by {alice.name} ", 1)[1])
        assert body["share_id"] == share.id and body["workspace_id"] == workspace.id
        assert body["permission"] == "PERMISSION_READ" and body["sharee_kind"] == "user"
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    rest = (await process.stderr.read()).decode()
    assert code == errors.EXIT_INTERRUPTED, rest
    assert "Traceback" not in rest


@pytest.mark.integration
async def test_without_the_reader_login_or_with_a_wrong_one_it_says_so(
    admin: Cli, tmp_path: Path, auth: AuthUnderTest, infra: Any
) -> None:
    # A user's config (no [nats]): a clear error before anything is sent.
    _user, key = await auth.new_user("evtd")
    config = tmp_path / "user.toml"
    config.write_text(f'[server]\naddress = "{auth.address}"\n[auth]\napi_key = "{key}"\n')
    plain = Cli(tmp_path, config)
    code, out, err = await plain("events", "tail", "--count", "1")
    assert code == errors.EXIT_CONFIG and out == ""
    assert err.startswith("error: `wio events tail` reads every tenant's events, so it is for admins")
    assert "[nats]" in err and len(err.splitlines()) == 1

    admin_text = read_text(admin.env["WIO_CONFIG"])
    if infra.nats_users_enforced:
        wrong = tmp_path / "wrong.toml"
        _user, password = infra.nats_login(READER)
        wrong.write_text(admin_text.replace(password, "not-the-password"))
        code, out, err = await Cli(tmp_path, wrong)("events", "tail", "--count", "1")
        assert code == errors.EXIT_AUTH, err
        assert "refused user 'reader'" in err and "not-the-password" not in err
    gone = tmp_path / "gone.toml"
    gone.write_text(admin_text.replace(infra.nats_url, "nats://127.0.0.1:1"))
    code, out, err = await Cli(tmp_path, gone)("events", "tail", "--count", "1")
    assert code == errors.EXIT_UNAVAILABLE, err
    assert err.startswith("error: cannot reach NATS at nats://127.0.0.1:1")
    remote = tmp_path / "remote.toml"
    remote.write_text(admin_text.replace(infra.nats_url, "nats://192.0.2.1:4222"))
    code, out, err = await Cli(tmp_path, remote)("events", "tail", "--count", "1")
    assert code == errors.EXIT_CONFIG and "plaintext" in err, err
    code, out, err = await admin("events", "tail", "wio.nope.>")
    assert code == errors.EXIT_USAGE and "the domains are" in err
