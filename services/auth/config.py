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


def load() -> AuthSettings:
    return AuthSettings(common=load_common("auth"), directory=parse_directory(env("WIO_AUTH_DIRECTORY")))
