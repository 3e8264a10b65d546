"""Which addresses wio may connect to for a node, checked on every connection.

A node's endpoint is any URL a user typed, so without a check the services connecting to it can be
pointed at the machine's own ports, the private network or a cloud metadata service. The check happens
where the socket is made: the host name is resolved, every address is checked, and the connection goes
to a checked address, so a name that resolves differently on the next lookup (DNS rebinding) gains
nothing. Redirects are not followed (botocore never follows them; proxies from the environment are
not used for nodes).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from services.common.config import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never, whoever asks: link-local (cloud metadata lives there: 169.254.169.254), the metadata addresses
# of clouds that put them elsewhere, "this host", multicast and broadcast.
NEVER: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
    )
)
# Besides public addresses, admins may register nodes here by default: loopback and private ranges.
DEFAULT_ADMIN_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7"
PUBLIC = "public"


class AddressRefused(Exception):
    """No address of the host may be connected to; the message says why (for admins and logs)."""


def parse_networks(raw: str, setting: str) -> tuple[bool, tuple[Network, ...]]:
    """`public` and/or CIDRs, comma-separated, as (public addresses allowed, networks)."""
    public = False
    networks: list[Network] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if part.lower() == PUBLIC:
            public = True
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"{setting}: {part!r} is neither 'public' nor a network") from exc
    return public, tuple(networks)


@dataclass(frozen=True)
class NetworkPolicy:
    """Addresses allowed: public (globally routable) ones if `public`, plus `networks`; never NEVER."""

    public: bool = True
    networks: tuple[Network, ...] = ()

    @classmethod
    def anything_but_never(cls) -> NetworkPolicy:
        """For nodes that passed their operator's check: only what is never allowed is refused."""
        return cls(True, (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))

    def widened(self, networks: Iterable[Network]) -> NetworkPolicy:
        return NetworkPolicy(self.public, (*self.networks, *networks))

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be connected to, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in n for n in NEVER):
            return "a link-local or metadata address, never allowed"
        if any(address in n for n in self.networks):
            return None
        if self.public and address.is_global:
            return None
        return "not in the networks allowed for this node"

    def addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        """The allowed addresses `host` resolves to now, in the resolver's order; AddressRefused when
        there are none."""
        found: list[tuple[str, int]] = []
        refused: list[str] = []
        for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            literal = str(sockaddr[0]).split("%", 1)[0]
            why = self.refusal(ipaddress.ip_address(literal))
            if why is None:
                found.append((literal, port))
            else:
                refused.append(f"{literal}: {why}")
        if not found:
            raise AddressRefused(f"{host} resolves to no allowed address ({'; '.join(refused)})")
        return found


def _connect(conn: Any, policy: NetworkPolicy) -> socket.socket:
    """urllib3's HTTPConnection._new_conn, connecting to checked addresses only."""
    try:
        addresses = policy.addresses(conn._dns_host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError | None = None
    for address in addresses:
        try:
            return urllib3_connection.create_connection(
                address, conn.timeout, source_address=conn.source_address, socket_options=conn.socket_options
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


@functools.cache
def pool_classes(policy: NetworkPolicy) -> dict[str, type[Any]]:
    """botocore's connection pools for http and https, with connections that check `policy`. TLS still
    verifies the host name: only the socket goes to the checked address."""

    class GuardedHTTPConnection(AWSHTTPConnection):  # type: ignore[misc]
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPSConnection(AWSHTTPSConnection):  # type: ignore[misc]
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPConnectionPool(AWSHTTPConnectionPool):  # type: ignore[misc]
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(AWSHTTPSConnectionPool):  # type: ignore[misc]
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def guard_client(client: Any, policy: NetworkPolicy) -> None:
    """Makes a boto3 client connect only where `policy` allows. botocore has no public hook for its
    connection classes, so its HTTP session's pool classes are replaced (tests prove it holds)."""
    session = client._endpoint.http_session
    classes = pool_classes(policy)
    session._pool_classes_by_scheme = classes
    session._manager.pool_classes_by_scheme = classes


@functools.cache
def urllib3_pool_classes(policy: NetworkPolicy) -> dict[str, type[Any]]:
    """urllib3's own connection pools (minio-py uses a plain PoolManager) with connections that check
    `policy`, as pool_classes does for botocore."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def guard_pool_manager(manager: Any, policy: NetworkPolicy) -> None:
    """Makes a urllib3 PoolManager connect only where `policy` allows (every host it opens a pool for,
    redirects included)."""
    manager.pool_classes_by_scheme = urllib3_pool_classes(policy)


def node_networks(
    allowed: str = PUBLIC, admin: str = DEFAULT_ADMIN_NETWORKS
) -> tuple[NetworkPolicy, NetworkPolicy]:
    """(for every node, for nodes an admin set up): WIO_NODES_ALLOWED_NETWORKS (default `public`) for
    every node, WIO_NODES_ADMIN_NETWORKS (default loopback and private ranges) in addition for an admin's.
    Link-local and metadata addresses are refused whatever these say. Every service that connects to
    nodes reads the same two settings."""
    public, everyone = parse_networks(allowed, "WIO_NODES_ALLOWED_NETWORKS")
    admin_public, admins = parse_networks(admin, "WIO_NODES_ADMIN_NETWORKS")
    return NetworkPolicy(public, everyone), NetworkPolicy(public or admin_public, (*everyone, *admins))


def node_networks_from_env() -> tuple[NetworkPolicy, NetworkPolicy]:
    from services.common.config import env

    return node_networks(
        env("WIO_NODES_ALLOWED_NETWORKS", PUBLIC), env("WIO_NODES_ADMIN_NETWORKS", DEFAULT_ADMIN_NETWORKS)
    )
