"""Who is calling: set by the authentication interceptor for the duration of one RPC."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from services.common.errors import DomainError, Reason

ROLE_USER = "user"
ROLE_ADMIN = "admin"
ROLE_SERVICE = "service"


@dataclass(frozen=True)
class Caller:
    user_id: str
    username: str
    role: str
    api_key_id: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def is_service(self) -> bool:
        return self.role == ROLE_SERVICE


_caller: ContextVar[Caller | None] = ContextVar("wio_caller", default=None)
request_id: ContextVar[str] = ContextVar("wio_request_id", default="-")


def current_caller() -> Caller | None:
    return _caller.get()


def set_caller(caller: Caller | None) -> None:
    _caller.set(caller)


def require_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise DomainError(Reason.UNAUTHENTICATED, "this call needs an access token")
    return caller
