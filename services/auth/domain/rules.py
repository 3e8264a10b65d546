"""Naming rules and who may do what with identity records."""

from __future__ import annotations

import re

from services.auth.domain.models import Group
from services.common.errors import DomainError, Reason
from services.common.identity import Caller
from services.common.names import check_name

# Deliberately simple: one @, a dot in the domain, no spaces; delivery is never attempted.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 1000
MAX_KEY_NAME = 100


def check_username(username: str) -> str:
    return check_name(username, Reason.INVALID_USERNAME, "username")


def check_group_name(name: str) -> str:
    return check_name(name, Reason.INVALID_GROUP_NAME, "name")


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        raise DomainError(Reason.INVALID_EMAIL, f"{email!r} is not a valid email address", field="email")
    return email.lower()


def check_text(value: str, field: str, limit: int) -> str:
    """Free text others will read (a display name, a description, a key's name): one line, no control
    characters, within `limit`."""
    value = value.strip()
    if len(value) > limit:
        raise DomainError(Reason.INVALID_ARGUMENT, f"{field} is longer than {limit} characters", field=field)
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise DomainError(
            Reason.INVALID_ARGUMENT,
            f"{field} holds a control character (a line break, an escape)",
            field=field,
        )
    return value


def can_manage_group(caller: Caller, group: Group) -> bool:
    """Membership is managed by the group's creator and by admins."""
    return caller.is_admin or caller.user_id == group.created_by


def can_see_members(caller: Caller, group: Group) -> bool:
    """Who is in a group is known to its members, its managers and admins only."""
    return can_manage_group(caller, group) or caller.username in group.members
