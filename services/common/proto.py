"""Small conversions between domain values and protobuf types, shared by every servicer."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import DomainError, Reason

# What a Timestamp may hold (google.protobuf.Timestamp's own range), and Python's datetime can.
MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None so the field stays unset."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def time_from(stamp: Timestamp, field: str) -> datetime:
    """A request's Timestamp as an aware datetime; INVALID_ARGUMENT naming the field when it lies outside
    Timestamp's range (years 1-9999) or its nanoseconds do."""
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS or not 0 <= stamp.nanos <= 999_999_999:
        raise DomainError(
            Reason.INVALID_ARGUMENT, f"{field}: not a time between years 1 and 9999", field=field
        )
    return stamp.ToDatetime(tzinfo=UTC)
