"""The `wio` CLI's config for the local stack: STATE/cli/config.toml, and ~/.config/wio/config.toml when
the user has none."""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path
from typing import Any

from deploy.nats import READER
from deploy.ports import HOST
from deploy.services import SERVICE_ACCOUNTS


def write_cli_config(state_dir: Path, data: dict[str, Any], admin_key: str | None) -> tuple[Path, bool]:
    """state/cli/config.toml (0600) for the `wio` CLI; also ~/.config/wio/config.toml if there is none.

    The admin key is written only here, never to stack.json; without a new key the one already in
    the file is kept. This is the admin's config, so it also holds the read-only NATS user's login
    (`wio events tail`) when the stack runs its own NATS."""
    import tomli_w

    path = state_dir / "cli" / "config.toml"
    key = admin_key
    if key is None and path.is_file():
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            key = tomllib.loads(path.read_text()).get("auth", {}).get("api_key")
    services_addresses = {name: f"{HOST}:{int(data['ports'][name])}" for name in SERVICE_ACCOUNTS}
    document: dict[str, Any] = {
        "server": {"address": f"{HOST}:{int(data['ports']['auth'])}", "services": services_addresses}
    }
    if key:
        document["auth"] = {"api_key": key}
    nats = data.get("nats") or {}
    reader_password = (nats.get("users") or {}).get(READER)
    if not nats.get("external") and nats.get("url") and reader_password:
        document["nats"] = {"url": str(nats["url"]), "user": READER, "password": str(reader_password)}
    text = tomli_w.dumps(document)
    (state_dir / "cli").mkdir(exist_ok=True)
    write_private(path, text)
    user_config = Path.home() / ".config" / "wio" / "config.toml"
    wrote_user_config = False
    if key and not user_config.exists():
        user_config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(user_config, text)
        wrote_user_config = True
    return path, wrote_user_config


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)
