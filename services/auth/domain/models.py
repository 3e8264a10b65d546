"""Identity records as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str | None
    display_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    members: tuple[str, ...] = field(default=())
    member_count: int = 0


@dataclass(frozen=True)
class ApiKey:
    id: str
    user_id: str
    name: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def prefix(self) -> str:
        return f"wio_{self.id}"

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes
    created_at: datetime
