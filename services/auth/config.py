"""Auth's settings: the common ones plus WIO_AUTH_*."""

from __future__ import annotations

import os
from dataclasses import dataclass

from services.common.config import CommonSettings, ConfigError, env, env_float, env_int, load_common


@dataclass(frozen=True)
class AuthSettings:
    common: CommonSettings
    # name -> address of the other services, answered to clients at login.
    directory: dict[str, str]
    # Failed key exchanges allowed per (key id, client address) within the window.
    exchange_max_failures: int = 5
    exchange_window_seconds: float = 60.0
    # argon2 checks at once, and how many more may wait for a thread.
    hash_threads: int = 1
    hash_max_waiting: int = 64


def parse_directory(raw: str) -> dict[str, str]:
    """`nodes=host:port,workspaces=a:1,b:2`: a part without `name=` is one more replica of the service
    before it, so each service may have several addresses."""
    found: dict[str, str] = {}
    name = ""
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, address = part.partition("=")
        if sep and key.strip() and address.strip():
            name = key.strip()
            found[name] = address.strip()
        elif not sep and name:
            found[name] += f",{part}"
        else:
            raise ConfigError(f"WIO_AUTH_DIRECTORY: expected name=host:port, got {part!r}")
    return found


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be above zero, got {value}")


def load() -> AuthSettings:
    settings = AuthSettings(
        common=load_common("auth"),
        directory=parse_directory(env("WIO_AUTH_DIRECTORY")),
        exchange_max_failures=env_int("WIO_AUTH_EXCHANGE_MAX_FAILURES", 5),
        exchange_window_seconds=env_float("WIO_AUTH_EXCHANGE_WINDOW_SECONDS", 60.0),
        hash_threads=env_int("WIO_AUTH_HASH_THREADS", default_hash_threads()),
        hash_max_waiting=env_int("WIO_AUTH_HASH_MAX_WAITING", 64),
    )
    _positive("WIO_AUTH_EXCHANGE_MAX_FAILURES", settings.exchange_max_failures)
    _positive("WIO_AUTH_EXCHANGE_WINDOW_SECONDS", settings.exchange_window_seconds)
    _positive("WIO_AUTH_HASH_THREADS", settings.hash_threads)
    _positive("WIO_AUTH_HASH_MAX_WAITING", settings.hash_max_waiting)
    return settings


def default_hash_threads() -> int:
    """Half the cores: argon2 must leave room for every other call the service answers."""
    return max(1, (os.cpu_count() or 2) // 2)
