"""services/common/pages.py on its own: what a token carries back, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import DomainError, Reason
from services.common.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, PageTokens, page_limit

pytestmark = pytest.mark.unit

KEY = (datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC), "4f0c6a1e-0000-4000-8000-000000000001")


def test_a_token_carries_the_sort_key_back_exactly() -> None:
    tokens = PageTokens("secret", "wio.test.v1.ListThings")
    token = tokens.make("alice", ["a", True], KEY)
    assert tokens.read("alice", ["a", True], token) == KEY
    assert tokens.after("alice", ["a", True], PageRequest(10, token)) == KEY
    assert tokens.after("alice", ["a", True], PageRequest(10, "")) is None


@pytest.mark.parametrize(
    ("caller", "filters", "listing", "secret"),
    [
        ("bob", ["a", True], "wio.test.v1.ListThings", "secret"),  # another caller
        ("alice", ["a", False], "wio.test.v1.ListThings", "secret"),  # other filters
        ("alice", ["a", True], "wio.test.v1.ListOthers", "secret"),  # another listing
        ("alice", ["a", True], "wio.test.v1.ListThings", "other secret"),  # another key
    ],
)
def test_a_token_is_refused_anywhere_else(
    caller: str, filters: list[object], listing: str, secret: str
) -> None:
    token = PageTokens("secret", "wio.test.v1.ListThings").make("alice", ["a", True], KEY)
    with pytest.raises(DomainError) as info:
        PageTokens(secret, listing).read(caller, filters, token)
    assert info.value.reason is Reason.INVALID_PAGE_TOKEN and info.value.metadata == {"field": "page_token"}


@pytest.mark.parametrize("token", ["", ".", "x.y", "a.b.c", "%%%.%%%", "eyJrIjpbXX0.AAAA"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(DomainError) as info:
        PageTokens("secret", "wio.test.v1.ListThings").read("alice", [], token)
    assert info.value.reason is Reason.INVALID_PAGE_TOKEN


def test_page_limit_bounds() -> None:
    assert page_limit(0) == DEFAULT_PAGE_SIZE
    assert page_limit(1) == 1 and page_limit(MAX_PAGE_SIZE) == MAX_PAGE_SIZE
    for bad in (-1, MAX_PAGE_SIZE + 1):
        with pytest.raises(DomainError) as info:
            page_limit(bad)
        assert info.value.reason is Reason.INVALID_ARGUMENT and info.value.metadata == {"field": "page_size"}


def test_a_page_has_a_token_only_when_more_follow() -> None:
    tokens = PageTokens("secret", "wio.test.v1.ListThings")
    rows = [(KEY[0], f"id-{i}") for i in range(4)]
    full = tokens.page("alice", [], rows, 3, lambda row: row)
    assert full.items == rows[:3] and tokens.read("alice", [], full.next_token) == rows[2]
    last = tokens.page("alice", [], rows[:3], 3, lambda row: row)
    assert last.items == rows[:3] and last.next_token == ""


def test_a_token_lapses_after_its_lifetime() -> None:
    now = [1_800_000_000.0]
    tokens = PageTokens("secret", "wio.test.v1.ListThings", lifetime_seconds=3600, clock=lambda: now[0])
    token = tokens.make("alice", [], KEY)
    now[0] += 3600
    assert tokens.read("alice", [], token) == KEY  # at the very end of its life, still good
    now[0] += 1
    with pytest.raises(DomainError) as info:
        tokens.read("alice", [], token)
    assert info.value.reason is Reason.INVALID_PAGE_TOKEN and "expired" in info.value.message
    # Made by a replica whose clock is far ahead: refused too, not taken as young.
    ahead = PageTokens("secret", "wio.test.v1.ListThings", clock=lambda: now[0] + 3600)
    with pytest.raises(DomainError):
        tokens.read("alice", [], ahead.make("alice", [], KEY))
    # A little ahead is the clocks' ordinary skew.
    slightly = PageTokens("secret", "wio.test.v1.ListThings", clock=lambda: now[0] + 30)
    assert tokens.read("alice", [], slightly.make("alice", [], KEY)) == KEY
