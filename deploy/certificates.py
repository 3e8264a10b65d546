"""A private certificate authority for one server and the certificates it signs.

Made once in a folder of its own (mode 0700, every file 0600) and reused on every start; a certificate
that is missing or close to expiry is issued again by the same authority. Each certificate serves as
both server and client certificate for 127.0.0.1 and localhost, which is all the stack listens on.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deploy.errors import LaunchError

VALIDITY = datetime.timedelta(days=3650)
# Issued again when less than this is left, so a long-lived state folder never wakes up expired.
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """Where the CA certificate and each named certificate and key are."""

    folder: Path
    ca: Path
    pairs: dict[str, KeyPair]


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _fresh(cert_path: Path, key_path: Path) -> x509.Certificate | None:
    """The certificate at `cert_path` when it and its key exist and it is not close to expiry."""
    if not key_path.is_file():
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return None
    return cert


def _new_authority(folder: Path, common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(folder / "ca.key", _key_pem(key))
    _write_private(folder / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _load_authority(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    cert = _fresh(folder / "ca.crt", folder / "ca.key")
    if cert is None:
        return None
    try:
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return cert, key


def _issue(folder: Path, name: str, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
    _write_private(pair.key, _key_pem(key))
    _write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair


def _signed_by(cert_path: Path, ca_cert: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def ensure_authority(folder: Path, names: Sequence[str], common_name: str) -> Authority:
    """The CA in `folder` and one certificate per name, made when missing and kept otherwise."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        authority = _load_authority(folder)
        renewed = authority is None
        ca_cert, ca_key = authority or _new_authority(folder, common_name)
        pairs: dict[str, KeyPair] = {}
        for name in names:
            pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
            usable = (
                not renewed and _fresh(pair.cert, pair.key) is not None and _signed_by(pair.cert, ca_cert)
            )
            pairs[name] = pair if usable else _issue(folder, name, ca_cert, ca_key)
    except OSError as exc:
        raise LaunchError(f"cannot write the certificates in {folder}: {exc}") from exc
    return Authority(folder, folder / "ca.crt", pairs)
