"""gRPC channels to wio services, made here for the CLI and for service-to-service calls alike.

It imports only grpc and the standard library, so the CLI installed without the server extra uses it too.

- An address may name several replicas, comma-separated: `10.0.0.1:50151,10.0.0.2:50151` (IP addresses of
  one family), or one DNS name that resolves to all of them. Calls are spread over the replicas
  (round_robin) and skip one that is down.
- Calls that are safe to repeat (RETRYABLE_METHODS) are retried when they fail with UNAVAILABLE, e.g. on
  a replica stopped while the call was in flight: the retry goes to another one. gRPC's own retry policy
  does it until the server has started to answer; a replica that dies after that (its answer begun, not
  finished) ends the call for good as far as gRPC is concerned, so an interceptor repeats those calls
  too (AFTER_ANSWER_ATTEMPTS), within the call's deadline. Creates of new things are not on the list,
  since a retry after a lost answer would make a second one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import grpc

# Every RPC that may be sent again after an UNAVAILABLE: reads, and calls whose repetition changes nothing
# (the same update applied twice, a probe, an import that skips what it already mapped).
RETRYABLE_METHODS: Mapping[str, tuple[str, ...]] = {
    "wio.auth.v1.AuthService": (
        "ExchangeApiKey",
        "GetJwks",
        "GetServiceDirectory",
        "WhoAmI",
        "ListUsers",
        "GetUser",
        "LookupUser",
        "ListGroups",
        "GetGroup",
        "ListApiKeys",
    ),
    "wio.auth.v1.AuthInternalService": ("ListUserGroups", "BatchGetUsers"),
    "wio.nodes.v1.NodesService": ("ListNodes", "GetNode", "CheckNode", "UpdateNode", "ListRoots", "GetRoot"),
    "wio.nodes.v1.NodesInternalService": ("GetNodeAccess", "GetRootAccess", "VerifyHookToken"),
    "wio.workspaces.v1.WorkspacesService": (
        "ListWorkspaces",
        "GetWorkspace",
        "ListShares",
        "UpdateShare",
        "CheckPermission",
        "ExplainPermission",
        "ImportRoot",
        "ListLinks",
        "IssueCredentials",
    ),
    "wio.workspaces.v1.WorkspacesInternalService": (
        "ListAccessibleWorkspaces",
        "CountRootWorkspaces",
        "IssueListingCredentials",
        "ListWorkspaceLocations",
        "ResolveLink",
    ),
}

# "/wio.auth.v1.AuthService/WhoAmI", as interceptors see a method.
RETRYABLE_PATHS = frozenset(
    f"/{service}/{method}" for service, methods in RETRYABLE_METHODS.items() for method in methods
)

RETRY_POLICY = {
    # The first attempt included; gRPC caps this at 5.
    "maxAttempts": 3,
    "initialBackoff": "0.02s",
    "maxBackoff": "0.2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


# A wio service that answers with an error of its own (it carries its google.rpc.Status here) has decided:
# an UNAVAILABLE of that kind (e.g. a storage node that is down) is never repeated, only one that comes
# from the transport (no server, or a server gone mid-call). Such answers also carry a negative retry
# pushback (RETRY_PUSHBACK_KEY), which tells gRPC's own retry policy the same.
ANSWER_DETAILS_KEY = "grpc-status-details-bin"
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"

# Tries of a safe call whose answer was cut off (each one a whole gRPC call, with its own policy retries).
AFTER_ANSWER_ATTEMPTS = 2
AFTER_ANSWER_BACKOFF_SECONDS = 0.05


class AddressError(ValueError):
    """An address list gRPC cannot use; the message says what to write instead."""


def split_addresses(address: str) -> list[str]:
    """`a:1, b:2` -> ["a:1", "b:2"]."""
    return [part.strip() for part in address.split(",") if part.strip()]


def _ip_literal(host_port: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    bracketed = host_port.startswith("[")
    host = host_port[1:].split("]", 1)[0] if bracketed else host_port.rsplit(":", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def target(address: str) -> str:
    """The gRPC target for one address or a comma-separated list of replicas."""
    parts = split_addresses(address)
    if not parts:
        raise AddressError("no address given")
    if len(parts) == 1:
        return parts[0]
    ips = [_ip_literal(part) for part in parts]
    versions = {ip.version if ip is not None else None for ip in ips}
    if versions == {4}:
        return "ipv4:" + ",".join(parts)
    if versions == {6}:
        return "ipv6:" + ",".join(parts)
    raise AddressError(
        f"several addresses in {address!r} must all be IPv4 or all IPv6 addresses with ports; "
        "for host names, give one name that resolves to every replica"
    )


def service_config(retryable: Mapping[str, Sequence[str]] = RETRYABLE_METHODS) -> dict[str, Any]:
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [
                    {"service": service, "method": method}
                    for service, methods in retryable.items()
                    for method in methods
                ],
                "retryPolicy": RETRY_POLICY,
            }
        ],
    }


def _retryable(method: str | bytes) -> bool:
    return (method.decode() if isinstance(method, bytes) else method) in RETRYABLE_PATHS


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def answered_by_service(trailers: Any) -> bool:
    """Whether a failed call's trailing metadata holds a wio service's own error answer."""
    return any(item[0] == ANSWER_DETAILS_KEY for item in trailers or ())


def _again(code: grpc.StatusCode, trailers: Any, attempt: int, deadline: float | None) -> bool:
    """Whether a safe call that ended with `code` is made once more."""
    left = _remaining(deadline)
    return (
        code == grpc.StatusCode.UNAVAILABLE
        and not answered_by_service(trailers)
        and attempt < AFTER_ANSWER_ATTEMPTS
        and left != 0
    )


class _CallDetails(NamedTuple):
    """grpc.ClientCallDetails for a repeated blocking call (grpc offers no concrete class for it)."""

    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class RepeatCutOffCalls(grpc.UnaryUnaryClientInterceptor):
    """Blocking channels: a safe call that ends UNAVAILABLE is made again, up to AFTER_ANSWER_ATTEMPTS."""

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        if not _retryable(details.method):
            return continuation(details, request)
        deadline = None if details.timeout is None else time.monotonic() + details.timeout
        for attempt in range(1, AFTER_ANSWER_ATTEMPTS + 1):
            outcome = continuation(details, request)
            if not _again(outcome.code(), outcome.trailing_metadata(), attempt, deadline):
                return outcome
            time.sleep(AFTER_ANSWER_BACKOFF_SECONDS * attempt)
            details = _CallDetails(
                details.method,
                _remaining(deadline),
                details.metadata,
                details.credentials,
                getattr(details, "wait_for_ready", None),
                getattr(details, "compression", None),
            )
        return outcome


class RepeatCutOffAioCalls(grpc.aio.UnaryUnaryClientInterceptor):
    """asyncio channels: as RepeatCutOffCalls."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        if not _retryable(details.method):
            return await continuation(details, request)
        deadline = None if details.timeout is None else time.monotonic() + details.timeout
        for attempt in range(1, AFTER_ANSWER_ATTEMPTS + 1):
            call = await continuation(details, request)
            if not _again(await call.code(), await call.trailing_metadata(), attempt, deadline):
                return call
            await asyncio.sleep(AFTER_ANSWER_BACKOFF_SECONDS * attempt)
            details = details._replace(timeout=_remaining(deadline))
        return call


