"""Settings of the indexer service: the common ones plus WIO_INDEXER_*."""

from __future__ import annotations

from services.common.config import CommonSettings, load_common


def load() -> CommonSettings:
    return load_common("indexer")
