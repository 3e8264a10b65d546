"""The one naming rule shared by users, groups and nodes."""

from __future__ import annotations

import re

from services.common.errors import DomainError, Reason

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_name(value: str, reason: Reason, field: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise DomainError(
            reason,
            f"{value!r} is not a valid name: use 1-63 lowercase letters, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            field=field,
        )
    return value