MAX_ANSWER_BYTES = 64 * 1024 * 1024


def channel_options(user_agent: str = "") -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", json.dumps(service_config())),
        # Ours, not one a DNS TXT record might carry.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.enable_retries", 1),
        # Some internal answers come whole (a node's workspace locations, what a user may read): room for
        # about 300,000 workspaces instead of gRPC's default 4 MB (about 20,000).
        ("grpc.max_receive_message_length", MAX_ANSWER_BYTES),
    ]
    if user_agent:
        options.append(("grpc.primary_user_agent", user_agent))
    return options


def open_channel(
    address: str, credentials: grpc.ChannelCredentials | None = None, *, user_agent: str = ""
) -> grpc.Channel:
    """A blocking channel (the CLI's); plaintext when `credentials` is None."""
    options = channel_options(user_agent)
    if credentials is None:
        channel = grpc.insecure_channel(target(address), options=options)
    else:
        channel = grpc.secure_channel(target(address), credentials, options=options)
    return grpc.intercept_channel(channel, RepeatCutOffCalls())


def open_aio_channel(
    address: str, credentials: grpc.ChannelCredentials | None = None, *, user_agent: str = ""
) -> grpc.aio.Channel:
    """An asyncio channel (the services'); plaintext when `credentials` is None."""
    options = channel_options(user_agent)
    interceptors = [RepeatCutOffAioCalls()]
    if credentials is None:
        return grpc.aio.insecure_channel(target(address), options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target(address), credentials, options=options, interceptors=interceptors)
