"""The one list of domain errors.

Every reason code is stable (clients match on it) and belongs to exactly one kind; the kind decides the
gRPC status in services/common/grpc_errors.py. Domain code raises DomainError and never imports grpc.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Kind(Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    FAILED_PRECONDITION = "failed_precondition"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"


class Reason(StrEnum):
    # Input
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_USERNAME = "INVALID_USERNAME"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_GROUP_NAME = "INVALID_GROUP_NAME"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    # Identity
    UNAUTHENTICATED = "UNAUTHENTICATED"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    API_KEY_INVALID = "API_KEY_INVALID"
    USER_DISABLED = "USER_DISABLED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    ADMIN_REQUIRED = "ADMIN_REQUIRED"
    SERVICE_CALLER_REQUIRED = "SERVICE_CALLER_REQUIRED"
    # Lookups and conflicts
    USER_NOT_FOUND = "USER_NOT_FOUND"
    GROUP_NOT_FOUND = "GROUP_NOT_FOUND"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    GROUP_NAME_TAKEN = "GROUP_NAME_TAKEN"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    # Nodes and roots
    INVALID_NODE_NAME = "INVALID_NODE_NAME"
    INVALID_ENDPOINT = "INVALID_ENDPOINT"
    NODE_NOT_FOUND = "NODE_NOT_FOUND"
    NODE_NAME_TAKEN = "NODE_NAME_TAKEN"
    NODE_UNREACHABLE = "NODE_UNREACHABLE"
    NODE_CREDENTIALS_REFUSED = "NODE_CREDENTIALS_REFUSED"
    NODE_STS_FAILED = "NODE_STS_FAILED"
    NODE_HAS_ROOTS = "NODE_HAS_ROOTS"
    NODE_OPERATOR_REQUIRED = "NODE_OPERATOR_REQUIRED"
    ROOT_NOT_FOUND = "ROOT_NOT_FOUND"
    ROOT_OVERLAPS = "ROOT_OVERLAPS"
    BUCKET_NOT_FOUND = "BUCKET_NOT_FOUND"
    INVALID_BUCKET = "INVALID_BUCKET"
    INVALID_PREFIX = "INVALID_PREFIX"
    ROOT_IN_USE = "ROOT_IN_USE"
    # Infrastructure
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    INTERNAL = "INTERNAL"


REASON_KIND: dict[Reason, Kind] = {
    Reason.INVALID_ARGUMENT: Kind.INVALID_ARGUMENT,
    Reason.INVALID_USERNAME: Kind.INVALID_ARGUMENT,
    Reason.INVALID_EMAIL: Kind.INVALID_ARGUMENT,
    Reason.INVALID_GROUP_NAME: Kind.INVALID_ARGUMENT,
    Reason.INVALID_EXPIRY: Kind.INVALID_ARGUMENT,
    Reason.UNAUTHENTICATED: Kind.UNAUTHENTICATED,
    Reason.TOKEN_INVALID: Kind.UNAUTHENTICATED,
    Reason.TOKEN_EXPIRED: Kind.UNAUTHENTICATED,
    Reason.TOKEN_REVOKED: Kind.UNAUTHENTICATED,
    Reason.API_KEY_INVALID: Kind.UNAUTHENTICATED,
    Reason.USER_DISABLED: Kind.UNAUTHENTICATED,
    Reason.PERMISSION_DENIED: Kind.PERMISSION_DENIED,
    Reason.ADMIN_REQUIRED: Kind.PERMISSION_DENIED,
    Reason.SERVICE_CALLER_REQUIRED: Kind.PERMISSION_DENIED,
    Reason.USER_NOT_FOUND: Kind.NOT_FOUND,
    Reason.GROUP_NOT_FOUND: Kind.NOT_FOUND,
    Reason.API_KEY_NOT_FOUND: Kind.NOT_FOUND,
    Reason.USERNAME_TAKEN: Kind.ALREADY_EXISTS,
    Reason.EMAIL_TAKEN: Kind.ALREADY_EXISTS,
    Reason.GROUP_NAME_TAKEN: Kind.ALREADY_EXISTS,
    Reason.ALREADY_MEMBER: Kind.ALREADY_EXISTS,
    Reason.NOT_A_MEMBER: Kind.FAILED_PRECONDITION,
    Reason.INVALID_NODE_NAME: Kind.INVALID_ARGUMENT,
    Reason.INVALID_ENDPOINT: Kind.INVALID_ARGUMENT,
    Reason.NODE_NOT_FOUND: Kind.NOT_FOUND,
    Reason.NODE_NAME_TAKEN: Kind.ALREADY_EXISTS,
    Reason.NODE_UNREACHABLE: Kind.FAILED_PRECONDITION,
    Reason.NODE_CREDENTIALS_REFUSED: Kind.FAILED_PRECONDITION,
    Reason.NODE_STS_FAILED: Kind.FAILED_PRECONDITION,
    Reason.NODE_HAS_ROOTS: Kind.FAILED_PRECONDITION,
    Reason.NODE_OPERATOR_REQUIRED: Kind.PERMISSION_DENIED,
    Reason.ROOT_NOT_FOUND: Kind.NOT_FOUND,
    Reason.ROOT_OVERLAPS: Kind.ALREADY_EXISTS,
    Reason.BUCKET_NOT_FOUND: Kind.FAILED_PRECONDITION,
    Reason.INVALID_BUCKET: Kind.INVALID_ARGUMENT,
    Reason.INVALID_PREFIX: Kind.INVALID_ARGUMENT,
    Reason.ROOT_IN_USE: Kind.FAILED_PRECONDITION,
    Reason.DEPENDENCY_UNAVAILABLE: Kind.UNAVAILABLE,
    Reason.INTERNAL: Kind.INTERNAL,
}


class DomainError(Exception):
    """A failure the caller can act on; its message is safe to show (never a secret)."""

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata = metadata

    @property
    def kind(self) -> Kind:
        return REASON_KIND[self.reason]

    def __repr__(self) -> str:
        return f"DomainError({self.reason.value}, {self.message!r})"
