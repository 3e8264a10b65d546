"""Shared plumbing without external servers: TLS, settings, error mapping, tokens, key format."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.auth.config import parse_directory
from services.auth.domain import apikeys, rules
from services.common import server
from services.common.config import ConfigError, TlsSettings, load_common
from services.common.errors import REASON_KIND, DomainError, Reason
from services.common.grpc_errors import KIND_TO_CODE, status_for
from services.common.identity import Caller
from services.common.secrets import SecretBox
from services.common.tasks import cancel_and_wait
from services.common.tls import add_server_port, client_channel, is_loopback
from services.common.tokens import DenyList, TokenVerifier, issue_token, public_jwk
from tests.conftest import free_port

pytestmark = pytest.mark.unit


def _cert(
    subject: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None, ca: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return key, cert


def _write_tls(folder: Path) -> TlsSettings:
    ca_key, ca_cert = _cert("wio test CA", None, None, ca=True)
    key, cert = _cert("localhost", ca_key, ca_cert.subject, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TlsSettings(str(folder / "cert.pem"), str(folder / "key.pem"), str(folder / "ca.pem"))


async def test_tls_server_and_client(tmp_path: Path) -> None:
    tls = _write_tls(tmp_path)
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"127.0.0.1:{free_port()}"
    add_server_port(server, address, tls)
    await server.start()
    try:
        async with client_channel(address, tls) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # A plaintext client cannot talk to the TLS server.
        async with grpc.aio.insecure_channel(address) as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=3)
    finally:
        await server.stop(None)


async def test_plaintext_refused_off_loopback() -> None:
    # Async: a grpc.aio server is made on the running loop, whatever earlier tests left as the current one.
    assert is_loopback("127.0.0.1:1") and is_loopback("localhost:5") and is_loopback("[::1]:9")
    assert not is_loopback("10.0.0.5:50051") and not is_loopback("example.org:443")
    with pytest.raises(ConfigError, match="plaintext"):
        client_channel("10.0.0.5:50051", TlsSettings())
    server = grpc.aio.server()
    with pytest.raises(ConfigError, match="plaintext"):
        add_server_port(server, "0.0.0.0:0", TlsSettings())


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIO_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="WIO_SECRET_KEY"):
        load_common("nodes")
    monkeypatch.setenv("WIO_SECRET_KEY", "x" * 32)
    monkeypatch.setenv("WIO_NODES_LISTEN", "127.0.0.1:6000")
    monkeypatch.setenv("WIO_NATS_URL", "nats://127.0.0.1:7000")
    monkeypatch.setenv("WIO_TOKEN_TTL_SECONDS", "60")
    settings = load_common("nodes")
    assert settings.listen == "127.0.0.1:6000" and settings.nats_url == "nats://127.0.0.1:7000"
    assert settings.token_ttl_seconds == 60 and settings.schema == "nodes"
    assert "x" * 32 not in repr(settings)
    monkeypatch.setenv("WIO_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="WIO_LOG_LEVEL"):
        load_common("nodes")
    monkeypatch.setenv("WIO_LOG_LEVEL", "debug")
    assert load_common("nodes").log_level == "DEBUG"
    monkeypatch.setenv("WIO_TOKEN_TTL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="WIO_TOKEN_TTL_SECONDS"):
        load_common("nodes")
    with pytest.raises(ConfigError, match="WIO_AUTH_DIRECTORY"):
        parse_directory("nodes")
    assert parse_directory("nodes=127.0.0.1:1, workspaces=127.0.0.1:2") == {
        "nodes": "127.0.0.1:1",
        "workspaces": "127.0.0.1:2",
    }


def test_every_reason_maps_to_a_status_with_error_info() -> None:
    assert set(REASON_KIND) == set(Reason)
    for reason in Reason:
        code, message, trailers = status_for(DomainError(reason, "msg"), "auth.wio")
        assert code == KIND_TO_CODE[REASON_KIND[reason]] and message == "msg"
        assert trailers[0][0] == "grpc-status-details-bin"


@pytest.mark.parametrize("name", ["a", "alice", "a.b-c_d", "0lab", "x" * 63])
def test_valid_names(name: str) -> None:
    assert rules.check_username(name) == name


@pytest.mark.parametrize("name", ["", "A", "alice!", ".hidden", "-x", "_x", "x" * 64, "al ice", "ünï"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(DomainError) as info:
        rules.check_username(name)
    assert info.value.reason == Reason.INVALID_USERNAME


def test_api_key_format_and_hash() -> None:
    key_id, key = apikeys.new_api_key()
    assert apikeys.split_api_key(key)[0] == key_id
    hashed = apikeys.hash_api_key(key)
    assert hashed.startswith("$argon2id$") and key not in hashed
    assert apikeys.api_key_matches(key, hashed)
    assert not apikeys.api_key_matches(key + "x", hashed)
    for bad in ["", "wio", "wio_", "abc_def_ghi", "wio__secret"]:
        with pytest.raises(DomainError):
            apikeys.split_api_key(bad)


def test_secret_box_round_trip_and_tamper() -> None:
    box = SecretBox("k" * 32, "test")
    sealed = box.seal(b"node secret")
    assert b"node secret" not in sealed and box.open(sealed) == b"node secret"
    with pytest.raises(ConfigError):
        SecretBox("other" * 8, "test").open(sealed)
    with pytest.raises(ConfigError):
        SecretBox("k" * 32, "another-purpose").open(sealed)


async def test_a_task_that_swallows_a_cancellation_is_still_stopped() -> None:
    """As asyncio.wait_for does on Python 3.11 when its future completes together with the cancellation."""
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(20):
        await cancel_and_wait(task)
    assert task.cancelled() and swallowed == 2


async def test_a_stop_step_that_never_ends_is_left_behind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(server, "CLOSE_STEP_SECONDS", 0.2)
    release = asyncio.Event()

    async def hangs() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async with asyncio.timeout(20):
        await server._bounded("a step that never ends", hangs)
    assert "a step that never ends did not end" in caplog.text
    release.set()  # lets the abandoned step end so the test leaves nothing running


class _Keys:
    """A JWKS source whose key set the test changes."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}

    async def fetch(self) -> list[dict[str, str]]:
        return [public_jwk(kid, key.public_key()) for kid, key in self.keys.items()]


