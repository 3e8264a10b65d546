"""Settings from the environment.

Stack-wide settings have no service part (WIO_DATABASE_URL, WIO_NATS_URL, WIO_SECRET_KEY, WIO_TLS_*,
WIO_AUTH_ADDRESS); one service's settings are WIO_<SERVICE>_*. Defaults suit the local stack.
WIO_NATS_USER / WIO_NATS_PASSWORD are the NATS user of the service process that reads them: each
service has its own (the launcher sets them per process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:15432/wio"
DEFAULT_NATS_URL = "nats://127.0.0.1:14222"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_PORTS = {"auth": 50151, "nodes": 50152, "workspaces": 50153, "indexer": 50154}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = env(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file or self.ca_file)


@dataclass(frozen=True)
class CommonSettings:
    service: str
    listen: str
    database_url: str
    nats_url: str
    secret_key: str = field(repr=False)
    auth_address: str
    service_api_key: str = field(repr=False)
    tls: TlsSettings
    log_level: str
    shutdown_grace_seconds: float
    relay_poll_seconds: float
    token_ttl_seconds: int
    nats_user: str = ""
    nats_password: str = field(default="", repr=False)
    # How long a consumer waits for another service to create the stream it reads.
    stream_wait_seconds: float = 60.0
    # The job worker (services/common/jobs.py): how often it looks for due jobs, how long a claimed job is
    # held before another worker may take it (its worker died), and the longest wait between retries.
    job_poll_seconds: float = 1.0
    job_lease_seconds: float = 60.0
    job_max_backoff_seconds: float = 300.0

    @property
    def schema(self) -> str:
        """Each service keeps its tables in its own PostgreSQL schema, named after it."""
        return self.service


def load_common(service: str) -> CommonSettings:
    prefix = f"WIO_{service.upper()}_"
    secret_key = env("WIO_SECRET_KEY")
    if not secret_key:
        raise ConfigError("WIO_SECRET_KEY is not set (the local launcher generates one)")
    log_level = env("WIO_LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"WIO_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    tls = TlsSettings(env("WIO_TLS_CERT"), env("WIO_TLS_KEY"), env("WIO_TLS_CA"))
    if bool(tls.cert_file) != bool(tls.key_file):
        raise ConfigError("WIO_TLS_CERT and WIO_TLS_KEY must be set together")
    nats_user, nats_password = env("WIO_NATS_USER"), env("WIO_NATS_PASSWORD")
    if nats_password and not nats_user:
        raise ConfigError("WIO_NATS_PASSWORD is set but WIO_NATS_USER is not")
    return CommonSettings(
        service=service,
        listen=env(prefix + "LISTEN", f"127.0.0.1:{DEFAULT_PORTS[service]}"),
        database_url=env("WIO_DATABASE_URL", DEFAULT_DATABASE_URL),
        nats_url=env("WIO_NATS_URL", DEFAULT_NATS_URL),
        secret_key=secret_key,
        auth_address=env("WIO_AUTH_ADDRESS", f"127.0.0.1:{DEFAULT_PORTS['auth']}"),
        service_api_key=env(prefix + "SERVICE_API_KEY"),
        tls=tls,
        log_level=log_level,
        shutdown_grace_seconds=env_float("WIO_SHUTDOWN_GRACE_SECONDS", 5.0),
        relay_poll_seconds=env_float("WIO_RELAY_POLL_SECONDS", 0.5),
        token_ttl_seconds=env_int("WIO_TOKEN_TTL_SECONDS", 900),
        nats_user=nats_user,
        nats_password=nats_password,
        stream_wait_seconds=env_float("WIO_NATS_STREAM_WAIT_SECONDS", 60.0),
        job_poll_seconds=env_float("WIO_JOB_POLL_SECONDS", 1.0),
        job_lease_seconds=env_float("WIO_JOB_LEASE_SECONDS", 60.0),
        job_max_backoff_seconds=env_float("WIO_JOB_MAX_BACKOFF_SECONDS", 300.0),
    )
