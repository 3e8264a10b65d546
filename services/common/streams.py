"""The JetStream streams and who reads which: one table, read by the services and by the launcher that
writes each service's NATS permissions from it. Pure data, so the launcher can import it cheaply."""

from __future__ import annotations

# One stream per domain holds every event of that domain; only that domain's service creates it and
# publishes to it.
STREAMS = {
    "auth": "WIO_AUTH",
    "nodes": "WIO_NODES",
    "workspaces": "WIO_WORKSPACES",
    "indexer": "WIO_INDEXER",
}

# The streams each service consumes. Every service feeds its token deny list from auth's events; the
# workspaces service also evicts its caches on node, root, share and workspace events.
CONSUMES = {
    "auth": ("auth",),
    "nodes": ("auth",),
    "workspaces": ("auth", "nodes", "workspaces"),
    "indexer": ("auth",),
}


def stream_for(domain: str) -> tuple[str, str]:
    """The domain's stream name and the subjects it holds."""
    return STREAMS[domain], f"wio.{domain}.>"


def inbox_prefix(service: str) -> str:
    """Each service receives replies and consumer deliveries under its own inbox prefix, and may
    subscribe nowhere else, so no service reads what JetStream delivers to another."""
    return f"_INBOX_{service}"
