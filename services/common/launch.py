"""The common `python -m services.<name>` entry: load settings, serve, print a clean line on bad config."""

from __future__ import annotations

import asyncio
import importlib
import sys

from services.common.config import ConfigError
from services.common.server import setup_logging


def main(service: str) -> int:
    config = importlib.import_module(f"services.{service}.config")
    server = importlib.import_module(f"services.{service}.server")
    try:
        settings = config.load()
        common = getattr(settings, "common", settings)
        setup_logging(common.log_level)
        asyncio.run(server.run(settings))
    except ConfigError as exc:
        print(f"{service}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"{service}: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
