"""Stopping background tasks."""

from __future__ import annotations

import asyncio

RECANCEL_SECONDS = 0.5


async def cancel_and_wait(task: asyncio.Task[object]) -> None:
    """Cancels `task` and waits until it has ended. Unlike awaiting it under suppress(CancelledError), a
    cancellation of the caller itself still reaches the caller.

    The cancellation is repeated while the task runs on: on Python 3.11, asyncio.wait_for (which nats-py
    uses for every request, JetStream publishes included) swallows a cancellation that arrives as its
    future completes, and the task would otherwise never end."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_SECONDS)
