"""The gateway's settings and the launcher's webhook file, without servers."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from deploy.gateway import hook_url
from deploy.seaweedfs import write_notification
from deploy.stack import _notification_matches
from gateway import config
from gateway.hooks import bearer_token
from services.common.config import ConfigError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("WIO_")]:
        monkeypatch.delenv(name)
    defaults = config.load()
    assert (defaults.host, defaults.port) == ("127.0.0.1", 50160)
    assert defaults.hook_max_bytes == 1024 * 1024 and defaults.hook_cache_seconds == 5.0
    monkeypatch.setenv("WIO_GATEWAY_LISTEN", "127.0.0.1:18080")
    monkeypatch.setenv("WIO_GATEWAY_SERVICE_API_KEY", "wio_secretkey_xyz")
    monkeypatch.setenv("WIO_NATS_USER", "gateway")
    monkeypatch.setenv("WIO_NATS_PASSWORD", "nats-password-xyz")
    monkeypatch.setenv("WIO_GATEWAY_HOOK_MAX_BYTES", "4096")
    monkeypatch.setenv("WIO_WORKSPACES_ADDRESS", "127.0.0.1:18153")
    monkeypatch.setenv("WIO_GATEWAY_READY_TIMEOUT_SECONDS", "0.25")
    settings = config.load()
    assert defaults.ready_timeout_seconds == 1.0 and settings.ready_timeout_seconds == 0.25
    assert settings.port == 18080 and settings.hook_max_bytes == 4096 and settings.nats_user == "gateway"
    assert (
        defaults.workspaces_address == "127.0.0.1:50153" and settings.workspaces_address == "127.0.0.1:18153"
    )
    assert "secretkey" not in repr(settings) and "nats-password" not in repr(settings)
    for name, value in (
        ("WIO_GATEWAY_LISTEN", "no-port"),
        ("WIO_GATEWAY_HOOK_MAX_BYTES", "0"),
        ("WIO_GATEWAY_HOOK_MAX_BYTES", "big"),
        ("WIO_GATEWAY_CALL_TIMEOUT_SECONDS", "0"),
        ("WIO_GATEWAY_READY_TIMEOUT_SECONDS", "-1"),
        ("WIO_GATEWAY_HOOK_CACHE_SECONDS", "-1"),
        ("WIO_LOG_LEVEL", "LOUD"),
    ):
        with monkeypatch.context() as patched:
            patched.setenv(name, value)
            with pytest.raises(ConfigError, match=name):
                config.load()


def test_bad_settings_end_the_start_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIO_")}
    env["WIO_GATEWAY_LISTEN"] = "nowhere"
    done = subprocess.run(
        [sys.executable, "-m", "gateway"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gateway: WIO_GATEWAY_LISTEN must be host:port, got 'nowhere'"
    ]


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("BEARER abc") == "abc"
    for refused in ("", "abc", "Basic abc", "Bearer", "Bearer ", "Token abc"):
        assert bearer_token(refused) == ""


def test_notification_file_is_private_and_says_where_to_post(tmp_path: Path) -> None:
    endpoint = hook_url(50160, "6a4cf079-6c2f-4f09-abb0-abe39379e168")
    assert endpoint == "http://127.0.0.1:50160/hooks/s3/6a4cf079-6c2f-4f09-abb0-abe39379e168"
    path = write_notification(tmp_path, endpoint, "wioh_token")
    assert path == tmp_path / "notification.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    webhook = tomllib.loads(path.read_text())["notification"]["webhook"]
    assert webhook == {
        "enabled": True,
        "endpoint": endpoint,
        "bearer_token": "wioh_token",
        "path_prefixes": ["/buckets/"],
    }
    assert _notification_matches(tmp_path, endpoint, "wioh_token")
    assert not _notification_matches(tmp_path, endpoint, "wioh_other")
    assert not _notification_matches(tmp_path, endpoint.replace("50160", "50161"), "wioh_token")
    assert not _notification_matches(tmp_path / "missing", endpoint, "wioh_token")
