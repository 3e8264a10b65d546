"""Notify someone whenever a workspace is shared: a small automation on wio's events.

It reads `wio.workspaces.share.granted` (a ShareChangedEvent, see docs/events.md) from the WIO_WORKSPACES
stream through a durable JetStream consumer, so it never misses a share: stopped and started again, it
catches up on the shares granted in between. Each event is acknowledged only once it has been handled;
delivery is at least once, so `meta.event_id` tells a repeat apart (after a crash between handling and
acknowledging).

Events concern every tenant, so this runs as an admin, with the read-only NATS login of the admin's
wio config (`[nats]`, written by `wio-dev up`):

    python docs/examples/notify_on_share.py                 # until Ctrl-C
    python docs/examples/notify_on_share.py --count 1       # stop after one notification
    python docs/examples/notify_on_share.py --forget        # remove the durable consumer from the server

`handle()` is the place to send a mail or a chat message instead of printing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from cli.config import load_config
from wio.workspaces.v1 import events_pb2, workspaces_pb2

SUBJECT = "wio.workspaces.share.granted"
STREAM = "WIO_WORKSPACES"


def handle(event: events_pb2.ShareChangedEvent) -> None:
    """One notification per granted share."""
    level = workspaces_pb2.Permission.Name(event.permission).removeprefix("PERMISSION_").lower()
    by = event.meta.actor.username or "the system"
    until = f" until {event.expires_at.ToJsonString()}" if event.HasField("expires_at") else ""
    to = f"{event.sharee_kind} {event.sharee_id}"
    print(
        f"share granted: workspace {event.workspace_id} to {to} ({level}{until}) by {by}"
        f" [share {event.share_id}, event {event.meta.event_id}]",
        flush=True,
    )


async def run(durable: str, count: int, forget: bool) -> None:
    login = load_config().nats
    if not login.complete:
        sys.exit("no [nats] login in the wio config: run this as an admin (see docs/events.md)")
    nc = await nats.connect(login.url, user=login.user, password=login.password, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        if forget:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(STREAM, durable)
            print(f"removed the durable consumer {durable}", file=sys.stderr)
            return
        # Created on the first run (from the events of that moment on), resumed on every later one.
        subscription = await js.pull_subscribe(
            SUBJECT,
            durable=durable,
            stream=STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=5
            ),
        )
        print(f"waiting for shares (durable consumer {durable})", file=sys.stderr, flush=True)
        handled = 0
        while not count or handled < count:
            try:
                messages = await subscription.fetch(1, timeout=5)
            except TimeoutError:
                continue
            for message in messages:
                handle(events_pb2.ShareChangedEvent.FromString(message.data))
                await message.ack_sync()  # stored by the server before the next one
                handled += 1
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a notification for every workspace share granted.")
    parser.add_argument("--durable", default="notify-on-share", help="the durable consumer's name")
    parser.add_argument("--count", type=int, default=0, help="stop after this many (default: never)")
    parser.add_argument("--forget", action="store_true", help="remove the durable consumer and stop")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.durable, args.count, args.forget))


if __name__ == "__main__":
    main()
