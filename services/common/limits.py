"""How many values a request may list (workspaces to issue credentials for, search filters, a root's allowed
creators): each costs a look-up, so an unbounded list would let one caller hold a service for everyone."""

from __future__ import annotations

from collections.abc import Sized

from services.common.errors import DomainError, Reason

MAX_LIST_VALUES = 100


def check_count(values: Sized, field: str, limit: int = MAX_LIST_VALUES) -> None:
    if len(values) > limit:
        raise DomainError(Reason.INVALID_ARGUMENT, f"{field}: at most {limit} values", field=field)
