"""What the CLI's unit tests share: running `wio` in-process, a fake gRPC error, and a small in-process
fake of the identity service. Their fixtures are in tests/cli_fixtures.py."""

from __future__ import annotations

import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cli import main
from wio.auth.v1 import auth_pb2, auth_pb2_grpc

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


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run `wio ARGS` in-process through run(); answers (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["wio", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


CREATED = datetime(2020, 10, 17, 21, 7, 18, 996866, tzinfo=UTC)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details
        self.trailers: tuple[tuple[str, str | bytes], ...] = ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # grpc answers (key, value) pairs with .key and .value too; the CLI reads them as pairs.
    def trailing_metadata(self) -> Any:
        return self.trailers


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
