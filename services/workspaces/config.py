"""Settings of the workspaces service: the common ones plus WIO_WORKSPACES_*."""

from __future__ import annotations

from services.common.config import CommonSettings, load_common


def load() -> CommonSettings:
    return load_common("workspaces")
