"""cli/parsing.py: durations and moments as users type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cli.errors import CliError
from cli.parsing import parse_duration, parse_when

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 1D ", timedelta(days=1)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "1.5d", "-1d", "0d", "30 days"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(CliError):
        parse_duration(text)


def test_parse_when() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_when("30d", now) == now + timedelta(days=30)
    assert parse_when("2030-02-01", now) == datetime(2030, 2, 1, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30", now) == datetime(2030, 2, 1, 8, 30, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30+02:00", now) == datetime(2030, 2, 1, 6, 30, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30:00Z", now) == datetime(2030, 2, 1, 8, 30, tzinfo=UTC)
    for bad in ("2029-12-31", "2030-01-01T11:59", "tomorrow", "2030-13-01"):
        with pytest.raises(CliError):
            parse_when(bad, now)
