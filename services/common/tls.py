"""TLS for every server and client; plaintext only on loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

from services.common.channels import AddressError, open_aio_channel, split_addresses
from services.common.config import ConfigError, TlsSettings


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read TLS file {path}: {exc.strerror}") from exc


def add_server_port(server: grpc.aio.Server, address: str, tls: TlsSettings) -> int:
    """Bind `address`, with TLS when configured; refuse plaintext on a non-loopback address."""
    if tls.cert_file:
        ca = _read(tls.ca_file) if tls.ca_file else None
        creds = grpc.ssl_server_credentials(
            [(_read(tls.key_file), _read(tls.cert_file))],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )
        port: int = server.add_secure_port(address, creds)
    else:
        if not is_loopback(address):
            raise ConfigError(f"refusing plaintext gRPC on {address}: set WIO_TLS_CERT and WIO_TLS_KEY")
        port = server.add_insecure_port(address)
    if port == 0:
        raise ConfigError(f"cannot listen on {address}")
    return port


def client_channel(address: str, tls: TlsSettings) -> grpc.aio.Channel:
    """A channel to another service (one address or several replicas, services/common/channels.py): TLS
    when a CA is configured, plaintext only to loopback."""
    credentials = None
    if tls.ca_file:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(tls.ca_file),
            private_key=_read(tls.key_file) if tls.key_file else None,
            certificate_chain=_read(tls.cert_file) if tls.cert_file else None,
        )
    elif not all(is_loopback(part) for part in split_addresses(address)):
        raise ConfigError(f"refusing plaintext gRPC to {address}: set WIO_TLS_CA")
    try:
        return open_aio_channel(address, credentials)
    except AddressError as exc:
        raise ConfigError(str(exc)) from exc
