"""Settings of the nodes service: the common ones plus WIO_NODES_*."""

from __future__ import annotations

from services.common.config import CommonSettings, load_common


def load() -> CommonSettings:
    return load_common("nodes")
