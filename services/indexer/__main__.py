"""`python -m services.indexer` serves until SIGTERM."""

from __future__ import annotations

from services.common.launch import main

if __name__ == "__main__":
    raise SystemExit(main("indexer"))
