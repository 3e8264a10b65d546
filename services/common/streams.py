"""The JetStream streams, who creates them, who publishes what and who reads which: one table, read by
the services and by the launcher that writes each NATS user's permissions from it. Pure data, so the
launcher can import it cheaply."""

from __future__ import annotations

# One stream per domain holds every event of that domain (`wio.<domain>.>`). `ingest` holds what storage
# nodes report (raw webhook bodies, published by the gateway) and what the indexer could not use.
STREAMS = {
    "auth": "WIO_AUTH",
    "nodes": "WIO_NODES",
    "workspaces": "WIO_WORKSPACES",
    "indexer": "WIO_INDEXER",
    "ingest": "WIO_INGEST",
}

# The one service that creates each stream; nobody else may.
OWNERS = {
    "auth": "auth",
    "nodes": "nodes",
    "workspaces": "workspaces",
    "indexer": "indexer",
    "ingest": "indexer",
}

# How long a stream keeps messages (limits retention); streams not named keep them until removed.
MAX_AGE_SECONDS = {"ingest": 7 * 24 * 3600.0}

# Storage events from one node: `wio.ingest.s3.<node_id>`, the raw body with the node id in a header.
INGEST_SUBJECTS = "wio.ingest.s3.>"
# What the indexer gave up on: `wio.ingest.deadletter.<node_id>`.
DEADLETTER_SUBJECTS = "wio.ingest.deadletter.>"
NODE_ID_HEADER = "Wio-Node-Id"

# The subjects each NATS user may publish to (besides the JetStream API calls of the streams it creates
# or reads). The gateway publishes storage events only; it neither creates nor reads a stream.
PUBLISHES = {
    "auth": ("wio.auth.>",),
    "nodes": ("wio.nodes.>",),
    "workspaces": ("wio.workspaces.>",),
    "indexer": ("wio.indexer.>", DEADLETTER_SUBJECTS),
    "gateway": (INGEST_SUBJECTS,),
}

# The streams each service consumes. Every service that checks access tokens feeds its deny list from
# auth's events; the workspaces service also evicts its caches on node, root, share and workspace events;
# the indexer reads storage events and drops records on workspace, root and node events.
CONSUMES: dict[str, tuple[str, ...]] = {
    "auth": ("auth",),
    "nodes": ("auth",),
    "workspaces": ("auth", "nodes", "workspaces"),
    "indexer": ("auth", "nodes", "workspaces", "ingest"),
    "gateway": (),
}


def stream_for(domain: str) -> tuple[str, str]:
    """The domain's stream name and the subjects it holds."""
    return STREAMS[domain], f"wio.{domain}.>"


def owned_by(service: str) -> tuple[str, ...]:
    """The streams (by domain) that `service` creates."""
    return tuple(domain for domain, owner in OWNERS.items() if owner == service)


def ingest_subject(node_id: str) -> str:
    return f"wio.ingest.s3.{node_id}"


def deadletter_subject(node_id: str) -> str:
    return f"wio.ingest.deadletter.{node_id}"


def inbox_prefix(service: str) -> str:
    """Each service receives replies and consumer deliveries under its own inbox prefix, and may
    subscribe nowhere else, so no service reads what JetStream delivers to another."""
    return f"_INBOX_{service}"
