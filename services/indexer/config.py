"""Settings of the indexer service: the common ones plus WIO_INDEXER_*."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import CommonSettings, ConfigError, env, load_common

BACKENDS = ("postgres",)


@dataclass(frozen=True)
class IndexerSettings:
    common: CommonSettings
    workspaces_address: str
    # Where the records live: "postgres" (the indexer's own schema).
    backend: str = "postgres"


def load() -> IndexerSettings:
    backend = env("WIO_INDEXER_BACKEND", "postgres")
    if backend not in BACKENDS:
        raise ConfigError(f"WIO_INDEXER_BACKEND must be one of {', '.join(BACKENDS)}")
    return IndexerSettings(
        common=load_common("indexer"),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        backend=backend,
    )
