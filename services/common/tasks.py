"""Stopping background tasks."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancels `task` and waits until it has ended. Unlike awaiting it under suppress(CancelledError), a
    cancellation of the caller itself still reaches the caller."""
    task.cancel()
    await asyncio.wait([task])
