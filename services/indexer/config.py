"""Settings of the indexer service: the common ones plus WIO_INDEXER_*."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import CommonSettings, ConfigError, env, env_float, env_int, load_common
from services.common.netguard import NetworkPolicy, node_networks, node_networks_from_env

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
class CrawlConfig:
    # Objects per page written in one bulk write; pages the listing may run ahead of the writes.
    page_size: int = 1000
    queue_pages: int = 4
    # A checkpoint (the last key written) after every this many pages; pages written at once.
    checkpoint_pages: int = 1
    writers: int = 2
    s3_timeout_seconds: float = 10.0
    # A verify of every root the indexer has crawled, this often; 0 turns it off.
    verify_interval_seconds: float = 6 * 3600.0
    # How often unfinished or failed crawls are tried again (from their checkpoints).
    retry_seconds: float = 300.0
    # Where the indexer may connect to list a node: the widest the nodes service allows (the admins'
    # networks), since the workspaces service already chose the node; never link-local or metadata.
    networks: NetworkPolicy = field(default_factory=lambda: node_networks()[1])


@dataclass(frozen=True)
class IngestConfig:
    """Live updates from storage events (services/indexer/events/ingest.py)."""

    # Messages fetched at once, and handled at once, from the ingest stream.
    batch: int = 256
    concurrency: int = 128
    # Attempts at a message before it goes to the dead-letter subject (a malformed one goes at once).
    max_deliver: int = 6
    ack_wait_seconds: float = 30.0
    # A key in no known workspace reloads its node's workspaces when the list is at least this old.
    locations_refresh_seconds: float = 1.0
    # Tombstones of deleted keys are kept as long as the stream keeps events (7 days), so a late or
    # replayed older event cannot bring an object back; expired this often.
    tombstone_seconds: float = 7 * 24 * 3600.0
    tombstone_sweep_seconds: float = 3600.0


@dataclass(frozen=True)
class IndexerSettings:
    common: CommonSettings
    workspaces_address: str
    # Where the records live: "postgres" (the indexer's own schema) or "elasticsearch" (then `elastic`).
    backend: str = "postgres"
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    elastic: ElasticSettings | None = None


def load_ingest() -> IngestConfig:
    max_deliver = env_int("WIO_INDEXER_INGEST_MAX_DELIVER", 6)
    if max_deliver < 1:
        raise ConfigError("WIO_INDEXER_INGEST_MAX_DELIVER must be at least 1")
    tombstones = env_float("WIO_INDEXER_TOMBSTONE_SECONDS", 7 * 24 * 3600.0)
    if tombstones < 60:
        raise ConfigError("WIO_INDEXER_TOMBSTONE_SECONDS must be at least 60")
    return IngestConfig(
        batch=max(1, env_int("WIO_INDEXER_INGEST_BATCH", 256)),
        concurrency=max(1, env_int("WIO_INDEXER_INGEST_CONCURRENCY", 128)),
        max_deliver=max_deliver,
        ack_wait_seconds=max(1.0, env_float("WIO_INDEXER_INGEST_ACK_WAIT_SECONDS", 30.0)),
        locations_refresh_seconds=max(0.0, env_float("WIO_INDEXER_LOCATIONS_REFRESH_SECONDS", 1.0)),
        tombstone_seconds=tombstones,
        tombstone_sweep_seconds=max(0.0, env_float("WIO_INDEXER_TOMBSTONE_SWEEP_SECONDS", 3600.0)),
    )


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
    page_size = env_int("WIO_INDEXER_PAGE_SIZE", 1000)
    if not 1 <= page_size <= 10000:
        raise ConfigError("WIO_INDEXER_PAGE_SIZE must lie between 1 and 10000")
    interval = env_float("WIO_INDEXER_VERIFY_INTERVAL_SECONDS", 6 * 3600.0)
    if interval < 0:
        raise ConfigError("WIO_INDEXER_VERIFY_INTERVAL_SECONDS must not be negative (0 turns it off)")
    return IndexerSettings(
        common=load_common("indexer"),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        backend=backend,
        crawl=CrawlConfig(
            page_size=page_size,
            queue_pages=max(1, env_int("WIO_INDEXER_QUEUE_PAGES", 4)),
            checkpoint_pages=max(1, env_int("WIO_INDEXER_CHECKPOINT_PAGES", 1)),
            writers=max(1, env_int("WIO_INDEXER_WRITERS", 2)),
            s3_timeout_seconds=env_float("WIO_INDEXER_S3_TIMEOUT_SECONDS", 10.0),
            verify_interval_seconds=interval,
            retry_seconds=max(1.0, env_float("WIO_INDEXER_RETRY_SECONDS", 300.0)),
            networks=node_networks_from_env()[1],
        ),
        ingest=load_ingest(),
        elastic=load_elastic() if backend == "elasticsearch" else None,
    )
