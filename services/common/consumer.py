"""A durable JetStream pull consumer shared by the services: explicit acks, bounded redelivery, and a
dead-letter subject for what cannot be handled.

Several instances of a service share one durable consumer, so each message is handled once (at least
once: handlers are idempotent). It fetches in batches and handles a batch's messages concurrently. A
handler that raises gets its message redelivered after a growing delay, up to `max_deliver` attempts;
a permanent error (`is_permanent`) or the last attempt publishes the message with the reason in a header
to the dead-letter subject and terminates it, so one bad message never blocks the others. A transient
error (`is_transient`: a dependency that is down) holds the message and retries it in place without using
up attempts, so an outage of the database or another service sends nothing to the dead letters. A
consumer without a dead-letter subject retries without bound (max_deliver -1): its events must not be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.errors import DomainError
from services.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Headers of a dead-lettered message, besides the original ones.
REASON_HEADER = "Wio-Dead-Letter-Reason"
DELIVERIES_HEADER = "Wio-Deliveries"
SUBJECT_HEADER = "Wio-Original-Subject"
SEQUENCE_HEADER = "Wio-Stream-Sequence"

REASON_LIMIT = 400
# A transient failure is retried in place after these waits (doubling).
TRANSIENT_FIRST_SECONDS = 0.5
TRANSIENT_MAX_SECONDS = 15.0
# After a first message, how long a fetch waits for more of the batch.
MORE_SECONDS = 0.01


@dataclass(frozen=True)
class ConsumerSettings:
    batch: int = 128
    # Fetches wait at most this long for a first message, so a stop is noticed soon.
    fetch_seconds: float = 1.0
    # Attempts before a message is dead-lettered; -1: no bound (for consumers without a dead letter).
    max_deliver: int = 8
    ack_wait_seconds: float = 30.0
    # The wait before the n-th redelivery (the last value repeats).
    retry_delays: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    concurrency: int = 16


Handler = Callable[[Msg], Awaitable[None]]


def _default_permanent(exc: BaseException) -> bool:
    return False


def safe_reason(exc: BaseException) -> str:
    """One line that says why, fit for a header: a domain error's own message, else the error's type
    (other errors' text may carry what a header should not)."""
    text = f"{exc.reason.value}: {exc.message}" if isinstance(exc, DomainError) else type(exc).__name__
    return " ".join(text.split())[:REASON_LIMIT]


class DurableConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        filter_subject: str | Sequence[str],
        handle: Handler,
        dead_letter_subject: Callable[[Msg], str] | None,
        is_permanent: Callable[[BaseException], bool] = _default_permanent,
        is_transient: Callable[[BaseException], bool] = _default_permanent,
        settings: ConsumerSettings | None = None,
    ) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.filter_subject = filter_subject
        self.handle = handle
        self.dead_letter_subject = dead_letter_subject
        self.is_permanent = is_permanent
        self.is_transient = is_transient
        self.settings = settings or ConsumerSettings()
        self.dead_lettered = 0
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._handling: set[asyncio.Task[None]] = set()

    def config(self) -> ConsumerConfig:
        s = self.settings
        one = isinstance(self.filter_subject, str)
        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            filter_subject=self.filter_subject if isinstance(self.filter_subject, str) else None,
            filter_subjects=None if one else list(self.filter_subject),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=s.max_deliver,
            ack_wait=s.ack_wait_seconds,
            max_ack_pending=max(1000, s.batch * 4),
        )

    async def start(self) -> None:
        try:
            # Create, or update the settings of the one that exists (what the server allows to change).
            await self.js.add_consumer(self.stream, config=self.config())
        except nats.js.errors.Error as exc:
            log.warning("consumer %s on %s: kept as it is (%s)", self.durable, self.stream, exc)
        self._sub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        """Stops fetching and handling; the durable consumer stays, so what arrives meanwhile waits in
        the stream, and what was being handled is delivered again after ack_wait."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for task in list(self._handling):
            await cancel_and_wait(task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        assert self._sub is not None
        while True:
            try:
                msgs = await self._next_batch(self._sub)
            except TimeoutError:  # nothing came (nats.errors.TimeoutError is one too)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # NATS reconnecting, a consumer deleted under us: wait and try again.
                log.warning("consumer %s: fetch failed: %s", self.durable, type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            # Fetching goes on while messages are handled (at most `concurrency` at once), so what
            # arrives during a slow write is already there for the next one.
            for msg in msgs:
                await self._slots.acquire()
                task = asyncio.create_task(self._one(msg))
                self._handling.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self._slots.release()

    async def _next_batch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """Waits for one message, then takes what else is there at once. A single fetch of a whole batch
        would hold its first message until the batch fills or the fetch expires: a second of latency
        whenever messages come slower than a batch at a time."""
        msgs = await sub.fetch(1, timeout=self.settings.fetch_seconds)
        if self.settings.batch > 1:
            try:
                msgs += await sub.fetch(self.settings.batch - 1, timeout=MORE_SECONDS)
            except TimeoutError:  # nats-py raises its own or asyncio's, depending on where the wait ran out
                pass
            except Exception as exc:
                # The first message is handled anyway; dropping it would delay it by ack_wait.
                log.warning("consumer %s: fetch failed: %s", self.durable, type(exc).__name__)
        return msgs

    async def _one(self, msg: Msg) -> None:
        waits = 0
        while True:
            try:
                await self.handle(msg)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.is_transient(exc):
                    await self._failed(msg, exc)
                    return
                # A dependency that is down (the database, another service): the message is held and
                # tried again here, its ack deadline pushed back, so an outage uses up no attempt.
                # Each wait stays well within ack_wait, which in_progress restarts.
                delay = min(
                    TRANSIENT_MAX_SECONDS,
                    TRANSIENT_FIRST_SECONDS * 2**waits,
                    self.settings.ack_wait_seconds / 3,
                )
                waits += 1
                if waits in (1, 10) or waits % 100 == 0:
                    log.warning(
                        "consumer %s: %s waits for a dependency (%s), again in %.1f s",
                        self.durable,
                        msg.subject,
                        safe_reason(exc),
                        delay,
                    )
                with contextlib.suppress(Exception):
                    await msg.in_progress()
                await asyncio.sleep(delay)
        with contextlib.suppress(Exception):
            await msg.ack()

    async def _failed(self, msg: Msg, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered or 1
        permanent = self.is_permanent(exc)
        no_dead_letter = self.dead_letter_subject is None
        if no_dead_letter or (not permanent and not 0 < self.settings.max_deliver <= delivered):
            delays = self.settings.retry_delays
            delay = delays[min(delivered - 1, len(delays) - 1)] if delays else 0.0
            log.warning(
                "consumer %s: %s failed (attempt %d of %d), again in %.1f s: %s",
                self.durable,
                msg.subject,
                delivered,
                self.settings.max_deliver,
                delay,
                safe_reason(exc),
                exc_info=not isinstance(exc, DomainError),
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            return
        reason = safe_reason(exc)
        try:
            await self._dead_letter(msg, reason, delivered)
        except Exception as publish_error:
            # Leave it unacknowledged: JetStream delivers it again after ack_wait if attempts remain.
            log.error(
                "consumer %s: cannot dead-letter %s (%s); left for redelivery",
                self.durable,
                msg.subject,
                type(publish_error).__name__,
            )
            return
        self.dead_lettered += 1
        log.warning(
            "consumer %s: dead-lettered %s after %d attempt(s): %s",
            self.durable,
            msg.subject,
            delivered,
            reason,
        )
        with contextlib.suppress(Exception):
            await msg.term()

    async def _dead_letter(self, msg: Msg, reason: str, delivered: int) -> None:
        assert self.dead_letter_subject is not None
        meta = msg.metadata
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.lower().startswith("nats-")}
        headers.update(
            {
                REASON_HEADER: reason,
                DELIVERIES_HEADER: str(delivered),
                SUBJECT_HEADER: msg.subject,
                SEQUENCE_HEADER: str(meta.sequence.stream),
                # A dead letter published twice (a crash between publish and term) is stored once.
                "Nats-Msg-Id": f"deadletter-{meta.stream}-{meta.sequence.stream}",
            }
        )
        await self.js.publish(self.dead_letter_subject(msg), msg.data, headers=headers, timeout=5.0)
