"""Session fixtures: real PostgreSQL, NATS JetStream and SeaweedFS S3/STS for the test run.

The servers are started with the local launcher's own functions (deploy/) on free ports in a
temporary folder, or taken from running ones named by the environment:
WIO_TEST_DATABASE_URL, WIO_TEST_NATS_URL (+ WIO_TEST_NATS_USER, WIO_TEST_NATS_PASSWORD: one user
that every service and watcher of the run connects as), WIO_TEST_S3_ENDPOINT (+ WIO_TEST_S3_ACCESS_KEY,
WIO_TEST_S3_SECRET_KEY, WIO_TEST_S3_ROLE_ARN, WIO_TEST_S3_REGION), and for the second S3 node the
same names with WIO_TEST_S3_SECOND_. Only what was started here is stopped at the end.

The NATS started here has the launcher's users: each service connects as its own user, watchers as
the read-only one.

The fixtures are plain functions, so they work with any event loop scope.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.errors import LaunchError
from deploy.nats import READER, NatsServer, start_nats
from deploy.ports import WeedPorts, pick_free_port
from deploy.postgres import (
    PostgresServer,
    drop_database,
    ensure_database,
    generate_password,
    start_postgres,
    with_database,
)
from deploy.seaweedfs import REGION, ROLE_ARN, S3Access, SeaweedServer, start_seaweedfs

__all__ = ["InfraUnderTest", "S3Access", "S3Node", "infra", "second_s3"]

# Test data is thrown away: durability only costs time here.
FAST_POSTGRES = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _s3_from_env(prefix: str) -> S3Access | None:
    endpoint = _env(f"{prefix}_ENDPOINT")
    if not endpoint:
        return None
    missing = [f"{prefix}_{part}" for part in ("ACCESS_KEY", "SECRET_KEY") if not _env(f"{prefix}_{part}")]
    if missing:
        raise LaunchError(f"{prefix}_ENDPOINT is set but {', '.join(missing)} is not")
    return S3Access(
        endpoint=endpoint,
        region=_env(f"{prefix}_REGION") or REGION,
        access_key=_env(f"{prefix}_ACCESS_KEY"),
        secret_key=_env(f"{prefix}_SECRET_KEY"),
        role_arn=_env(f"{prefix}_ROLE_ARN") or ROLE_ARN,
    )


class S3Node:
    """One S3 node of the test run: endpoint, region, access_key, secret_key, role_arn. A node this
    run started can be stopped and started again (same ports, data and keys), e.g. for outage tests."""

    def __init__(self, access: S3Access, server: SeaweedServer | None = None) -> None:
        self.access = access
        self._server = server

    @property
    def endpoint(self) -> str:
        return self.access.endpoint

    @property
    def region(self) -> str:
        return self.access.region

    @property
    def access_key(self) -> str:
        return self.access.access_key

    @property
    def secret_key(self) -> str:
        return self.access.secret_key

    @property
    def role_arn(self) -> str:
        return self.access.role_arn

    @property
    def broker_access_key(self) -> str:
        return self.access.broker_access_key

    @property
    def broker_secret_key(self) -> str:
        return self.access.broker_secret_key

    def __repr__(self) -> str:
        return f"S3Node({self.access!r})"

    @property
    def server(self) -> SeaweedServer | None:
        """The running SeaweedFS when this run started it (ports, folder, certificates), else None."""
        return self._server

    def _own(self) -> SeaweedServer:
        if self._server is None:
            pytest.skip("this S3 node comes from the environment; tests cannot stop or start it")
        return self._server

    def is_running(self) -> bool:
        """Whether this run's node is up; a node from the environment is taken to be."""
        return self._server is None or self._server.process.is_running()

    def stop(self) -> None:
        self._own().stop()

    def start(self) -> None:
        """Start it again after `stop()`; nothing happens while it runs."""
        server = self._own()
        if not server.process.is_running():
            self._server = start_seaweedfs(server.folder, server.ports, server.credentials, name=server.name)

    def close(self, timeout: float = 20.0) -> None:
        if self._server is not None:
            self._server.stop(timeout)


# How long SeaweedFS and NATS may take to stop at the end of the run before they are killed.
STOP_SECONDS = 3.0


