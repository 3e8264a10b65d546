"""The gateway's settings from the environment: WIO_GATEWAY_* plus the stack-wide ones."""

from __future__ import annotations

from collections.abc import Mapping
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
    indexer_address: str = f"127.0.0.1:{DEFAULT_PORTS['indexer']}"
    # Services of other proto packages (domain -> address), e.g. a new service's; WIO_GATEWAY_ADDRESSES
    # as `domain=host:port,domain2=host:port`.
    more_addresses: Mapping[str, str] = field(default_factory=dict)
    # Python packages whose generated *_pb2 modules the REST routes come from.
    proto_packages: tuple[str, ...] = ("wio",)
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
    # REST: the deadline of each call (a server stream's whole run has its own), the largest JSON body.
    rest_timeout_seconds: float = 30.0
    stream_timeout_seconds: float = 3600.0
    rest_max_bytes: int = MIB
    # Origins a browser may call the REST API from (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    # /readyz: how long each service's health check may take.
    ready_timeout_seconds: float = 1.0

    @property
    def service_addresses(self) -> dict[str, str]:
        """Where each service is, by the domain of its proto package (`wio.<domain>.v1`)."""
        return {
            "auth": self.auth_address,
            "nodes": self.nodes_address,
            "workspaces": self.workspaces_address,
            "indexer": self.indexer_address,
            **self.more_addresses,
        }

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


def _addresses(raw: str) -> dict[str, str]:
    found = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        domain, sep, address = part.partition("=")
        if not sep or not domain.strip() or ":" not in address:
            raise ConfigError(f"WIO_GATEWAY_ADDRESSES must be domain=host:port,..., got {raw!r}")
        found[domain.strip()] = address.strip()
    return found


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*" or not origin.startswith(("http://", "https://")):
            raise ConfigError(f"WIO_GATEWAY_CORS_ORIGINS takes http(s) origins, got {origin!r}")
    return origins


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
        indexer_address=env("WIO_INDEXER_ADDRESS", GatewaySettings.indexer_address),
        more_addresses=_addresses(env("WIO_GATEWAY_ADDRESSES")),
        service_api_key=env("WIO_GATEWAY_SERVICE_API_KEY"),
        tls=tls,
        log_level=log_level,
        hook_max_bytes=env_int("WIO_GATEWAY_HOOK_MAX_BYTES", MIB),
        hook_cache_seconds=env_float("WIO_GATEWAY_HOOK_CACHE_SECONDS", 5.0),
        call_timeout_seconds=env_float("WIO_GATEWAY_CALL_TIMEOUT_SECONDS", 2.0),
        publish_timeout_seconds=env_float("WIO_GATEWAY_PUBLISH_TIMEOUT_SECONDS", 2.0),
        rest_timeout_seconds=env_float("WIO_GATEWAY_REST_TIMEOUT_SECONDS", 30.0),
        stream_timeout_seconds=env_float("WIO_GATEWAY_STREAM_TIMEOUT_SECONDS", 3600.0),
        rest_max_bytes=env_int("WIO_GATEWAY_REST_MAX_BYTES", MIB),
        cors_origins=_origins(env("WIO_GATEWAY_CORS_ORIGINS")),
        ready_timeout_seconds=env_float("WIO_GATEWAY_READY_TIMEOUT_SECONDS", 1.0),
    )
    if settings.rest_max_bytes < 1:
        raise ConfigError("WIO_GATEWAY_REST_MAX_BYTES must be at least 1")
    if settings.hook_max_bytes < 1:
        raise ConfigError("WIO_GATEWAY_HOOK_MAX_BYTES must be at least 1")
    for name, value in (
        ("WIO_GATEWAY_CALL_TIMEOUT_SECONDS", settings.call_timeout_seconds),
        ("WIO_GATEWAY_PUBLISH_TIMEOUT_SECONDS", settings.publish_timeout_seconds),
        ("WIO_GATEWAY_REST_TIMEOUT_SECONDS", settings.rest_timeout_seconds),
        ("WIO_GATEWAY_STREAM_TIMEOUT_SECONDS", settings.stream_timeout_seconds),
        ("WIO_GATEWAY_READY_TIMEOUT_SECONDS", settings.ready_timeout_seconds),
    ):
        if value <= 0:
            raise ConfigError(f"{name} must be more than 0")
    if settings.hook_cache_seconds < 0:
        raise ConfigError("WIO_GATEWAY_HOOK_CACHE_SECONDS must not be negative")
    return settings
