"""Fixtures of the CLI's unit tests, loaded by their modules with `pytest_plugins` (so this module is only
ever imported by pytest, which rewrites its asserts)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from tests.cli_support import WIO_ENV, FakeAuth
from wio.auth.v1 import auth_pb2_grpc


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean WIO_* environment with the config in a temporary folder; answers the config path."""
    for name in WIO_ENV:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "wio" / "config.toml"
    monkeypatch.setenv("WIO_CONFIG", str(path))
    return path


@pytest.fixture
def fake_auth() -> Iterator[tuple[FakeAuth, str]]:
    # A fake answers only what the tests call; grpc answers UNIMPLEMENTED for the rest.
    servicer = FakeAuth()  # type: ignore[abstract]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