class InfraUnderTest:
    """Where the test run's servers are. `s3` and `second_s3()` start SeaweedFS on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database_url = ""
        self.nats_url = ""
        self._lock = threading.Lock()
        self._postgres: PostgresServer | None = None
        self._nats: NatsServer | None = None
        self._s3: dict[str, S3Node] = {}
        self._database: tuple[str, str] | None = None  # (server URL, database) made here

    @property
    def postgres(self) -> PostgresServer | None:
        """The PostgreSQL this run started, or None when WIO_TEST_DATABASE_URL names one."""
        return self._postgres

    def start(self) -> None:
        self._start_postgres()
        nats_url = _env("WIO_TEST_NATS_URL")
        if nats_url:
            self.nats_url = nats_url
        else:
            self._nats = start_nats(self.folder, pick_free_port())
            self.nats_url = self._nats.url

    @property
    def nats_users_enforced(self) -> bool:
        """Whether this run's NATS has wio's users and permissions (it does when started here)."""
        return self._nats is not None

    def nats_login(self, user: str = READER) -> tuple[str, str]:
        """(user, password) for a service's NATS user or the read-only one; on an external NATS, the
        one user the environment names (or none)."""
        if self._nats is None:
            return _env("WIO_TEST_NATS_USER"), _env("WIO_TEST_NATS_PASSWORD")
        return user, self._nats.credentials.password(user)

    def _start_postgres(self) -> None:
        name = f"wio_test_{uuid.uuid4().hex[:10]}"
        server_url = _env("WIO_TEST_DATABASE_URL")
        if not server_url:
            self._postgres = start_postgres(
                self.folder,
                pick_free_port(),
                generate_password(),
                database=None,
                server_options=FAST_POSTGRES,
            )
            server_url = self._postgres.url("postgres")
        # A database of its own, so this run never sees another run's tables.
        ensure_database(server_url, name)
        self._database = (server_url, name)
        self.database_url = with_database(server_url, name)

    @property
    def s3(self) -> S3Node:
        """The first S3 node (endpoint, region, access_key, secret_key, role_arn)."""
        return self._node("s3", "WIO_TEST_S3")

    def second_s3(self) -> S3Node:
        """A second, fully separate S3 node, started on first call."""
        return self._node("s3_second", "WIO_TEST_S3_SECOND")

    def _node(self, name: str, env_prefix: str) -> S3Node:
        with self._lock:
            if name not in self._s3:
                external = _s3_from_env(env_prefix)
                if external is not None:
                    self._s3[name] = S3Node(external)
                else:
                    server = start_seaweedfs(self.folder / name, WeedPorts.free(), name=name)
                    self._s3[name] = S3Node(server.access, server)
            return self._s3[name]

    def stop(self) -> None:
        # Everything here is thrown away next, so nothing is worth a long clean shutdown.
        errors: list[BaseException] = []
        for node in reversed(list(self._s3.values())):
            try:
                node.close(timeout=STOP_SECONDS)
            except Exception as exc:
                errors.append(exc)
        if self._nats is not None:
            self._nats.stop(STOP_SECONDS)
        if self._database is not None and self._postgres is None:
            # On a server we did not start, remove the database we made there.
            try:
                drop_database(*self._database)
            except Exception as exc:
                errors.append(exc)
        if self._postgres is not None:
            self._postgres.stop()  # killing it would leave its backends behind
            if not self._postgres.root.is_relative_to(self.folder):
                shutil.rmtree(self._postgres.root, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        if errors:
            raise errors[0]


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraUnderTest]:
    """PostgreSQL (a fresh database), NATS JetStream and, on first use of `.s3`, SeaweedFS."""
    folder = Path(tempfile.mkdtemp(prefix="wio-test-"))
    # PostgreSQL runs as `wio-postgres` under root and must be able to pass through this folder.
    folder.chmod(0o711)
    under_test = InfraUnderTest(folder)
    try:
        under_test.start()
        yield under_test
    finally:
        under_test.stop()


@pytest.fixture(scope="session")
def second_s3(infra: InfraUnderTest) -> S3Node:
    """A second, fully separate SeaweedFS S3/STS node (own ports, data and keys); `.stop()` and
    `.start()` take it down and bring it back."""
    return infra.second_s3()
