"""What users type that is more than a string: durations (`30d`, `1d12h`) and moments (`--expires
2030-01-31`). A bad value is a usage error, raised before anything is sent.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from cli.errors import EXIT_USAGE, CliError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s`, or a sum such as `1d12h`."""
    compact = text.strip().lower()
    if not compact or _DURATION.sub("", compact).strip():
        raise CliError(f"not a duration: {text!r} (use e.g. 30d, 12h, 90m, 2w or 1d12h)", EXIT_USAGE)
    seconds = sum(int(count) * _UNITS[unit] for count, unit in _DURATION.findall(compact))
    if seconds <= 0:
        raise CliError(f"duration must be positive: {text!r}", EXIT_USAGE)
    return timedelta(seconds=seconds)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A moment in the future, as an aware UTC datetime: a duration from now (`30d`), an ISO date
    (`2030-01-31`, midnight UTC) or an ISO datetime (UTC unless it names its offset). A bad value is a
    usage error, like any other bad argument."""
    now = now or datetime.now(UTC)
    value = text.strip()
    when: datetime
    if value and value[0].isdigit() and value[-1].lower() in _UNITS and "-" not in value:
        when = now + parse_duration(value)
    else:
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                when = datetime(day.year, day.month, day.day, tzinfo=UTC)
            else:
                when = datetime.fromisoformat(value)
        except ValueError:
            raise CliError(
                f"not a date, datetime or duration: {text!r} (use e.g. 2030-01-31, 2030-01-31T12:00, 30d)",
                EXIT_USAGE,
            ) from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise CliError(f"{text!r} is not in the future", EXIT_USAGE)
    return when


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_size(text: str) -> int:
    """Bytes: `1500`, `10K`, `1.5M`, `2G`, `1T` (units of 1024; a trailing B or iB is allowed)."""
    found = _SIZE.match(text.strip().lower())
    if not found:
        raise CliError(f"not a size: {text!r} (use e.g. 1500, 10K, 1.5M, 2G)", EXIT_USAGE)
    return int(float(found.group(1)) * _SIZE_UNITS[found.group(2)])


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A moment in the past or future, as an aware UTC datetime: an ISO date (midnight UTC) or datetime
    (UTC unless it names its offset), or a duration meaning that long ago (`7d`)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value and value[0].isdigit() and value[-1].lower() in _UNITS and "-" not in value:
        return now - parse_duration(value)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"not a date, datetime or duration: {text!r} (use e.g. 2026-01-31, 2026-01-31T12:00, 7d)",
            EXIT_USAGE,
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
