"""The gateway's settings from the environment: WIO_GATEWAY_* plus the stack-wide ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import (
    DEFAULT_NATS_URL,
    DEFAULT_PORTS,
    LOG_LEVELS,
    ConfigError,
    TlsSettings,
    env,
    env_float,
    env_int,
)

DEFAULT_LISTEN = "127.0.0.1:50160"
MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewaySettings:
    # host:port the HTTP server listens on.
    listen: str = DEFAULT_LISTEN
    nats_url: str = DEFAULT_NATS_URL
    nats_user: str = ""
    nats_password: str = field(default="", repr=False)
    auth_address: str = f"127.0.0.1:{DEFAULT_PORTS['auth']}"
    nodes_address: str = f"127.0.0.1:{DEFAULT_PORTS['nodes']}"
    workspaces_address: str = f"127.0.0.1:{DEFAULT_PORTS['workspaces']}"
    # The gateway's own service identity (account svc-gateway), for internal RPCs.
    service_api_key: str = field(default="", repr=False)
    tls: TlsSettings = field(default_factory=TlsSettings)
    log_level: str = "INFO"
    # Largest storage-event body accepted (413 beyond).
    hook_max_bytes: int = MIB
    # How long a verified (node, token) pair is taken as valid without asking the nodes service again.
    hook_cache_seconds: float = 5.0
    # Bounds on the calls a request waits for: the token check (nodes, and auth for the gateway's own
    # token), a link's check (workspaces) and JetStream's acknowledgement. Past them the answer is 503.
    call_timeout_seconds: float = 2.0
    publish_timeout_seconds: float = 2.0

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def _listen(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"WIO_GATEWAY_LISTEN must be host:port, got {raw!r}")
    return raw


def load() -> GatewaySettings:
    log_level = env("WIO_LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"WIO_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    tls = TlsSettings(env("WIO_TLS_CERT"), env("WIO_TLS_KEY"), env("WIO_TLS_CA"))
    if bool(tls.cert_file) != bool(tls.key_file):
        raise ConfigError("WIO_TLS_CERT and WIO_TLS_KEY must be set together")
    nats_user, nats_password = env("WIO_NATS_USER"), env("WIO_NATS_PASSWORD")
    if nats_password and not nats_user:
        raise ConfigError("WIO_NATS_PASSWORD is set but WIO_NATS_USER is not")
    settings = GatewaySettings(
        listen=_listen(env("WIO_GATEWAY_LISTEN", DEFAULT_LISTEN)),
        nats_url=env("WIO_NATS_URL", DEFAULT_NATS_URL),
        nats_user=nats_user,
        nats_password=nats_password,
        auth_address=env("WIO_AUTH_ADDRESS", GatewaySettings.auth_address),
        nodes_address=env("WIO_NODES_ADDRESS", GatewaySettings.nodes_address),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", GatewaySettings.workspaces_address),
        service_api_key=env("WIO_GATEWAY_SERVICE_API_KEY"),
        tls=tls,
        log_level=log_level,
        hook_max_bytes=env_int("WIO_GATEWAY_HOOK_MAX_BYTES", MIB),
        hook_cache_seconds=env_float("WIO_GATEWAY_HOOK_CACHE_SECONDS", 5.0),
        call_timeout_seconds=env_float("WIO_GATEWAY_CALL_TIMEOUT_SECONDS", 2.0),
        publish_timeout_seconds=env_float("WIO_GATEWAY_PUBLISH_TIMEOUT_SECONDS", 2.0),
    )
    if settings.hook_max_bytes < 1:
        raise ConfigError("WIO_GATEWAY_HOOK_MAX_BYTES must be at least 1")
    for name, value in (
        ("WIO_GATEWAY_CALL_TIMEOUT_SECONDS", settings.call_timeout_seconds),
        ("WIO_GATEWAY_PUBLISH_TIMEOUT_SECONDS", settings.publish_timeout_seconds),
    ):
        if value <= 0:
            raise ConfigError(f"{name} must be more than 0")
    if settings.hook_cache_seconds < 0:
        raise ConfigError("WIO_GATEWAY_HOOK_CACHE_SECONDS must not be negative")
    return settings
