"""Naming rules and who may do what with identity records."""

from __future__ import annotations

import re

from services.auth.domain.models import Group
from services.common.errors import DomainError, Reason
from services.common.identity import Caller

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# Deliberately simple: one @, a dot in the domain, no spaces; delivery is never attempted.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 1000
MAX_KEY_NAME = 100


def _name_problem(value: str) -> str:
    return (
        f"{value!r} is not a valid name: use 1-63 lowercase letters, digits, '.', '-' or '_', "
        "starting with a letter or digit"
    )


def check_username(username: str) -> str:
    if not NAME_RE.match(username):
        raise DomainError(Reason.INVALID_USERNAME, _name_problem(username), field="username")
    return username


def check_group_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise DomainError(Reason.INVALID_GROUP_NAME, _name_problem(name), field="name")
    return name


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise DomainError(Reason.INVALID_EMAIL, f"{email!r} is not a valid email address", field="email")
    return email.lower()


def check_text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise DomainError(Reason.INVALID_ARGUMENT, f"{field} is longer than {limit} characters", field=field)
    return value


def can_manage_group(caller: Caller, group: Group) -> bool:
    """Membership is managed by the group's creator and by admins."""
    return caller.is_admin or caller.user_id == group.created_by
