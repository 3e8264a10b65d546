"""The subjects a service publishes, as one table per service: SUBJECTS in its events/publishers.py maps
each subject to its protobuf message type. The publisher's outbox refuses a subject the table does not
name, or an event of another type, so the code cannot publish what docs/events.md (generated from these
tables and the protos by scripts/gen_event_docs.py) does not list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.identity import Caller
from services.common.outbox import Outbox

Subjects = Mapping[str, type[Message]]


def checked(subjects: Subjects, subject: str, event: Message) -> str:
    """`subject`, once the table says it carries events of `event`'s type."""
    expected = subjects.get(subject)
    if expected is None:
        raise ValueError(f"{subject} is not in the publisher's SUBJECTS table")
    if not isinstance(event, expected):
        wanted, given = expected.DESCRIPTOR.full_name, event.DESCRIPTOR.full_name
        raise TypeError(f"{subject} carries {wanted}, not {given}")
    return subject


class CheckedOutbox:
    """An outbox that takes only the subjects of one table."""

    def __init__(self, outbox: Outbox, subjects: Subjects) -> None:
        self.outbox = outbox
        self.subjects = subjects

    async def add(
        self,
        session: AsyncSession,
        subject: str,
        event: Message,
        actor: Caller | None = None,
        *,
        before_reply: bool = False,
    ) -> str:
        return await self.outbox.add(
            session, checked(self.subjects, subject, event), event, actor, before_reply=before_reply
        )


class OutboxEvents:
    """A service's events, written to its outbox inside the transaction that makes the change; a
    subclass names its table in `subjects`."""

    subjects: ClassVar[Subjects] = {}

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = CheckedOutbox(outbox, self.subjects)
