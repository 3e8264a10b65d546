"""Keyset pagination in SQL (services/common/pages.py makes the tokens): rows after the last one shown, in
a total order (the listing's sort key with the primary key last), limit + 1 of them. Never OFFSET: a page
costs the same wherever it starts, and rows inserted meanwhile neither repeat nor push rows off a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, tuple_

from services.common.pages import SortKey


def keyset(
    query: Select[Any],
    order: Sequence[ColumnElement[Any]],
    after: SortKey | None,
    limit: int,
    descending: bool = False,
) -> Select[Any]:
    """`query` ordered by `order` (every column ascending, or every one descending; the last column
    unique), starting after `after`, limit + 1."""
    if after is not None:
        if len(after) != len(order):
            raise ValueError("a page key of another listing")
        # Each value typed as its column (a UUID compares with a UUID, not with text).
        values = [literal(value, type_=column.type) for value, column in zip(after, order, strict=True)]
        position = tuple_(*order) < tuple_(*values) if descending else tuple_(*order) > tuple_(*values)
        query = query.where(position)
    return query.order_by(*(c.desc() if descending else c for c in order)).limit(limit + 1)
