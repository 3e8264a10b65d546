"""Auth's settings: the common ones plus WIO_AUTH_*."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import CommonSettings, ConfigError, env, load_common


@dataclass(frozen=True)
class AuthSettings:
    common: CommonSettings
    # name -> address of the other services, answered to clients at login.
    directory: dict[str, str]


def parse_directory(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, address = part.partition("=")
        if not sep or not name.strip() or not address.strip():
            raise ConfigError(f"WIO_AUTH_DIRECTORY: expected name=host:port, got {part!r}")
        found[name.strip()] = address.strip()
    return found


def load() -> AuthSettings:
    return AuthSettings(common=load_common("auth"), directory=parse_directory(env("WIO_AUTH_DIRECTORY")))
