"""The state folder's stack.json and its lock.

stack.json (mode 0600) records the ports, the generated secrets and exactly which processes were started;
it is replaced whole on every write, so a crash never leaves half a file. One `up`, `down` or
`admin-key` works on a state folder at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploy.errors import LaunchError

STATE_ENV = "WIO_DEV_STATE"
DEFAULT_STATE = ".wio-dev"
STATE_VERSION = 1


def state_dir_from(argument: str | None) -> Path:
    return Path(argument or os.environ.get(STATE_ENV) or DEFAULT_STATE).expanduser().absolute()


def stack_file(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def load_state(state_dir: Path) -> dict[str, Any] | None:
    path = stack_file(state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LaunchError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise LaunchError(f"{path} was not written by this version of wio-dev; move the folder away")
    return data


def save_state(state_dir: Path, data: dict[str, Any]) -> None:
    """Written to a new 0600 file and renamed over the old one, so a crash never leaves half a file."""
    path = stack_file(state_dir)
    temporary = path.with_name(f".stack.json.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(temporary, path)


@contextlib.contextmanager
def locked(state_dir: Path, wait: bool = False) -> Iterator[None]:
    """One `up`, `down` or `admin-key` at a time per state folder."""
    with open(state_dir / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise LaunchError(f"another wio-dev command is working on {state_dir}; wait for it") from exc
        yield


def busy(state_dir: Path) -> bool:
    """Whether another wio-dev command holds the state folder's lock."""
    try:
        with locked(state_dir):
            return False
    except LaunchError:
        return True
