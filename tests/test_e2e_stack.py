"""The README's run path end to end: `wio-dev up` starts everything, `wio` works with the printed key,
a second `up` reuses the state, `down` stops exactly what was started."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.ports import SERVICES, pick_free_ports, weed_port_settings

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
KEY_RE = re.compile(r"wio_[A-Za-z0-9]+_[A-Za-z0-9_-]{20,}")


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("stack")
    state.chmod(0o711)  # PostgreSQL runs as an unprivileged user when the tests run as root
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    names = ["WIO_DEV_PG_PORT", "WIO_DEV_NATS_PORT"]
    names += [port.env for port in weed_port_settings().values()]
    names += [f"WIO_DEV_{s.upper()}_PORT" for s in (*SERVICES, "gateway")]
    env.update({name: str(port) for name, port in zip(names, pick_free_ports(len(names)), strict=True)})
    env.update(
        {"WIO_DEV_STATE": str(state / "state"), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    )
    try:
        yield env
    finally:
        subprocess.run([str(BIN / "wio-dev"), "down"], env=env, capture_output=True, timeout=120)


def run(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def test_up_whoami_reuse_and_down(stack_env: dict[str, str]) -> None:
    env = stack_env
    first = run(env, str(BIN / "wio-dev"), "up")
    assert first.returncode == 0, first.stdout + first.stderr
    keys = KEY_RE.findall(first.stdout)
    assert len(set(keys)) == 1, first.stdout
    config = Path(env["WIO_DEV_STATE"]) / "cli" / "config.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    cli_env = {**env, "WIO_CONFIG": str(config)}

    whoami = run(cli_env, str(BIN / "wio"), "whoami", "--json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "admin"
    # The key alone works too, as a user would pass it.
    by_key = run({**env, "WIO_API_KEY": keys[0], "WIO_CONFIG": str(config)}, str(BIN / "wio"), "whoami")
    assert by_key.returncode == 0 and "admin" in by_key.stdout

    # The stack's own SeaweedFS is a node of the first admin, with a private and a public root.
    assert "registered SeaweedFS as node 'local'" in first.stdout
    recorded = json.loads((Path(env["WIO_DEV_STATE"]) / "stack.json").read_text())["local_node"]
    assert set(recorded["roots"]) == {"wio-private", "wio-public"}
    node_ls = run(cli_env, str(BIN / "wio"), "node", "ls")
    assert node_ls.returncode == 0, node_ls.stderr
    assert re.search(r"^\[[0-9T:.-]+\] \S+ http://127\.0\.0\.1:\d+ local online$", node_ls.stdout, re.M), (
        node_ls.stdout
    )
    root_ls = run(cli_env, str(BIN / "wio"), "root", "ls", "--node", "local")
    assert "local wio-private/ (private)" in root_ls.stdout and "local wio-public/ (public)" in root_ls.stdout

    # `wio create` works right away, and brokered credentials reach exactly that workspace.
    created = run(cli_env, str(BIN / "wio"), "create", "results")
    assert created.returncode == 0, created.stderr
    listed = run(cli_env, str(BIN / "wio"), "ws", "ls")
    assert re.search(r"^\[[0-9T:.-]+\] admin/results/ \(private\)$", listed.stdout, re.M), listed.stdout
    # The admin's config holds the read-only NATS login: `wio events tail` shows that workspace's event.
    tail = ["events", "tail", "wio.workspaces.workspace.created", "--since", "1h", "--count", "1", "--json"]
    tailed = run(cli_env, str(BIN / "wio"), *tail, timeout=60)
    assert tailed.returncode == 0, tailed.stderr
    assert json.loads(tailed.stdout)["event"]["name"] == "results", tailed.stdout
    probe = (
        "import boto3, os, sys\n"
        "s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n"
        "s3.put_object(Bucket='wio-private', Key='admin/results/a.txt', Body=b'a')\n"
        "try:\n"
        "    s3.put_object(Bucket='wio-private', Key='admin/other/a.txt', Body=b'a')\n"
        "except Exception as exc:\n"
        "    sys.exit('refused' if 'AccessDenied' in str(exc) else repr(exc))\n"
    )
    executed = run(cli_env, str(BIN / "wio"), "exec", "results", "--", sys.executable, "-c", probe)
    # The command's own last line; gRPC's C core may log above it on a machine short of threads.
    assert executed.returncode == 1, executed.stderr
    assert executed.stderr.strip().splitlines()[-1] == "refused", executed.stderr

    # A link to it points at the launcher's gateway, which redirects to the object.
    linked = run(cli_env, str(BIN / "wio"), "link", "results/a.txt", "--expires", "5m")
    assert linked.returncode == 0, linked.stderr
    gateway_port = json.loads((Path(env["WIO_DEV_STATE"]) / "stack.json").read_text())["gateway"]["port"]
    url = linked.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{gateway_port}/l/"), url
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local gateway
        assert response.read() == b"a"

    # The object put with brokered credentials came back from SeaweedFS's webhook through the gateway.
    assert "Storage events: the local SeaweedFS posts to http://127.0.0.1:" in first.stdout
    _storage_event_arrived(Path(env["WIO_DEV_STATE"]), "/buckets/wio-private/admin/results/a.txt")
    _nats_accepts_only_wio(Path(env["WIO_DEV_STATE"]))
    status = run(env, str(BIN / "wio-dev"), "status")
    assert status.returncode == 0, status.stdout + status.stderr

    # A second up reuses everything and never prints a key it no longer knows.
    second = run(env, str(BIN / "wio-dev"), "up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not KEY_RE.findall(second.stdout)
    assert "admin-key" in second.stdout
    again = run(cli_env, str(BIN / "wio"), "whoami")
    assert again.returncode == 0, again.stderr

    fresh = run(env, str(BIN / "wio-dev"), "admin-key")
    assert fresh.returncode == 0, fresh.stderr
    new_keys = KEY_RE.findall(fresh.stdout)
    assert len(new_keys) == 1 and new_keys[0] != keys[0]
    with_new = run({**env, "WIO_API_KEY": new_keys[0], "WIO_CONFIG": str(config)}, str(BIN / "wio"), "whoami")
    assert with_new.returncode == 0, with_new.stderr

    state = json.loads((Path(env["WIO_DEV_STATE"]) / "stack.json").read_text())
    # PostgreSQL's generated password reaches the services and nothing that is shown or logged.
    password = state["postgres_password"]
    assert password in state["postgres"]["url"]
    logs_dir = Path(env["WIO_DEV_STATE"]) / "logs"
    # The logs name users and workspaces: no other account on the machine may read them.
    assert stat.S_IMODE(logs_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in logs_dir.iterdir()} == {0o600}
    logs = [p.read_text(errors="replace") for p in logs_dir.iterdir()]
    for shown in (first.stdout, first.stderr, second.stdout, status.stdout, fresh.stderr, *logs):
        assert password not in shown
    down = run(env, str(BIN / "wio-dev"), "down")
    assert down.returncode == 0, down.stdout + down.stderr
    pids = _pids(state)
    assert pids, state.keys()
    assert not [pid for pid in pids if _alive(pid)]
    refused = run(cli_env, str(BIN / "wio"), "whoami")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def _pids(state: object) -> list[int]:
    """Every recorded process id in the launcher's state."""
    found: list[int] = []
    if isinstance(state, dict):
        pid = state.get("pid")
        if isinstance(pid, int):
            found.append(pid)
        for value in state.values():
            found.extend(_pids(value))
    elif isinstance(state, list):
        for value in state:
            found.extend(_pids(value))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    # A zombie has exited; only its parent's bookkeeping is left.
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _nats_accepts_only_wio(state_dir: Path) -> None:
    """The launched NATS refuses a client without a user; its generated passwords appear in no log and
    in no process's arguments."""
    state = json.loads((state_dir / "stack.json").read_text())
    users = state["nats"]["users"]
    assert set(users) == {*SERVICES, "gateway", "reader"}
    with socket.create_connection(("127.0.0.1", state["nats"]["port"]), timeout=5) as sock:
        sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        answer = b""
        while b"-ERR" not in answer and b"PONG" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert b"Authorization Violation" in answer, answer
    logs = "".join(path.read_text(errors="replace") for path in (state_dir / "logs").iterdir())
    arguments = "".join(
        Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        for pid in _pids(state)
        if _alive(pid)
    )
    for password in users.values():
        assert password not in logs and password not in arguments


def _storage_event_arrived(state_dir: Path, key: str) -> None:
    """WIO_INGEST holds SeaweedFS's report of `key`, from the local node, read as the read-only user."""
    import asyncio
    import time

    import nats

    state = json.loads((state_dir / "stack.json").read_text())
    node_id = state["local_node"]["id"]

    async def find() -> list[object]:
        nc = await nats.connect(
            state["nats"]["url"], user="reader", password=state["nats"]["users"]["reader"]
        )
        try:
            js = nc.jetstream()
            sub = await js.subscribe("wio.ingest.>", stream="WIO_INGEST", ordered_consumer=True)
            found: list[Any] = []
            deadline = time.monotonic() + 30
            while not found and time.monotonic() < deadline:
                try:
                    msg = await sub.next_msg(timeout=1)
                except nats.errors.TimeoutError:
                    continue
                if json.loads(msg.data).get("key") == key:
                    found.append(msg)
            return [(m.subject, m.headers) for m in found]
        finally:
            await nc.close()

    assert asyncio.run(find())[:1] == [(f"wio.ingest.s3.{node_id}", {"Wio-Node-Id": node_id})]
