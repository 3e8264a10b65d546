"""The CLI's config file (~/.config/wio/config.toml) and its WIO_* environment overrides.

```
[server]
address = "127.0.0.1:50151"          # the identity service; the others come from its directory;
                                      # "10.0.0.1:50151,10.0.0.2:50151" names replicas
[server.services]
nodes = "127.0.0.1:50152"
[auth]
api_key = "..."
[tls]                                 # all optional
ca = "/path/ca.pem"                   # trust this CA (TLS is on when ca, cert or key is set)
cert = "/path/client.pem"             # client certificate, with key
key = "/path/client.key"
enabled = true                        # TLS with the system's CAs and no files
insecure = true                       # allow plaintext to a non-loopback host
[nats]                                # admins only: `wio events tail` reads every tenant's events
url = "nats://127.0.0.1:4222"
user = "reader"                       # the read-only NATS user
password = "..."
```
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.errors import ConfigError

AUTH_SERVICE = "auth"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class TlsConfig:
    ca: str = ""
    cert: str = ""
    key: str = ""
    enabled: bool = False
    insecure: bool = False

    @property
    def active(self) -> bool:
        return self.enabled or bool(self.ca or self.cert or self.key)


@dataclass(frozen=True)
class NatsLogin:
    """The read-only NATS user's login, which only an admin's config holds."""

    url: str = ""
    user: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return f"NatsLogin(url={self.url!r}, user={self.user!r})"

    @property
    def complete(self) -> bool:
        return bool(self.url and self.user and self.password)


@dataclass(frozen=True)
class Config:
    path: Path
    address: str = ""
    # Only the addresses learnt from `address`'s own directory; see load_config.
    services: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    tls: TlsConfig = field(default_factory=TlsConfig)
    nats: NatsLogin = field(default_factory=NatsLogin)

    @property
    def token_cache_path(self) -> Path:
        # Next to the config, so two configs (two stacks) never share tokens.
        return self.path.with_name("token.json")

    def service_address(self, service: str) -> str | None:
        if service == AUTH_SERVICE:
            return self.address or None
        return self.services.get(service)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("WIO_CONFIG"):
        return Path(env["WIO_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or ""
    # XDG says a relative value is invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "wio" / "config.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's raw tables; {} when it does not exist yet."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = config_path(env) if path is None else path
    raw = read_config_file(path)
    server = _table(raw, "server", path)
    auth = _table(raw, "auth", path)
    tls = _table(raw, "tls", path)
    nats = _table(raw, "nats", path)

    file_address = _string(server, "address", "server", path)
    address = env.get("WIO_ADDRESS") or file_address
    services: dict[str, str] = {}
    # A directory stored for another server must not be used with an overridden address.
    if address == file_address:
        table = _table(server, "services", path, "server.services")
        services = {name: _string(table, name, "server.services", path) for name in table}

    return Config(
        path=path,
        address=address,
        services=services,
        api_key=env.get("WIO_API_KEY") or _string(auth, "api_key", "auth", path),
        tls=TlsConfig(
            ca=env.get("WIO_TLS_CA") or _string(tls, "ca", "tls", path),
            cert=env.get("WIO_TLS_CERT") or _string(tls, "cert", "tls", path),
            key=env.get("WIO_TLS_KEY") or _string(tls, "key", "tls", path),
            enabled=_flag(env, "WIO_TLS", tls, "enabled", path),
            insecure=_flag(env, "WIO_TLS_INSECURE", tls, "insecure", path),
        ),
        nats=NatsLogin(*(_string(nats, key, "nats", path) for key in ("url", "user", "password"))),
    )


def save_login(path: Path, address: str, services: Mapping[str, str], api_key: str) -> None:
    """Store a login in the file, keeping its other tables (e.g. [tls]) as they are."""
    raw = read_config_file(path)
    server = dict(_table(raw, "server", path))
    server["address"] = address
    server["services"] = dict(sorted(services.items()))
    auth = dict(_table(raw, "auth", path))
    auth["api_key"] = api_key
    raw["server"] = server
    raw["auth"] = auth
    write_private(path, _dump_toml(raw))


def write_private(path: Path, text: str) -> None:
    """Write `text` readable by the owner only, atomically, so the file is never briefly 0644 or partial."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def is_loopback(address: str) -> bool:
    """Whether a gRPC target stays on this machine (plaintext is allowed only there)."""
    target = address.strip()
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
            break
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    if target.startswith("["):
        host = target[1:].split("]", 1)[0]
    elif target.count(":") > 1:
        host = target  # a bare IPv6 address without port
    else:
        host = target.rsplit(":", 1)[0] if ":" in target else target
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(address: str, tls: TlsConfig) -> None:
    """Plaintext only when every address (`a:1,b:2` names replicas) stays on this machine."""
    if tls.active or tls.insecure:
        return
    addresses = [part.strip() for part in address.split(",") if part.strip()]
    if addresses and all(is_loopback(part) for part in addresses):
        return
    raise ConfigError(
        f"refusing plaintext connection to {address}: set [tls] ca (or WIO_TLS_CA), "
        "or [tls] insecure = true to allow it"
    )


def _dump_toml(raw: Mapping[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(raw)


def _table(raw: Mapping[str, Any], key: str, path: Path, label: str | None = None) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config {path}: [{label or key}] must be a table")
    return value


def _string(table: Mapping[str, Any], key: str, section: str, path: Path) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"config {path}: {section}.{key} must be a string")
    return value


def _flag(env: Mapping[str, str], var: str, table: Mapping[str, Any], key: str, path: Path) -> bool:
    if var in env:
        text = env[var].strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{var} must be true or false, not {env[var]!r}")
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"config {path}: tls.{key} must be true or false")
    return value
