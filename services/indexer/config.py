"""Settings of the indexer service: the common ones plus WIO_INDEXER_*."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.config import CommonSettings, ConfigError, env, env_float, env_int, load_common
from services.common.netguard import NetworkPolicy, node_networks, node_networks_from_env


@dataclass(frozen=True)
class CrawlConfig:
    # Objects per page written in one bulk write; pages the listing may run ahead of the writes.
    page_size: int = 1000
    queue_pages: int = 4
    # A checkpoint (the last key written) after every this many pages.
    checkpoint_pages: int = 1
    s3_timeout_seconds: float = 10.0
    # A verify of every root the indexer has crawled, this often; 0 turns it off.
    verify_interval_seconds: float = 6 * 3600.0
    # How often unfinished or failed crawls are tried again (from their checkpoints).
    retry_seconds: float = 300.0
    # Where the indexer may connect to list a node: the widest the nodes service allows (the admins'
    # networks), since the workspaces service already chose the node; never link-local or metadata.
    networks: NetworkPolicy = field(default_factory=lambda: node_networks()[1])


@dataclass(frozen=True)
class IndexerSettings:
    common: CommonSettings
    workspaces_address: str
    crawl: CrawlConfig = field(default_factory=CrawlConfig)


def load() -> IndexerSettings:
    page_size = env_int("WIO_INDEXER_PAGE_SIZE", 1000)
    if not 1 <= page_size <= 10000:
        raise ConfigError("WIO_INDEXER_PAGE_SIZE must lie between 1 and 10000")
    interval = env_float("WIO_INDEXER_VERIFY_INTERVAL_SECONDS", 6 * 3600.0)
    if interval < 0:
        raise ConfigError("WIO_INDEXER_VERIFY_INTERVAL_SECONDS must not be negative (0 turns it off)")
    return IndexerSettings(
        common=load_common("indexer"),
        workspaces_address=env("WIO_WORKSPACES_ADDRESS", "127.0.0.1:50153"),
        crawl=CrawlConfig(
            page_size=page_size,
            queue_pages=max(1, env_int("WIO_INDEXER_QUEUE_PAGES", 4)),
            checkpoint_pages=max(1, env_int("WIO_INDEXER_CHECKPOINT_PAGES", 1)),
            s3_timeout_seconds=env_float("WIO_INDEXER_S3_TIMEOUT_SECONDS", 10.0),
            verify_interval_seconds=interval,
            retry_seconds=max(1.0, env_float("WIO_INDEXER_RETRY_SECONDS", 300.0)),
            networks=node_networks_from_env()[1],
        ),
    )
