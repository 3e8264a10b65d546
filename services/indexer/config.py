"""Settings of the indexer service: the common ones plus WIO_INDEXER_*."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import CommonSettings, ConfigError, env, env_float, env_int, load_common

BACKENDS = ("postgres", "elasticsearch")
REFRESH_MODES = ("wait_for", "true", "false")
# Elasticsearch index names: lower case, none of the characters it refuses; the prefix gets "-objects"
# and "-tombstones" appended.
_INDEX_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]{0,200}")


@dataclass(frozen=True)
class ElasticSettings:
    """The Elasticsearch backend (storage/elastic.py). The URL may carry user:password, which is why
    neither it nor the API key appears in a repr."""

    url: str = field(repr=False)
    api_key: str = field(default="", repr=False)
    ca_file: str = ""
    index_prefix: str = "wio"
    # "wait_for": a change returns once it is searchable (the next refresh, 1 s by default); "true"
    # refreshes after each change (tests); "false" returns at once.
    refresh: str = "wait_for"
    shards: int = 1
    replicas: int = 1
    request_timeout: float = 30.0


@dataclass(frozen=True)
class IndexerSettings:
    common: CommonSettings
    workspaces_address: str
    # Where the records live: "postgres" (the indexer's own schema) or "elasticsearch" (then `elastic`).
    backend: str = "postgres"
    elastic: ElasticSettings | None = None


def load_elastic() -> ElasticSettings:
    """WIO_INDEXER_ELASTICSEARCH_*, read when WIO_INDEXER_BACKEND=elasticsearch."""
    url = env("WIO_INDEXER_ELASTICSEARCH_URL")
    if not url.startswith(("http://", "https://")):
        raise ConfigError("WIO_INDEXER_ELASTICSEARCH_URL must be an http:// or https:// URL")
    ca_file = env("WIO_INDEXER_ELASTICSEARCH_CA_FILE")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"WIO_INDEXER_ELASTICSEARCH_CA_FILE is not a readable file: {ca_file}")
    prefix = env("WIO_INDEXER_ELASTICSEARCH_INDEX_PREFIX", "wio")
    if not _INDEX_PREFIX.fullmatch(prefix):
        raise ConfigError(
            "WIO_INDEXER_ELASTICSEARCH_INDEX_PREFIX must be lower-case letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    refresh = env("WIO_INDEXER_ELASTICSEARCH_REFRESH", "wait_for").lower()
    if refresh not in REFRESH_MODES:
        raise ConfigError(f"WIO_INDEXER_ELASTICSEARCH_REFRESH must be one of {', '.join(REFRESH_MODES)}")
    shards = env_int("WIO_INDEXER_ELASTICSEARCH_SHARDS", 1)
    replicas = env_int("WIO_INDEXER_ELASTICSEARCH_REPLICAS", 1)
    if shards < 1 or replicas < 0:
        raise ConfigError("WIO_INDEXER_ELASTICSEARCH_SHARDS must be at least 1 and _REPLICAS at least 0")
    return ElasticSettings(
        url=url,
        api_key=env("WIO_INDEXER_ELASTICSEARCH_API_KEY"),
        ca_file=ca_file,
        index_prefix=prefix,
        refresh=refresh,
        shards=shards,
        replicas=replicas,
        request_timeout=max(1.0, env_float("WIO_INDEXER_ELASTICSEARCH_TIMEOUT_SECONDS", 30.0)),
    )


def load() -> IndexerSettings:
    backend = env("WIO_INDEXER_BACKEND", "postgres")
    if backend not in BACKENDS:
        raise ConfigError(f"WIO_INDEXER_BACKEND must be one of {', '.join(BACKENDS)}")
    return IndexerSettings(
        common=load_common("indexer"),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        backend=backend,
        elastic=load_elastic() if backend == "elasticsearch" else None,
    )
