"""gRPC channels to wio services, made here for the CLI and for service-to-service calls alike.

It imports only grpc and the standard library, so the CLI installed without the server extra uses it too.

- An address may name several replicas, comma-separated: `10.0.0.1:50151,10.0.0.2:50151` (IP addresses of
  one family), or one DNS name that resolves to all of them. Calls are spread over the replicas
  (round_robin) and skip one that is down.
- Calls that are safe to repeat (RETRYABLE_METHODS) are retried by gRPC itself when they fail with
  UNAVAILABLE, e.g. on a replica stopped while the call was in flight: the retry goes to another one.
  Creates of new things are not on the list, since a retry after a lost answer would make a second one.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

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
    "wio.nodes.v1.NodesInternalService": ("GetNodeAccess", "GetRootAccess"),
    "wio.workspaces.v1.WorkspacesService": (
        "ListWorkspaces",
        "GetWorkspace",
        "ListShares",
        "UpdateShare",
        "CheckPermission",
        "ExplainPermission",
        "ImportRoot",
        "CreateLink",
        "IssueCredentials",
    ),
    "wio.workspaces.v1.WorkspacesInternalService": ("ListAccessibleWorkspaces", "CountRootWorkspaces"),
}

RETRY_POLICY = {
    # The first attempt included; gRPC caps this at 5.
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


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


def channel_options(user_agent: str = "") -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", json.dumps(service_config())),
        # Ours, not one a DNS TXT record might carry.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.enable_retries", 1),
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
        return grpc.insecure_channel(target(address), options=options)
    return grpc.secure_channel(target(address), credentials, options=options)


def open_aio_channel(
    address: str, credentials: grpc.ChannelCredentials | None = None, *, user_agent: str = ""
) -> grpc.aio.Channel:
    """An asyncio channel (the services'); plaintext when `credentials` is None."""
    options = channel_options(user_agent)
    if credentials is None:
        return grpc.aio.insecure_channel(target(address), options=options)
    return grpc.aio.secure_channel(target(address), credentials, options=options)