async def test_a_remembered_token_still_meets_the_deny_list_and_its_expiry() -> None:
    keys = _Keys()
    key = keys.keys["k1"] = Ed25519PrivateKey.generate()
    deny = DenyList()
    verifier = TokenVerifier(keys.fetch, deny, refetch_interval=0)
    alice = Caller(user_id="u-alice", username="alice", role="user", api_key_id="k-alice")
    token, _ = issue_token(key, "k1", alice, 900)
    assert await verifier.verify(token) == alice
    assert token in verifier._verified
    assert await verifier.verify(token) == alice
    deny.deny_api_key("k-alice")
    with pytest.raises(DomainError) as revoked:
        await verifier.verify(token)
    assert revoked.value.reason is Reason.TOKEN_REVOKED
    # A remembered token past its expiry is checked in full again, and refused.
    late, expires = issue_token(key, "k1", alice, 900, now=time.time() - 1000)
    verifier._verified[late] = (alice, expires)  # as if remembered while it was valid
    with pytest.raises(DomainError) as expired:
        await verifier.verify(late)
    assert expired.value.reason is Reason.TOKEN_EXPIRED


async def test_tokens_of_a_key_that_left_the_set_are_forgotten() -> None:
    keys = _Keys()
    keys.keys["k1"] = Ed25519PrivateKey.generate()
    verifier = TokenVerifier(keys.fetch, DenyList(), refetch_interval=0)
    alice = Caller(user_id="u-alice", username="alice", role="user", api_key_id="k-alice")
    signed_by_k1, _ = issue_token(keys.keys["k1"], "k1", alice, 900)
    assert await verifier.verify(signed_by_k1) == alice
    # The key is rotated out; a token of the new key makes the verifier fetch the set again.
    keys.keys = {"k2": Ed25519PrivateKey.generate()}
    signed_by_k2, _ = issue_token(keys.keys["k2"], "k2", alice, 900)
    assert await verifier.verify(signed_by_k2) == alice
    with pytest.raises(DomainError) as refused:
        await verifier.verify(signed_by_k1)
    assert refused.value.reason is Reason.TOKEN_INVALID
