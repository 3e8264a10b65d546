"""cli/config.py: the config file, its WIO_* overrides, saving a login, and which transports are allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import errors
from cli.config import TlsConfig, check_transport, config_path, is_loopback, load_config, save_login
from cli.errors import ConfigError
from tests.cli_support import mode, run_cli

pytestmark = pytest.mark.unit
pytest_plugins = ["tests.cli_fixtures"]  # env, fake_auth


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


def test_plaintext_to_replicas_only_when_every_one_is_loopback() -> None:
    check_transport("127.0.0.1:50151, [::1]:50151,localhost:50152", TlsConfig())
    with pytest.raises(ConfigError) as info:
        check_transport("127.0.0.1:50151,10.0.0.5:50151", TlsConfig())
    assert "refusing plaintext" in info.value.message
    with pytest.raises(ConfigError):
        check_transport(" , ", TlsConfig())


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
