"""cli/client.py: the token cache, and the client's flows (login, token reuse and refresh, the directory,
streams, failures) against a small in-process fake of the identity service."""

from __future__ import annotations

import io
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from cli import errors
from cli.client import DEFAULT_TIMEOUT, TOKEN_MARGIN_SECONDS, Client, TokenCache, key_fingerprint
from cli.config import load_config, save_login
from cli.errors import ConfigError, RpcFailure
from tests.cli_support import Capture, FakeAuth, FakeRpcError, mode, run_cli
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

pytestmark = pytest.mark.unit
pytest_plugins = ["tests.cli_fixtures"]  # env, fake_auth


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_cache_reuses_until_margin_before_expiry(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    cache = TokenCache(tmp_path / "token.json", clock=clock)
    cache.put("127.0.0.1:1", "key", "tok", expires_at=clock.now + 900)
    assert cache.get("127.0.0.1:1", "key") == "tok"
    # A fresh instance reads it from disk.
    assert TokenCache(tmp_path / "token.json", clock=clock).get("127.0.0.1:1", "key") == "tok"
    clock.now += 900 - TOKEN_MARGIN_SECONDS - 1
    assert cache.get("127.0.0.1:1", "key") == "tok"
    clock.now += 1
    assert cache.get("127.0.0.1:1", "key") is None


def test_token_cache_is_keyed_by_address_and_key(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "token.json")
    cache.put("127.0.0.1:1", "key-a", "tok-a", expires_at=time.time() + 900)
    assert cache.get("127.0.0.1:1", "key-b") is None
    assert cache.get("127.0.0.1:2", "key-a") is None
    cache.put("127.0.0.1:1", "key-b", "tok-b", expires_at=time.time() + 900)
    assert cache.get("127.0.0.1:1", "key-a") == "tok-a"
    assert cache.get("127.0.0.1:1", "key-b") == "tok-b"
    cache.drop("127.0.0.1:1", "key-a")
    assert cache.get("127.0.0.1:1", "key-a") is None
    assert cache.get("127.0.0.1:1", "key-b") == "tok-b"


def test_token_cache_file_is_private_and_holds_no_key(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    TokenCache(path).put("127.0.0.1:1", "the-api-key", "tok", expires_at=time.time() + 900)
    assert mode(path) == 0o600
    text = path.read_text()
    assert "the-api-key" not in text
    assert key_fingerprint("the-api-key") in text


def test_token_cache_prunes_expired_and_survives_garbage(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    path = tmp_path / "token.json"
    cache = TokenCache(path, clock=clock)
    cache.put("a:1", "k", "old", expires_at=clock.now + 10)
    clock.now += 20
    cache.put("b:1", "k", "new", expires_at=clock.now + 900)
    assert list(json.loads(path.read_text())["tokens"]) == [TokenCache.entry_key("b:1", "k")]
    path.write_text("not json")
    assert cache.get("b:1", "k") is None
    cache.put("b:1", "k", "again", expires_at=clock.now + 900)
    assert cache.get("b:1", "k") == "again"


def test_login_stores_config_directory_and_token(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    servicer, address = fake_auth
    status, out, err = run_cli(monkeypatch, capsys, "login", address, "--api-key", FakeAuth.API_KEY)
    assert status == 0, err
    assert out == f"logged in as alice (admin) at {address}\n"
    assert mode(env) == 0o600
    config = load_config(env, env={})
    assert config.address == address
    assert config.api_key == FakeAuth.API_KEY
    assert config.services == servicer.directory
    assert mode(config.token_cache_path) == 0o600

    # The cached token serves the next commands: no second exchange.
    status, out, _ = run_cli(monkeypatch, capsys, "whoami")
    assert status == 0
    assert out == f"alice <alice@example.org> (admin) at {address}\n"
    assert servicer.exchanges == 1


def test_login_reads_piped_key(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capture,
) -> None:
    _, address = fake_auth
    monkeypatch.setattr(sys, "stdin", io.StringIO(FakeAuth.API_KEY + "\n"))
    status, out, err = run_cli(monkeypatch, capsys, "login", address)
    assert status == 0, err
    assert out == f"logged in as alice (admin) at {address}\n"
    assert load_config(env, env={}).api_key == FakeAuth.API_KEY


def test_login_refuses_plaintext_before_asking_for_key(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("never-read\n"))
    status, out, err = run_cli(monkeypatch, capsys, "login", "wio.example.org:50151")
    assert (status, out) == (errors.EXIT_CONFIG, "")
    assert err.startswith("error: refusing plaintext connection to wio.example.org:50151")
    assert sys.stdin.read() == "never-read\n"
    assert not env.exists()


def test_revoking_own_key_drops_cached_token(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Capture,
) -> None:
    _, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    status, out, err = run_cli(monkeypatch, capsys, "apikey", "rm", "k1")
    assert status == 0, err
    assert out == "revoked API key k1 laptop\n"
    assert "the key this CLI uses" in err
    cache = TokenCache(load_config(env, env={}).token_cache_path)
    assert cache.get(address, FakeAuth.API_KEY) is None


def test_login_with_wrong_key_fails_and_writes_nothing(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, address = fake_auth
    status, out, err = run_cli(monkeypatch, capsys, "login", address, "--api-key", "wrong")
    assert status == errors.EXIT_AUTH
    assert out == ""
    assert err == "error: not logged in or key refused: run `wio login` (API key is invalid)\n"
    assert not env.exists()


def test_refused_cached_token_is_replaced_once(env: Path, fake_auth: tuple[FakeAuth, str]) -> None:
    servicer, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    config = load_config(env, env={})
    # A token the server no longer accepts (e.g. its signing key rotated), still fresh by its expiry.
    TokenCache(config.token_cache_path).put(address, FakeAuth.API_KEY, "stale", time.time() + 600)
    with Client(config) as client:
        stub = client.stub("auth", auth_pb2_grpc.AuthServiceStub)
        assert stub.WhoAmI(auth_pb2.WhoAmIRequest()).user.username == "alice"
    assert (servicer.exchanges, servicer.calls) == (1, 2)
    assert TokenCache(config.token_cache_path).get(address, FakeAuth.API_KEY) == "token-1"


def test_refused_fresh_token_is_not_retried(env: Path, fake_auth: tuple[FakeAuth, str]) -> None:
    servicer, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    servicer.accept_tokens = False
    with Client(load_config(env, env={})) as client, pytest.raises(RpcFailure) as info:
        client.stub("auth", auth_pb2_grpc.AuthServiceStub).WhoAmI(auth_pb2.WhoAmIRequest())
    assert info.value.code == "UNAUTHENTICATED"
    assert info.value.exit_code == errors.EXIT_AUTH
    assert (servicer.exchanges, servicer.calls) == (1, 1)


def test_refused_cached_token_then_refused_fresh_token_stops(
    env: Path, fake_auth: tuple[FakeAuth, str]
) -> None:
    servicer, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    config = load_config(env, env={})
    TokenCache(config.token_cache_path).put(address, FakeAuth.API_KEY, "stale", time.time() + 600)
    servicer.accept_tokens = False
    with Client(config) as client, pytest.raises(RpcFailure):
        client.stub("auth", auth_pb2_grpc.AuthServiceStub).WhoAmI(auth_pb2.WhoAmIRequest())
    # One retry with a fresh token, then the failure is reported.
    assert (servicer.exchanges, servicer.calls) == (1, 2)


def test_changed_key_does_not_reuse_token(env: Path, fake_auth: tuple[FakeAuth, str]) -> None:
    servicer, address = fake_auth
    save_login(env, address, {}, "wio_old-key")
    config = load_config(env, env={})
    TokenCache(config.token_cache_path).put(address, "wio_old-key", "old-token", time.time() + 600)
    save_login(env, address, {}, FakeAuth.API_KEY)
    with Client(load_config(env, env={})) as client:
        assert client.token() == "token-1"
    assert servicer.exchanges == 1


def test_listing_and_json_against_server(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    status, out, _ = run_cli(monkeypatch, capsys, "user", "ls", "--all")
    assert status == 0
    assert out.splitlines() == [
        "[2020-10-17T21:07:18.996866] alice alice@example.org admin",
        "[2020-10-17T21:07:19.996866] bob bob@example.org user (disabled)",
    ]
    status, out, _ = run_cli(monkeypatch, capsys, "user", "ls", "--json")
    assert status == 0
    data = json.loads(out)
    assert [u["username"] for u in data] == ["alice"]
    assert data[0]["role"] == "ROLE_ADMIN"
    assert data[0]["created_at"] == "2020-10-17T21:07:18.996866Z"
    assert data[0]["disabled"] is False


def test_server_error_reason_and_message(
    env: Path,
    fake_auth: tuple[FakeAuth, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    status, out, err = run_cli(monkeypatch, capsys, "user", "show", "carol")
    assert (status, out, err) == (errors.EXIT_NOT_FOUND, "", "error: no user 'carol'\n")

    with Client(load_config(env, env={})) as client, pytest.raises(RpcFailure) as info:
        client.stub("auth", auth_pb2_grpc.AuthServiceStub).GetUser(auth_pb2.GetUserRequest(username="carol"))
    assert info.value.reason == "USER_NOT_FOUND"
    assert info.value.code == "NOT_FOUND"


class FakeStreamCall(grpc.UnaryStreamMultiCallable):  # type: ignore[type-arg]
    """A server-streaming method that refuses tokens it does not know, like a service would."""

    def __init__(self, servicer: FakeAuth) -> None:
        self.servicer = servicer
        self.seen: list[Any] = []

    # A plain iterator stands in for grpc's call object, which is what a caller iterates.
    def __call__(  # type: ignore[override]
        self, request: Any, timeout: Any = None, metadata: Any = None, **kwargs: Any
    ) -> Iterator[int]:
        self.seen.append((dict(metadata or ()), timeout))
        token = dict(metadata or ()).get("authorization", "").removeprefix("Bearer ")
        return self._items(token in self.servicer.valid_tokens)

    @staticmethod
    def _items(accepted: bool) -> Iterator[int]:
        if not accepted:
            raise FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "token is invalid")
        yield from (1, 2, 3)


def test_stub_for_another_service_streams_with_token_and_retry(
    env: Path, fake_auth: tuple[FakeAuth, str]
) -> None:
    servicer, address = fake_auth
    save_login(env, address, servicer.directory, FakeAuth.API_KEY)
    config = load_config(env, env={})
    TokenCache(config.token_cache_path).put(address, FakeAuth.API_KEY, "stale", time.time() + 600)
    call = FakeStreamCall(servicer)

    class NodesStub:
        def __init__(self, channel: Any) -> None:
            self.channel = channel
            self.WatchNodes = call

    with Client(config) as client:
        nodes = client.stub("nodes", NodesStub)
        assert list(nodes.WatchNodes(object(), timeout=None)) == [1, 2, 3]
        assert list(nodes.WatchNodes(object())) == [1, 2, 3]
    assert [seen[0]["authorization"] for seen in call.seen] == ["Bearer stale", *["Bearer token-1"] * 2]
    # Every call has a deadline unless the caller asks for none.
    assert [seen[1] for seen in call.seen] == [None, None, DEFAULT_TIMEOUT]
    assert servicer.exchanges == 1


def test_unknown_service_address_comes_from_directory(env: Path, fake_auth: tuple[FakeAuth, str]) -> None:
    servicer, address = fake_auth
    save_login(env, address, {}, FakeAuth.API_KEY)
    with Client(load_config(env, env={})) as client:
        assert client.address("workspaces") == servicer.directory["workspaces"]
        with pytest.raises(ConfigError):
            client.address("nonesuch")


def test_unreachable_server_names_address(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: refused
        monkeypatch.setenv("WIO_ADDRESS", address)
        monkeypatch.setenv("WIO_API_KEY", "k")
        status, out, err = run_cli(monkeypatch, capsys, "whoami")
    assert (status, out) == (errors.EXIT_UNAVAILABLE, "")
    assert err == f"error: cannot reach {address}: is the server running?\n"
