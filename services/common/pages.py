"""Pages of a listing (AIP-158): `page_size` and an opaque `page_token`, answered with `next_page_token`.

A token is the sort key of the last row of a page (keyset pagination: the next page starts after it, so
rows inserted or removed meanwhile never make one repeat or vanish), signed with an HMAC keyed from
WIO_SECRET_KEY and bound to the listing, the caller and a hash of the request's filters: a token that was
altered, made by another service's key, or given for other filters is INVALID_ARGUMENT
(INVALID_PAGE_TOKEN). A token also carries when it was made and lapses after TOKEN_LIFETIME_SECONDS, so
a leaked one does not page on for ever. The token is not encrypted: it only carries values of a row the
caller was shown.
Pure Python, no grpc or SQL: domain code reads and makes tokens; storage/ applies the key
(services/common/keyset.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from services.common.errors import DomainError, Reason

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
TOKEN_CONTEXT = b"wio-page-token-v1"
# A day: long enough to page through any listing at a person's pace, short enough that a token copied
# into a log or a URL stops working.
TOKEN_LIFETIME_SECONDS = 24 * 3600
# Tolerance for a token made by a replica whose clock runs a little ahead.
CLOCK_SKEW_SECONDS = 60

T = TypeVar("T")
KeyValue = str | int | float | bool | datetime | None
SortKey = tuple[KeyValue, ...]


def page_limit(page_size: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The number of rows a page holds: 0 means the default; anything else outside 1..maximum is refused."""
    if page_size == 0:
        return default
    if not 1 <= page_size <= maximum:
        raise DomainError(
            Reason.INVALID_ARGUMENT,
            f"page_size must lie between 1 and {maximum} (0: {default})",
            field="page_size",
        )
    return page_size


@dataclass(frozen=True)
class PageRequest:
    """What a caller asked of one listing: how many rows, and where to start (empty: the first page)."""

    size: int = 0
    token: str = ""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str  # empty: this was the last page


def _encode(value: KeyValue) -> object:
    # Datetimes are tagged so they come back as datetimes (they are compared with timestamp columns).
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode(value: object) -> KeyValue:
    if isinstance(value, dict):
        return datetime.fromisoformat(str(value["t"]))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError("not a key value")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    """Makes and reads the page tokens of one listing (its name goes into the binding, so a token of one
    listing is refused by every other)."""

    def __init__(
        self,
        secret_key: str,
        listing: str,
        lifetime_seconds: float = TOKEN_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hmac.new(secret_key.encode(), TOKEN_CONTEXT, hashlib.sha256).digest()
        self._listing = listing
        self._lifetime = lifetime_seconds
        self._clock = clock

    def _binding(self, caller_id: str, filters: Sequence[object]) -> str:
        text = json.dumps([self._listing, caller_id, list(filters)], default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def make(self, caller_id: str, filters: Sequence[object], last: SortKey) -> str:
        payload = json.dumps(
            {
                "k": [_encode(v) for v in last],
                "f": self._binding(caller_id, filters),
                "t": int(self._clock()),
            },
            separators=(",", ":"),
        ).encode()
        return _b64(payload) + "." + _b64(self._mac(payload))

    def read(self, caller_id: str, filters: Sequence[object], token: str) -> SortKey:
        """The sort key the token carries; INVALID_PAGE_TOKEN when it is not one of ours for this request."""
        try:
            encoded, mac = token.split(".")
            payload = _unb64(encoded)
            valid = hmac.compare_digest(self._mac(payload), _unb64(mac))
            data = json.loads(payload) if valid else None
            key = tuple(_decode(v) for v in data["k"]) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            key = None
        if key is None or not isinstance(data, dict):
            raise DomainError(
                Reason.INVALID_PAGE_TOKEN, "page_token: not a token this service gave", field="page_token"
            )
        if data.get("f") != self._binding(caller_id, filters):
            raise DomainError(
                Reason.INVALID_PAGE_TOKEN,
                "page_token: was given for a different listing or other filters",
                field="page_token",
            )
        made = data.get("t")
        age = self._clock() - made if isinstance(made, int) and not isinstance(made, bool) else None
        if age is None or not -CLOCK_SKEW_SECONDS <= age <= self._lifetime:
            raise DomainError(
                Reason.INVALID_PAGE_TOKEN,
                "page_token: has expired; start the listing again from the first page",
                field="page_token",
            )
        return key

    def after(self, caller_id: str, filters: Sequence[object], request: PageRequest) -> SortKey | None:
        return self.read(caller_id, filters, request.token) if request.token else None

    def page(
        self,
        caller_id: str,
        filters: Sequence[object],
        rows: Sequence[T],
        limit: int,
        key: Callable[[T], SortKey],
    ) -> Page[T]:
        """`rows` as fetched with limit + 1 (so whether more follow is known without a count): the page,
        and a token after its last row when more follow."""
        items = list(rows[:limit])
        more = len(rows) > limit and bool(items)
        return Page(items, self.make(caller_id, filters, key(items[-1])) if more else "")
