"""The `wio` CLI without the real stack: config, token cache, parsing, formatting, error lines, start-up
imports, and the client's flows against a small in-process fake of the identity service."""

from __future__ import annotations

import io
import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cli import errors, main
from cli.client import DEFAULT_TIMEOUT, TOKEN_MARGIN_SECONDS, Client, TokenCache, key_fingerprint
from cli.config import TlsConfig, check_transport, config_path, is_loopback, load_config, save_login
from cli.errors import CliError, ConfigError, RpcFailure
from cli.output import apikey_line, format_time, group_line, user_line
from cli.parsing import parse_duration, parse_when
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

pytestmark = pytest.mark.unit

Capture = pytest.CaptureFixture[str]

ROOT = Path(__file__).resolve().parent.parent
WIO_ENV = (
    *("WIO_CONFIG", "WIO_ADDRESS", "WIO_API_KEY", "WIO_TLS_CA", "WIO_TLS_CERT", "WIO_TLS_KEY"),
    *("WIO_TLS", "WIO_TLS_INSECURE", "WIO_DEBUG", "XDG_CONFIG_HOME"),
)


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean WIO_* environment with the config in a temporary folder; answers the config path."""
    for name in WIO_ENV:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "wio" / "config.toml"
    monkeypatch.setenv("WIO_CONFIG", str(path))
    return path


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run `wio ARGS` in-process through run(); answers (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["wio", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


# Config ------------------------------------------------------------------------------------------------


CONFIG_TEXT = """
[server]
address = "127.0.0.1:50151"
[server.services]
nodes = "127.0.0.1:50152"
workspaces = "127.0.0.1:50153"
indexer = "127.0.0.1:50154"
[auth]
api_key = "file-key"
[tls]
ca = "/etc/wio/ca.pem"
"""


def test_config_path_prefers_wio_config_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert config_path({"WIO_CONFIG": "/x/c.toml", "XDG_CONFIG_HOME": "/xdg"}) == Path("/x/c.toml")
    assert config_path({"XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/wio/config.toml")
    # A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
    assert config_path({"XDG_CONFIG_HOME": "rel"}) == Path("/home/someone/.config/wio/config.toml")
    assert config_path({}) == Path("/home/someone/.config/wio/config.toml")


def test_config_loads_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG_TEXT)
    config = load_config(path, env={})
    assert config.address == "127.0.0.1:50151"
    assert config.api_key == "file-key"
    assert config.service_address("auth") == "127.0.0.1:50151"
    assert config.service_address("workspaces") == "127.0.0.1:50153"
    assert config.tls == TlsConfig(ca="/etc/wio/ca.pem")
    assert config.tls.active
    assert config.token_cache_path == tmp_path / "token.json"


def test_config_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG_TEXT)
    env = {
        "WIO_ADDRESS": "10.0.0.5:443",
        "WIO_API_KEY": "env-key",
        "WIO_TLS_CA": "/env/ca.pem",
        "WIO_TLS_CERT": "/env/cert.pem",
        "WIO_TLS_KEY": "/env/key.pem",
        "WIO_TLS_INSECURE": "true",
    }
    config = load_config(path, env=env)
    assert config.address == "10.0.0.5:443"
    assert config.api_key == "env-key"
    assert config.tls == TlsConfig(ca="/env/ca.pem", cert="/env/cert.pem", key="/env/key.pem", insecure=True)
    # The stored directory belongs to the file's server, not to the overriding address.
    assert config.services == {}
    assert config.service_address("nodes") is None


def test_config_same_address_override_keeps_directory(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG_TEXT)
    config = load_config(path, env={"WIO_ADDRESS": "127.0.0.1:50151"})
    assert config.service_address("nodes") == "127.0.0.1:50152"


def test_config_missing_file_is_empty(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml", env={})
    assert (config.address, config.api_key, config.services) == ("", "", {})


@pytest.mark.parametrize(
    "text",
    ['[server\naddress = "x"', "[server]\naddress = 5", "server = 3", '[tls]\ninsecure = "maybe"'],
)
def test_config_errors_are_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in info.value.message
    assert info.value.exit_code == errors.EXIT_CONFIG


def test_save_login_is_private_and_keeps_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    path.parent.mkdir()
    path.write_text('[tls]\ninsecure = true\n[server]\naddress = "old:1"\n')
    save_login(path, "127.0.0.1:9", {"nodes": "127.0.0.1:10"}, "secret-key")
    assert mode(path) == 0o600
    config = load_config(path, env={})
    assert config.address == "127.0.0.1:9"
    assert config.services == {"nodes": "127.0.0.1:10"}
    assert config.api_key == "secret-key"
    assert config.tls.insecure
    assert not list(path.parent.glob(".*.tmp"))


def test_save_login_creates_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "wio" / "config.toml"
    save_login(path, "127.0.0.1:9", {}, "k")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


# Transport ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50151", True),
        ("127.1.2.3:1", True),
        ("localhost:50151", True),
        ("LOCALHOST", True),
        ("[::1]:50151", True),
        ("::1", True),
        ("dns:///localhost:50151", True),
        ("unix:/run/wio.sock", True),
        ("10.0.0.5:50151", False),
        ("wio.example.org:443", False),
        ("localhost.example.org:443", False),
        ("[2001:db8::1]:443", False),
        ("dns:///wio.example.org:443", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_plaintext_to_remote_host_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        check_transport("wio.example.org:443", TlsConfig())
    assert "refusing plaintext" in info.value.message
    assert "wio.example.org:443" in info.value.message


def test_plaintext_allowed_on_loopback_with_tls_or_when_asked() -> None:
    check_transport("127.0.0.1:50151", TlsConfig())
    check_transport("wio.example.org:443", TlsConfig(ca="/ca.pem"))
    check_transport("wio.example.org:443", TlsConfig(enabled=True))
    check_transport("wio.example.org:443", TlsConfig(insecure=True))


def test_cli_refuses_plaintext_to_remote_host(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIO_ADDRESS", "wio.example.org:50151")
    monkeypatch.setenv("WIO_API_KEY", "k")
    code, out, err = run_cli(monkeypatch, capsys, "whoami")
    assert code == errors.EXIT_CONFIG
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: refusing plaintext connection to wio.example.org:50151")


# Token cache -------------------------------------------------------------------------------------------


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


# Times -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 1D ", timedelta(days=1)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "1.5d", "-1d", "0d", "30 days"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(CliError):
        parse_duration(text)


def test_parse_when() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_when("30d", now) == now + timedelta(days=30)
    assert parse_when("2030-02-01", now) == datetime(2030, 2, 1, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30", now) == datetime(2030, 2, 1, 8, 30, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30+02:00", now) == datetime(2030, 2, 1, 6, 30, tzinfo=UTC)
    assert parse_when("2030-02-01T08:30:00Z", now) == datetime(2030, 2, 1, 8, 30, tzinfo=UTC)
    for bad in ("2029-12-31", "2030-01-01T11:59", "tomorrow", "2030-13-01"):
        with pytest.raises(CliError):
            parse_when(bad, now)


# Listings ----------------------------------------------------------------------------------------------

CREATED = datetime(2020, 10, 17, 21, 7, 18, 996866, tzinfo=UTC)


def test_format_time_is_seed_style() -> None:
    assert format_time(timestamp(CREATED)) == "2020-10-17T21:07:18.996866"
    # Microseconds are always printed, so columns line up.
    assert format_time(timestamp(datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))) == "2020-01-02T03:04:05.000000"
    assert format_time(timestamp_pb2.Timestamp()) == "never"


def test_user_line() -> None:
    user = auth_pb2.User(
        username="alice",
        email="alice@example.org",
        role=auth_pb2.ROLE_ADMIN,
        created_at=timestamp(CREATED),
    )
    assert user_line(user) == "[2020-10-17T21:07:18.996866] alice alice@example.org admin"
    user.disabled = True
    user.role = auth_pb2.ROLE_USER
    assert user_line(user) == "[2020-10-17T21:07:18.996866] alice alice@example.org user (disabled)"
    # An empty column keeps its place, so the line still splits into the same fields.
    bootstrap = auth_pb2.User(username="root", role=auth_pb2.ROLE_ADMIN, created_at=timestamp(CREATED))
    assert user_line(bootstrap) == "[2020-10-17T21:07:18.996866] root - admin"


def test_group_line() -> None:
    group = auth_pb2.Group(name="lab", member_count=3, created_at=timestamp(CREATED))
    assert group_line(group) == "[2020-10-17T21:07:18.996866] lab (3 members)"
    group.member_count = 1
    assert group_line(group) == "[2020-10-17T21:07:18.996866] lab (1 member)"


def test_apikey_line() -> None:
    key = auth_pb2.ApiKey(
        id="k1",
        name="laptop",
        prefix="wio_ab12",
        created_at=timestamp(CREATED),
        expires_at=timestamp(datetime(2021, 1, 1, tzinfo=UTC)),
    )
    assert apikey_line(key) == (
        "[2020-10-17T21:07:18.996866] k1 laptop wio_ab12… expires=2021-01-01T00:00:00.000000 last_used=never"
    )
    key.revoked = True
    key.name = ""
    assert apikey_line(key).endswith(
        "k1 - wio_ab12… expires=2021-01-01T00:00:00.000000 last_used=never (revoked)"
    )


# Errors ------------------------------------------------------------------------------------------------


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> None:
        return None


@pytest.mark.parametrize(
    ("code", "details", "line", "exit_code"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses",
            "cannot reach the server: is the server running?",
            errors.EXIT_UNAVAILABLE,
        ),
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "",
            "not logged in or key refused: run `wio login`",
            errors.EXIT_AUTH,
        ),
        (grpc.StatusCode.PERMISSION_DENIED, "admins only", "admins only", errors.EXIT_DENIED),
        (grpc.StatusCode.NOT_FOUND, "no user 'bob'", "no user 'bob'", errors.EXIT_NOT_FOUND),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad\nname", "bad name", errors.EXIT_INVALID),
        (grpc.StatusCode.ALREADY_EXISTS, "username taken", "username taken", errors.EXIT_CONFLICT),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "", "timed out waiting for the server", errors.EXIT_TIMEOUT),
        (grpc.StatusCode.INTERNAL, "boom", "server error (INTERNAL) at the server: boom", errors.EXIT_ERROR),
    ],
)
def test_rpc_error_becomes_one_line_and_exit_code(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: grpc.StatusCode,
    details: str,
    line: str,
    exit_code: int,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise FakeRpcError(code, details)

    monkeypatch.setattr("cli.client.connect", failing)
    status, out, err = run_cli(monkeypatch, capsys, "whoami")
    assert (status, out, err) == (exit_code, "", f"error: {line}\n")


def test_rpc_failure_names_the_address() -> None:
    failure = RpcFailure(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "x"), "10.1.2.3:50151")
    assert failure.message == "cannot reach 10.1.2.3:50151: is the server running?"
    assert failure.exit_code == errors.EXIT_UNAVAILABLE
    assert failure.code == "UNAVAILABLE"


def test_unexpected_exception_has_no_traceback(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr("cli.client.connect", broken)
    status, out, err = run_cli(monkeypatch, capsys, "user", "ls")
    assert status == errors.EXIT_ERROR
    assert err == "error: unexpected error: RuntimeError: kaput (WIO_DEBUG=1 shows where)\n"
    assert "Traceback" not in out + err


def test_debug_shows_traceback(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr("cli.client.connect", broken)
    monkeypatch.setenv("WIO_DEBUG", "1")
    status, _, err = run_cli(monkeypatch, capsys, "user", "ls")
    assert status == errors.EXIT_ERROR
    assert "Traceback" in err
    assert err.endswith("error: unexpected error: RuntimeError: kaput (WIO_DEBUG=1 shows where)\n")


def test_interrupt_exits_130(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cli.client.connect", interrupted)
    status, _, err = run_cli(monkeypatch, capsys, "whoami")
    assert status == errors.EXIT_INTERRUPTED
    assert "Traceback" not in err


def test_not_logged_in(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(monkeypatch, capsys, "group", "ls")
    assert (status, out, err) == (errors.EXIT_AUTH, "", "error: not logged in: run `wio login ADDRESS`\n")


def test_bad_config_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.parent.mkdir(parents=True)
    env.write_text("[server\n")
    status, _, err = run_cli(monkeypatch, capsys, "whoami")
    assert status == errors.EXIT_CONFIG
    assert err.startswith(f"error: config {env} is not valid TOML")
    assert err.count("\n") == 1


def test_usage_error_exits_2(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "user", "create", "bob")
    assert status == errors.EXIT_USAGE
    assert "--email" in err
    assert "Traceback" not in err


def test_bad_expiry_is_refused_before_connecting(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "apikey", "create", "--expires", "soon")
    assert status == errors.EXIT_USAGE
    assert err.startswith("error: not a date, datetime or duration: 'soon'")


def test_destructive_command_needs_yes_without_terminal(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "group", "rm", "lab")
    assert status == errors.EXIT_USAGE
    assert "--yes" in err


# Start-up cost -----------------------------------------------------------------------------------------


def test_help_does_not_import_grpc() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['wio', '--help']\n"
        "from cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = ('grpc', 'google.protobuf', 'wio', 'tomli_w', 'rich', 'cli.client', 'cli.output')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in result.stdout
    assert result.stderr.strip() == "[]"


# Against a fake identity service ----------------------------------------------------------------------


def error_trailers(code: grpc.StatusCode, message: str, reason: str) -> Any:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="auth.wio"))
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=[detail]))


class FakeAuth(auth_pb2_grpc.AuthServiceServicer):
    """Just enough of the identity service: one key, tokens it can be told to forget, two users."""

    API_KEY = "wio_good-key"

    def __init__(self) -> None:
        self.exchanges = 0
        self.calls = 0
        self.accept_tokens = True
        self.valid_tokens: set[str] = set()
        self.directory = {"nodes": "127.0.0.1:1", "workspaces": "127.0.0.1:2", "indexer": "127.0.0.1:3"}

    def _caller(self, context: Any) -> None:
        self.calls += 1
        metadata = dict(context.invocation_metadata())
        token = metadata.get("authorization", "").removeprefix("Bearer ")
        if not self.accept_tokens or token not in self.valid_tokens:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "token is invalid or expired")

    def ExchangeApiKey(self, request: Any, context: Any) -> Any:
        if request.api_key != self.API_KEY:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "API key is invalid")
        self.exchanges += 1
        token = f"token-{self.exchanges}"
        self.valid_tokens.add(token)
        expires = datetime.now(UTC) + timedelta(minutes=15)
        return auth_pb2.ExchangeApiKeyResponse(access_token=token, expires_at=timestamp(expires))

    def GetServiceDirectory(self, request: Any, context: Any) -> Any:
        return auth_pb2.GetServiceDirectoryResponse(
            services=[auth_pb2.ServiceEndpoint(name=n, address=a) for n, a in self.directory.items()]
        )

    def WhoAmI(self, request: Any, context: Any) -> Any:
        self._caller(context)
        return auth_pb2.WhoAmIResponse(user=self.users()[0])

    def ListUsers(self, request: Any, context: Any) -> Any:
        self._caller(context)
        users = [u for u in self.users() if request.include_disabled or not u.disabled]
        return auth_pb2.ListUsersResponse(users=users)

    def GetUser(self, request: Any, context: Any) -> Any:
        self._caller(context)
        context.abort_with_status(
            error_trailers(grpc.StatusCode.NOT_FOUND, f"no user {request.username!r}", "USER_NOT_FOUND")
        )

    def RevokeApiKey(self, request: Any, context: Any) -> Any:
        self._caller(context)
        key = auth_pb2.ApiKey(id=request.id, name="laptop", prefix=self.API_KEY[:8], revoked=True)
        return auth_pb2.RevokeApiKeyResponse(api_key=key)

    @staticmethod
    def users() -> list[Any]:
        return [
            auth_pb2.User(
                id="u1",
                username="alice",
                email="alice@example.org",
                role=auth_pb2.ROLE_ADMIN,
                created_at=timestamp(CREATED),
            ),
            auth_pb2.User(
                id="u2",
                username="bob",
                email="bob@example.org",
                role=auth_pb2.ROLE_USER,
                disabled=True,
                created_at=timestamp(CREATED + timedelta(seconds=1)),
            ),
        ]


@pytest.fixture
def fake_auth() -> Iterator[tuple[FakeAuth, str]]:
    servicer = FakeAuth()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


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


class FakeStreamCall(grpc.UnaryStreamMultiCallable):  # type: ignore[misc]
    """A server-streaming method that refuses tokens it does not know, like a service would."""

    def __init__(self, servicer: FakeAuth) -> None:
        self.servicer = servicer
        self.seen: list[Any] = []

    def __call__(self, request: Any, timeout: Any = None, metadata: Any = None, **kwargs: Any) -> Any:
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


def test_status_codes_cover_google_rpc_codes() -> None:
    # Every status maps to some line and a non-zero code (the fallback included).
    for status in grpc.StatusCode:
        if status is grpc.StatusCode.OK:
            continue
        line, exit_code = errors.describe_status(status.name, "detail", "h:1")
        assert line
        assert exit_code != 0


# Workspaces, shares and credentials: formatting ------------------------------------------------------------


def credential_set(**overrides: Any) -> Any:
    from wio.workspaces.v1 import workspaces_pb2

    values: dict[str, Any] = {
        "node_id": "n1",
        "node_name": "lab",
        "endpoint": "http://127.0.0.1:9000",
        "region": "us-east-1",
        "access_key": "AKTEMP",
        # Characters a shell, an INI file or a URL would take for syntax.
        "secret_key": "se/cr+et:$x y",
        "session_token": "tok/en==",
        "expires_at": timestamp(datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        "scopes": [
            workspaces_pb2.CredentialScope(
                workspace="alice/data",
                bucket="lab-data",
                prefix="ws/alice/data/",
                permission=workspaces_pb2.PERMISSION_READWRITE,
            )
        ],
    }
    values.update(overrides)
    return workspaces_pb2.CredentialSet(**values)


def test_env_format_quotes_values_and_lists_scopes() -> None:
    import shlex

    from cli.s3env import env_text

    lines = env_text(credential_set()).splitlines()
    assert lines[:2] == [
        "# wio credentials for node lab, valid until 2030-01-02T03:04:05Z",
        "# alice/data/: readwrite, s3://lab-data/ws/alice/data/",
    ]
    exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in lines[2:])
    assert exported == {
        "AWS_ACCESS_KEY_ID": "AKTEMP",
        "AWS_SECRET_ACCESS_KEY": "se/cr+et:$x y",
        "AWS_SESSION_TOKEN": "tok/en==",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    no_region = env_text(credential_set(region=""))
    assert "AWS_REGION" not in no_region and "AWS_DEFAULT_REGION" not in no_region


def test_aws_process_format_is_what_credential_process_reads() -> None:
    from cli.s3env import aws_process_text

    assert json.loads(aws_process_text(credential_set())) == {
        "Version": 1,
        "AccessKeyId": "AKTEMP",
        "SecretAccessKey": "se/cr+et:$x y",
        "SessionToken": "tok/en==",
        "Expiration": "2030-01-02T03:04:05Z",
    }


def test_rclone_format_is_one_section() -> None:
    from cli.s3env import rclone_text

    assert rclone_text(credential_set(node_name="lab.east")).splitlines() == [
        "# wio credentials for node lab.east, valid until 2030-01-02T03:04:05Z",
        "# alice/data/: readwrite, wio-lab-east:lab-data/ws/alice/data/",
        "[wio-lab-east]",
        "type = s3",
        "provider = Other",
        "access_key_id = AKTEMP",
        "secret_access_key = se/cr+et:$x y",
        "session_token = tok/en==",
        "endpoint = http://127.0.0.1:9000",
        "region = us-east-1",
        "no_check_bucket = true",
    ]


def test_single_set_formats_refuse_several_sets() -> None:
    from cli.s3env import only_set

    one = credential_set()
    assert only_set([one], "--format env") is one
    with pytest.raises(CliError) as info:
        only_set([one, credential_set()], "--format env")
    assert info.value.exit_code == errors.EXIT_USAGE
    assert info.value.message.startswith(
        "these workspaces need 2 credential sets (all on node lab, whose session-policy size limit "
        "splits them), and --format env holds only one"
    )
    assert "se/cr+et" not in info.value.message
    with pytest.raises(CliError) as info:
        only_set([one, credential_set(node_name="other"), credential_set()], "`wio exec`")
    assert "3 credential sets (on nodes lab, other)" in info.value.message
    with pytest.raises(CliError):
        only_set([], "--format env")


def test_exec_environment_replaces_profile_and_names_s3_endpoint() -> None:
    from cli.s3env import exec_environment

    base = {"PATH": "/bin", "AWS_PROFILE": "work", "AWS_DEFAULT_PROFILE": "work", "AWS_SESSION_TOKEN": "old"}
    env = exec_environment(credential_set(), base)
    assert "AWS_PROFILE" not in env and "AWS_DEFAULT_PROFILE" not in env
    assert env["PATH"] == "/bin"
    assert env["AWS_SESSION_TOKEN"] == "tok/en=="
    assert env["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9000"
    assert base["AWS_PROFILE"] == "work"  # the caller's mapping is left alone


def test_mc_host_quotes_each_part() -> None:
    from urllib.parse import unquote, urlsplit

    from cli.s3env import mc_host

    value = mc_host(credential_set(endpoint="https://s3.example.org:9443/"))
    assert value == "https://AKTEMP:se%2Fcr%2Bet%3A%24x%20y:tok%2Fen%3D%3D@s3.example.org:9443"
    userinfo = urlsplit(value).netloc.rpartition("@")[0]
    assert [unquote(part) for part in userinfo.split(":")] == ["AKTEMP", "se/cr+et:$x y", "tok/en=="]


def test_mc_aliases_one_per_set() -> None:
    from cli.s3env import mc_aliases

    sets = [
        credential_set(),
        credential_set(),
        credential_set(node_name="Other Node!"),
        credential_set(node_name="", node_id="id-9"),
    ]
    assert mc_aliases(sets) == ["wio-lab", "wio-lab-2", "wio-Other-Node", "wio-id-9"]


def test_mc_candidates_skip_subcommand_flags_urls_and_local_paths() -> None:
    from cli.s3env import mc_candidates

    local = {"./here.txt", "data"}
    args = ["--json", "cp", "-r", "ws/", "./here.txt", "data", "https://x/y", "alice/ws/file", "--attr=a=b"]
    assert mc_candidates(args, local.__contains__) == [3, 7]
    # A global flag's value is neither the subcommand nor a path.
    assert mc_candidates(["--config-dir", "/cfg", "ls", "ws"], local.__contains__) == [3]
    assert mc_candidates(["ls"], local.__contains__) == []


def test_mc_path_keeps_inner_path_and_trailing_slash() -> None:
    from cli.s3env import mc_path, set_for_workspace

    assert mc_path("wio-lab", "b", "ws/a/d/", "", "d") == "wio-lab/b/ws/a/d/"
    assert mc_path("wio-lab", "b", "ws/a/d/", "x/y.txt", "d/x/y.txt") == "wio-lab/b/ws/a/d/x/y.txt"
    assert mc_path("wio-lab", "b", "ws/a/d/", "x", "d/x/") == "wio-lab/b/ws/a/d/x/"
    sets = [credential_set(), credential_set(scopes=[])]
    assert set_for_workspace(sets, "alice/data") == 0
    assert set_for_workspace(sets, "alice/other") is None


def test_workspace_line_is_like_the_seed() -> None:
    from cli.output import workspace_details, workspace_line
    from wio.workspaces.v1 import workspaces_pb2

    workspace = workspaces_pb2.Workspace(
        id="w1",
        name="meva",
        owner_username="alice",
        type=workspaces_pb2.WORKSPACE_TYPE_UNMANAGED,
        node_name="lab",
        root_id="r1",
        bucket="lab-data",
        prefix="meva/",
        created_at=timestamp(CREATED),
    )
    assert workspace_line(workspace) == "[2020-10-17T21:07:18.996866] alice/meva/ (unmanaged)"
    details = dict(line.split(":", 1) for line in workspace_details(workspace).splitlines())
    assert {key: value.strip() for key, value in details.items()} == {
        "workspace": "alice/meva/",
        "owner": "alice",
        "type": "unmanaged",
        "node": "lab",
        "location": "lab-data/meva/",
        "root": "r1",
        "id": "w1",
        "created": "2020-10-17T21:07:18.996866",
        "your permission": "none",
    }


def test_share_line_and_explanation() -> None:
    from cli.output import explanation, share_line
    from wio.workspaces.v1 import workspaces_pb2

    share = workspaces_pb2.Share(
        id="s1",
        workspace="alice/data",
        sharee="group:lab",
        permission=workspaces_pb2.PERMISSION_READWRITE,
        created_at=timestamp(CREATED),
    )
    assert (
        share_line(share) == "[2020-10-17T21:07:18.996866] s1 alice/data/ group:lab (readwrite) expires=never"
    )
    reply = workspaces_pb2.ExplainPermissionResponse(
        summary="bob cannot write alice/data/: the best they have is read",
        factors=[
            workspaces_pb2.PermissionFactor(
                permission=workspaces_pb2.PERMISSION_READ, reason="shared with them", active=True
            ),
            workspaces_pb2.PermissionFactor(
                permission=workspaces_pb2.PERMISSION_OWN,
                reason="shared with them (expired ...)",
                active=False,
            ),
        ],
    )
    assert explanation(reply).splitlines() == [
        "bob cannot write alice/data/: the best they have is read",
        "  + read       shared with them",
        "  - own        shared with them (expired ...) (does not count now)",
    ]
    nothing = workspaces_pb2.ExplainPermissionResponse(summary="carol cannot read alice/data/")
    assert explanation(nothing).splitlines()[1] == "  (nothing gives them any permission on it)"


# Workspaces, shares and credentials: arguments refused before connecting --------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("share", "ws", "bob", "--expires", "soon"), "not a date, datetime or duration: 'soon'"),
        (("share", "ws", "bob", "--expires", "2001-01-01"), "'2001-01-01' is not in the future"),
        (("share", "ws", "bob", "--expires", "0d"), "duration must be positive"),
        (("link", "ws/file", "--expires", "ten minutes"), "not a date, datetime or duration"),
        (("shares", "update", "s1"), "nothing to update"),
        (("shares", "update", "s1", "--expires", "1d", "--no-expiry"), "not both"),
        (("create", "x", "--public", "--type", "private"), "--public contradicts --type private"),
        (("create", "x", "--prefix", "p", "--type", "public"), "--prefix is for unmanaged"),
        (("workspace", "create", "x", "--type", "unmanaged"), "name its folder with --prefix"),
        (("exec", "ws"), "no command to run"),
        (("exec", "ws", "--"), "no command to run"),
        (("exec", "--", "true"), "name at least one workspace"),
        (("credentials",), "name at least one workspace"),
        (("credentials", "--format", "aws-process"), "name at least one workspace"),
    ],
)
def test_bad_arguments_are_usage_errors(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, args: tuple[str, ...], message: str
) -> None:
    # No config at all: reaching the network would fail differently ("not logged in").
    status, out, err = run_cli(monkeypatch, capsys, *args)
    assert (status, out) == (errors.EXIT_USAGE, "")
    assert err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1


def test_mc_missing_is_said_plainly(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    status, out, err = run_cli(monkeypatch, capsys, "mc", "ls", "ws/")
    assert (status, out) == (errors.EXIT_ERROR, "")
    assert err.startswith("error: mc is not installed (or not on PATH)")
    assert len(err.splitlines()) == 1


def test_exec_with_unknown_command_says_so(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    status, _, err = run_cli(monkeypatch, capsys, "exec", "ws", "--", "no-such-command-for-wio", "-x")
    assert status == 127
    assert err == "error: command not found: no-such-command-for-wio\n"


@pytest.mark.parametrize("args", [("mc",), ("mc", "--help"), ("exec", "--help"), ("ws", "--help")])
def test_pass_through_commands_show_their_own_help(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, args: tuple[str, ...]
) -> None:
    status, out, _ = run_cli(monkeypatch, capsys, *args)
    assert status == 0
    assert out.startswith(f"Usage: wio {args[0]}")


def test_after_double_dash_keeps_the_command_untouched() -> None:
    from typer.main import get_command

    from cli.commands import PASSED_ON

    group = get_command(main.app)
    command = group.get_command(group.make_context("wio", ["exec"]), "exec")  # type: ignore[attr-defined]
    context = command.make_context("exec", ["a", "b", "--node", "n", "--", "ls", "--", "-l"])
    assert context.params["workspaces"] == ["a", "b"] and context.params["node"] == "n"
    assert context.meta[PASSED_ON] == ["ls", "--", "-l"]


@pytest.mark.parametrize(
    "args", [["ws", "--help"], ["mc", "--help"], ["exec", "--help"], ["credentials", "-h"]]
)
def test_new_commands_help_does_not_import_grpc(args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['wio', *{args!r}]\n"
        "from cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = ('grpc', 'google.protobuf', 'wio', 'cli.client', 'cli.output', 'cli.s3env')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith(f"Usage: wio {args[0]}")
    assert result.stderr.strip() == "[]"
